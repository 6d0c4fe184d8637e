"""The HTTP tier (section ``http``): idmint on uvicorn under ``wrk``, beside baselines measured
in the same run with the same worker count.  See ``bench/README.md``."""

from bench.http.scenarios import QUICK, Settings, lines, run, table

__all__ = ["QUICK", "Settings", "lines", "run", "table"]
