"""The HTTP tier (section ``http``): idmint on uvicorn under ``wrk``, beside baselines measured
in the same run with the same worker count.  ``bench/README.md`` says what runs and how.

- ``settings``: how long and how much (the full run, ``--quick``);
- ``processes``: the servers, their pinning, and the CPU and memory they use;
- ``load``: wrk runs and their figures, and runs paced to half of the peak;
- ``deployment``: the stores idmint serves, seeded, and the in-process timings;
- ``scenarios``: which runs happen, in order, and the section they make;
- ``goals``: the goals, as data, and the function that evaluates them;
- ``report``: the ratios to the baselines, the table, the lines and the notes;
- ``throttle``: the throttle's cost on the failure path, and valid mints with it at its
  defaults (issue 13); ``python -m bench.http.throttle`` runs it alone.
"""

from bench.http.report import lines, table
from bench.http.scenarios import run
from bench.http.settings import QUICK, Settings

__all__ = ["QUICK", "Settings", "lines", "run", "table"]
