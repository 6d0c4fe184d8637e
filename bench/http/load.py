"""The load: ``wrk`` runs against a server, their figures parsed, and paced half-peak runs.

Scenarios (``bench/http/lua/*.lua``, one wrk thread, fixed concurrency, fixed duration):

- ``mint_seed``: ``POST /v1/auth/token/get``, the userId cycling over the seeded users (each
  mint a real upsert);
- ``mint_outseta``: ``POST /api/v1/tokens`` with ``Authorization: Outseta KEY:SECRET`` and the
  email of an existing user;
- ``identify``: ``POST /v1/identify`` with tokens minted beforehand for those users;
- ``jwks``: ``GET /w/{apiKey}/.well-known/jwks.json``;
- ``mint_fail``: ``POST /v1/auth/token/get`` with credentials that fail (the throttle's
  failure path, ``bench.http.throttle``), its answers counted by status.

``report.lua`` (loaded by every script) prints ``BENCH_RESULT {json}`` from wrk's ``done()``.
p99 at half of peak: wrk has no rate limit, so each of the connections waits a random think
time, uniform around a mean that is calibrated so the total rate lands near half of the
measured peak; latency excludes the wait.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.http.processes import Server, loadavg, proc_stat, request, taskset
from bench.http.settings import Settings

LUA = Path(__file__).resolve().parent / "lua"


@dataclass
class Target:
    """What the scripts need to talk to one deployment (an idmint store, or the baselines)."""

    api_key: str
    auth_token: str
    tokens_file: Path
    users: int

    def env(self, users: int | None = None) -> dict[str, str]:
        return {
            "BENCH_API_KEY": self.api_key,
            "BENCH_AUTH_TOKEN": self.auth_token,
            "BENCH_TOKENS_FILE": str(self.tokens_file),
            "BENCH_USERS": str(self.users if users is None else users),
        }


SCRIPTS = {
    "mint_seed": "mint_seed.lua",
    "mint_outseta": "mint_outseta.lua",
    "identify": "identify.lua",
    "jwks": "jwks.lua",
    "mint_fail": "mint_fail.lua",
}


def _path(scenario: str, target: Target) -> str:
    if scenario == "jwks":
        return f"/w/{target.api_key}/.well-known/jwks.json"
    return "/"  # the script's request() names the path


def check_scenario(server: Server, scenario: str, target: Target) -> None:
    """One request as the script sends it for user 0; the answer must be a 200 of the shape."""
    first = target.tokens_file.read_text().splitlines()[0].split("\t")
    headers = {"Content-Type": "application/json"}
    body: dict[str, Any]
    if scenario == "mint_seed":
        body = {
            "data": {
                "apiKey": target.api_key,
                "authToken": target.auth_token,
                "userId": "user-0",
                "userProperties": {
                    "organizationId": "org-0",
                    "isAdmin": False,
                    "email": "user-0@example.com",
                },
            }
        }
        path, expected = "/v1/auth/token/get", "result"
    elif scenario == "mint_outseta":
        body = {"username": "user-0@example.com"}
        headers["Authorization"] = f"Outseta {target.api_key}:{target.auth_token}"
        path, expected = "/api/v1/tokens", "access_token"
    elif scenario == "identify":
        user = {"userId": first[0], "organizationId": first[1], "email": first[2]}
        body = {"apiKey": target.api_key, "authToken": first[3], "user": user}
        path, expected = "/v1/identify", "session"
    else:
        status, answer = request(server.port, "GET", _path(scenario, target))
        if status != 200 or b'"keys"' not in answer:
            raise RuntimeError(f"{server.name} {scenario}: {status} {answer[:300]!r}")
        return
    status, answer = request(server.port, "POST", path, json.dumps(body).encode(), headers)
    if status != 200 or expected not in json.loads(answer):
        raise RuntimeError(f"{server.name} {scenario}: {status} {answer[:300]!r}")


def wrk(
    server: Server,
    scenario: str,
    target: Target,
    *,
    duration: int,
    connections: int,
    users: int | None = None,
    delay_ms: float | None = None,
    extra_env: dict[str, str] | None = None,
    expect: int | None = None,
) -> dict[str, Any]:
    """One wrk run: throughput, latency percentiles, errors, and who used the CPU meanwhile.

    ``expect``: the status every answer must have (the answers are counted by status); None:
    every answer must be a 2xx, which wrk checks itself."""
    cmd = [
        *taskset(server.pinning.load),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA / SCRIPTS[scenario]),
        server.url + _path(scenario, target),
    ]
    env = {**os.environ, "BENCH_LUA_DIR": str(LUA), **target.env(users), **(extra_env or {})}
    if delay_ms is not None:
        env["BENCH_DELAY_MS"] = f"{delay_ms:.3f}"
    if expect is not None:
        env["BENCH_STATUSES"] = "1"
    load_before = loadavg()[0]
    server_cpu = server.cpu_seconds()
    stat = proc_stat()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own fixed command line
        cmd, env=env, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    wall = time.perf_counter() - started
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    stat_after = proc_stat()
    server_cpu = server.cpu_seconds() - server_cpu
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    wrk_cpu = (children_after.ru_utime - children.ru_utime) + (
        children_after.ru_stime - children.ru_stime
    )
    busy = stat_after["cpu"][0] - stat["cpu"][0]
    seconds = raw["duration_us"] / 1e6
    latency = raw["latency_us"]
    errors = {k: v for k, v in raw["errors"].items() if v}
    result: dict[str, Any] = {
        "scenario": scenario,
        "ops_per_s": round(raw["requests"] / seconds, 1),
        "requests": raw["requests"],
        "duration_s": round(seconds, 2),
        "connections": connections,
        "p50_ms": round(latency["p50"] / 1000, 3),
        "p90_ms": round(latency["p90"] / 1000, 3),
        "p99_ms": round(latency["p99"] / 1000, 3),
        "p999_ms": round(latency["p999"] / 1000, 3),
        "mean_ms": round(latency["mean"] / 1000, 3),
        "max_ms": round(latency["max"] / 1000, 3),
        "errors": errors,
        # CPU cores' worth used during the run: the server's processes, wrk, and the rest of
        # the machine (other processes and hypervisor steal).
        "server_cpu": round(server_cpu / wall, 2),
        # Requests per CPU-second the server got: less sensitive to other processes taking
        # the server's CPU than ops/s (but flatters a server that waits on its database).
        "ops_per_server_cpu_s": round(raw["requests"] / server_cpu, 1) if server_cpu else None,
        "wrk_cpu": round(wrk_cpu / wall, 2),
        "other_cpu": round(max(0.0, busy - server_cpu - wrk_cpu) / wall, 2),
        "loadavg_1m": load_before,
    }
    if delay_ms is not None:
        result["think_ms"] = round(delay_ms, 2)
    if expect is None:
        if errors:
            result["invalid"] = f"wrk counted errors: {errors}"
        return result
    # Answers of another status than expected, and errors other than wrk's count of them.
    result["statuses"] = statuses = raw.get("statuses", {})
    wrong = {
        **{k: v for k, v in errors.items() if k != "status"},
        **{k: v for k, v in statuses.items() if k != str(expect)},
    }
    if wrong or not statuses:
        result["invalid"] = f"expected only {expect}; got {statuses}, errors {errors}"
    return result


def measure(
    server: Server,
    scenario: str,
    target: Target,
    settings: Settings,
    progress: Callable[[str], None],
    *,
    users: int | None = None,
    warmup: bool = True,
) -> dict[str, Any]:
    """Check the scenario with one request, warm up (the first scenario on a fresh server: the
    check already filled the caches a later scenario needs), then measure."""
    check_scenario(server, scenario, target)
    if warmup and settings.warmup:
        wrk(
            server,
            scenario,
            target,
            duration=settings.warmup,
            connections=settings.connections,
            users=users,
        )
    result = wrk(
        server,
        scenario,
        target,
        duration=settings.duration,
        connections=settings.connections,
        users=users,
    )
    progress(
        f"http: {server.name} {scenario}: {result['ops_per_s']:,.0f}/s, "
        f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms"
    )
    return result


def at_half_peak(
    server: Server,
    scenario: str,
    target: Target,
    peak: float,
    settings: Settings,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """The same load paced to about half of ``peak``: each connection thinks between requests.

    Rate ~ connections / (think + time per request); the think time starts from the peak's
    figures and is corrected from each run's measured rate, at most twice.
    """
    connections = settings.connections
    goal = peak / 2
    overhead_ms = 1.0
    result: dict[str, Any] = {}
    for _attempt in range(3):
        think = max(1.0, connections * 1000 / goal - overhead_ms)
        result = wrk(
            server,
            scenario,
            target,
            duration=settings.duration,
            connections=connections,
            delay_ms=think,
        )
        fraction = result["ops_per_s"] / peak
        result["fraction_of_peak"] = round(fraction, 3)
        if 0.40 <= fraction <= 0.60 or result["ops_per_s"] <= 0:
            break
        overhead_ms = connections * 1000 / result["ops_per_s"] - think
    progress(
        f"http: {server.name} {scenario} at {result['fraction_of_peak']:.0%} of peak: "
        f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms"
    )
    return result
