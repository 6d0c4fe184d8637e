"""The throttle's cost (issue 13), a part of the section ``http``: failed credential checks
against ``POST /v1/auth/token/get`` on one worker, and valid mints, with the throttle
configured in several ways, each on a fresh ``idmint serve`` (SQLite) so that no counter or
cache carries over from one run to the next.

What fails (``lua/mint_fail.lua``): ``new token`` (the real API key, a fresh random auth token
on every request: a store read each, the negative cache never hits), ``same token`` (one
wrong auth token repeated: the negative cache answers), ``new key+address`` (a fresh unknown
API key and auth token on every request, each from a new client address in X-Forwarded-For,
with 127.0.0.1 a trusted proxy: the load an attacker spreads so that it is never blocked).

How the throttle is set (``CONFIGS``): (0) at its defaults with ``Throttle.failed`` patched
out in the server (nothing counted: the reference without the throttle); (a) limits of
1e9/second (never blocks; counts into a one-second window); (b) 1e9 per 5 minutes (never
blocks; every failure of the run stays in the moving window); (c) (b) with the counters in
Redis (database 15 on 127.0.0.1:6379; their keys deleted before and after); (d) the defaults
from one address: blocked after 20 failures, every answer measured is a 429; (e) the defaults
with ``new key+address``: never blocked; (f) (e) with the counters in Redis (one key per
address and per API key, left to expire).  Valid mints (``mint_seed``) run with the defaults and
with (b)'s limits: successful requests are never counted, so the two should match.

- ``runs``: the configurations, the cases and :func:`run_throttle`;
- ``report``: the ratios, the goal on valid mints, the notes and the table;
- ``__main__``: ``python -m bench.http.throttle [--quick]``, this part alone.
"""

from bench.http.throttle.report import lines, valid_goal
from bench.http.throttle.runs import CASES, CONFIGS, run_throttle

__all__ = ["CASES", "CONFIGS", "lines", "run_throttle", "valid_goal"]
