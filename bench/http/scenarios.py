"""Which runs happen, in order: the baselines, idmint on each store, the memory soak, and the
section that puts them together.

Baselines (``bench/http/baselines/``), on uvicorn with ``--no-access-log`` and the same
workers: (a) ``raw_json``: raw ASGI, reads the body, answers fixed mint-sized JSON (the HTTP
ceiling); (b) ``raw_mint``: raw ASGI, orjson, SHA-256 + ``hmac.compare_digest`` auth check,
PyJWT ES256 sign, no storage (the crypto + HTTP ceiling of a mint, both shapes); (b')
``raw_verify``: the same for identify (PyJWT decode with audience/issuer checks, user/org/email
compared); (c) ``fastapi_mint``: FastAPI + pydantic body + PyJWT, what a user would write by
hand.

idmint runs as shipped, ``idmint serve``, on SQLite and on PostgreSQL, with the full hot path
(credential check, user upsert, audit, revocation check against a non-empty denylist) and the
default caches.  A variant started with ``uvicorn --factory idmint.api:create_app_from_env
--no-access-log`` runs the same app through uvicorn directly.  Each figure is also given as a
ratio to (a), (b), (c) and, for identify, (b'), from the same run.

Other measurements: p99 at half of peak throughput; throughput with ``scale_users`` users in
the store against the seeded ``users``; two workers against one; resident memory of the
workers (VmRSS, VmHWM) before and after a soak of ``soak`` mints (every mint a new user); the
service's mint and verify called in-process; then, on SQLite, the throttle's part
(:mod:`bench.http.throttle`).  The servers get no ``IDMINT_*`` setting of the shell: the
throttle is on at its defaults everywhere but in the throttle's own rows.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.http.deployment import (
    PG_ADMIN,
    Deployment,
    add_users,
    baseline_config,
    drop,
    postgres_reachable,
    prepare,
)
from bench.http.goals import RSS_TOLERANCE, find, goals
from bench.http.load import Target, at_half_peak, measure, wrk
from bench.http.processes import (
    IDMINT_NO_ACCESS_LOG,
    IDMINT_SERVE,
    Server,
    baseline_argv,
    loadavg,
    plan_pinning,
    serving,
    wrk_version,
)
from bench.http.report import add_ratios, run_notes
from bench.http.settings import Settings
from bench.http.throttle import run_throttle, valid_goal

Progress = Callable[[str], None]
Row = dict[str, Any]


@dataclass(frozen=True)
class Baseline:
    label: str
    module: str  # in bench/http/baselines/
    scenarios: tuple[str, ...]  # at one worker, in this order
    paced: str | None = None  # also at half of its peak: the ceiling of that scenario's p99


BASELINES: dict[str, Baseline] = {
    "a": Baseline("(a) raw ASGI, fixed JSON", "raw_json", ("mint_seed",)),
    "b": Baseline("(b) raw ASGI mint", "raw_mint", ("mint_seed", "mint_outseta"), "mint_seed"),
    "b'": Baseline("(b') raw ASGI verify", "raw_verify", ("identify",), "identify"),
    "c": Baseline("(c) FastAPI + pydantic mint", "fastapi_mint", ("mint_seed", "mint_outseta")),
}

# idmint's runs on each store, by server.
ONE_WORKER = ("mint_seed", "mint_outseta", "identify", "jwks")
PACED = ("mint_seed", "identify")  # at half of the one-worker peak
TWO_WORKERS = ("mint_seed", "identify")
NO_ACCESS_LOG = ("mint_seed", "identify")  # SQLite only
SCALE = ("mint_seed", "mint_outseta")  # with scale_users users in the store; then the soak


def run_baselines(
    workdir: Path,
    sqlite: Deployment,
    settings: Settings,
    progress: Progress,
    *,
    only: tuple[str, ...] = tuple(BASELINES),
    workers: int = 1,
    scenarios: tuple[str, ...] | None = None,
    paced: bool = True,
) -> list[Row]:
    """The baselines named in ``only``, each on its scenarios (or ``scenarios``)."""
    config = baseline_config(workdir, sqlite, settings)
    env = {**os.environ, "BENCH_BASELINE_CONFIG": str(config)}
    rows = []
    for name in only:
        baseline = BASELINES[name]
        label = baseline.label + (f", {workers} workers" if workers > 1 else "")
        with serving(
            label,
            baseline_argv(baseline.module),
            env=env,
            workers=workers,
            workdir=workdir,
            ready_path="/",
            progress=progress,
        ) as server:
            for index, scenario in enumerate(scenarios or baseline.scenarios):
                if name == "a":  # any request answers the fixed JSON: no shape to check
                    result = wrk(
                        server,
                        scenario,
                        sqlite.target,
                        duration=settings.warmup,
                        connections=settings.connections,
                    )
                    result = wrk(
                        server,
                        scenario,
                        sqlite.target,
                        duration=settings.duration,
                        connections=settings.connections,
                    )
                    progress(f"http: {label}: {result['ops_per_s']:,.0f}/s")
                else:
                    result = measure(
                        server, scenario, sqlite.target, settings, progress, warmup=index == 0
                    )
                row = {
                    "kind": "baseline",
                    "baseline": name,
                    "label": label,
                    "backend": None,
                    "workers": workers,
                    "users": None,
                    "pinning": server.pinning.describe(),
                    "memory": server.memory(),
                    **result,
                }
                rows.append(row)
                if paced and settings.paced and workers == 1 and scenario == baseline.paced:
                    # The ceiling's own p99 at half its peak: what the machine and the load
                    # generator impose before any work is done; the p99 goals are ratios to it.
                    half = at_half_peak(
                        server, scenario, sqlite.target, result["ops_per_s"], settings, progress
                    )
                    rows.append({**row, **half, "paced": True})
    return rows


def _row(
    deployment: Deployment,
    server: Server,
    result: dict[str, Any],
    *,
    variant: str = "idmint serve",
    users: int | None = None,
    paced: bool = False,
) -> Row:
    return {
        "kind": "idmint",
        "label": variant,
        "backend": deployment.backend,
        "workers": server.workers,
        "users": users or deployment.target.users,
        "paced": paced,
        "pinning": server.pinning.describe(),
        **result,
    }


def run_idmint(
    deployment: Deployment, workdir: Path, settings: Settings, progress: Progress
) -> tuple[list[Row], dict[str, Any]]:
    """All the idmint runs on one store; returns the rows and the memory figures."""
    env, target = deployment.env, deployment.target
    backend = deployment.backend
    ready = f"/w/{target.api_key}/.well-known/jwks.json"
    rows: list[Row] = []
    memory: dict[str, Any] = {}

    def serve(
        name: str, argv: list[str], workers: int = 1
    ) -> contextlib.AbstractContextManager[Server]:
        return serving(
            f"idmint {backend} {name}",
            argv,
            env=env,
            workers=workers,
            workdir=workdir,
            ready_path=ready,
            progress=progress,
        )

    def runs(server: Server, scenarios: tuple[str, ...], users: int | None = None) -> list[Row]:
        """Each scenario at full load; the first one on the fresh server after a warm-up."""
        return [
            measure(server, scenario, target, settings, progress, users=users, warmup=index == 0)
            for index, scenario in enumerate(scenarios)
        ]

    with serve("1 worker", IDMINT_SERVE) as server:
        memory["after_start"] = server.memory()
        peaks = {}
        for result in runs(server, ONE_WORKER):
            peaks[result["scenario"]] = result["ops_per_s"]
            rows.append(_row(deployment, server, result))
        if settings.paced:
            for scenario in PACED:
                result = at_half_peak(server, scenario, target, peaks[scenario], settings, progress)
                rows.append(_row(deployment, server, result, paced=True))
        memory["after_runs"] = server.memory()

    if settings.two_workers:
        with serve("2 workers", IDMINT_SERVE, workers=2) as server:
            rows += [_row(deployment, server, result) for result in runs(server, TWO_WORKERS)]
            memory["two_workers"] = server.memory()

    if settings.access_log_variant and backend == "sqlite":
        with serve("no access log", IDMINT_NO_ACCESS_LOG) as server:
            variant = "uvicorn --no-access-log"
            rows += [
                _row(deployment, server, result, variant=variant)
                for result in runs(server, NO_ACCESS_LOG)
            ]

    if settings.scale_users > target.users:
        seconds = add_users(deployment, settings.scale_users)
        progress(f"http: {backend}: {settings.scale_users:,} users in the store ({seconds:.1f} s)")
        with serve(f"{settings.scale_users} users", IDMINT_SERVE) as server:
            results = runs(server, SCALE, users=settings.scale_users)
            rows += [_row(deployment, server, r, users=settings.scale_users) for r in results]
            if settings.soak and backend == "sqlite":
                rate = next(r["ops_per_s"] for r in results if r["scenario"] == "mint_seed")
                memory["soak"] = soak(server, target, settings, rate, progress)
    return rows, memory


def soak(
    server: Server,
    target: Target,
    settings: Settings,
    rate: float,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """``settings.soak`` mints, each for a new user, in chunks, sampling the worker's memory
    after each chunk.  Flat means: the last sample within ±10 % of the first (taken after the
    first chunk, so start-up growth is not counted as a leak)."""
    samples: list[dict[str, Any]] = [{"mints": 0, "memory": server.memory()}]
    done = 0
    chunk = max(1, settings.soak // max(1, settings.soak_chunks))
    started = time.perf_counter()
    while done < settings.soak:
        seconds = max(1, round(min(chunk, settings.soak - done) / max(rate, 1.0)))
        result = wrk(
            server,
            "mint_seed",
            target,
            duration=seconds,
            connections=settings.connections,
            users=0,
            extra_env={"BENCH_PREFIX": "soak-", "BENCH_START": str(done)},
        )
        if result.get("invalid"):
            raise RuntimeError(f"soak: {result['invalid']}")
        done += result["requests"]
        samples.append({"mints": done, "memory": server.memory(), "ops_per_s": result["ops_per_s"]})
    first = samples[1]["memory"] if len(samples) > 2 else samples[0]["memory"]
    last = samples[-1]["memory"]
    ratios = [
        round(b.get("rss_kib", 0) / a["rss_kib"], 3)
        for a, b in zip(first, last, strict=False)
        if a.get("rss_kib")
    ]
    progress(f"http: soak: {done:,} mints, RSS ratio last/first {ratios}")
    return {
        "mints": done,
        "seconds": round(time.perf_counter() - started, 1),
        "samples": samples,
        "rss_ratio": ratios,
        "flat": bool(ratios) and all(abs(r - 1) <= RSS_TOLERANCE for r in ratios),
    }


def run(
    settings: Settings | None = None, progress: Progress | None = None, soak: int | None = None
) -> dict[str, Any]:
    """The section ``http``: every run, their ratios, the goals and the notes."""
    settings = settings or Settings()
    if soak is not None:
        settings = Settings(**{**asdict(settings), "soak": soak})
    say = progress or (lambda _text: None)
    if shutil.which("wrk") is None:
        return {
            "name": "http",
            "title": "HTTP: idmint on uvicorn under wrk",
            "skipped": "wrk is not installed (make bench installs it: apt-get install wrk)",
            "notes": ["skipped: wrk is not installed; run `make bench` or apt-get install wrk"],
            "rows": [],
            "goals": [],
            "goals_met": True,
        }
    notes: list[str] = []
    backends = list(settings.backends)
    if "postgresql" in backends:
        why = postgres_reachable()
        if why is not None:
            backends.remove("postgresql")
            notes.append(f"PostgreSQL skipped: {PG_ADMIN} not reachable ({why}).")
    settings = Settings(**{**asdict(settings), "backends": tuple(backends)})
    started = time.perf_counter()
    load_start = loadavg()
    one, two = plan_pinning(1), plan_pinning(2)
    rows: list[Row] = []
    memory: dict[str, Any] = {}
    deployments: list[Deployment] = []
    drift = None
    throttle: dict[str, Any] | None = None
    inherited = sorted(name for name in os.environ if name.startswith("IDMINT_"))
    if inherited:
        notes.append(f"not passed to the servers (idmint runs with its defaults): {inherited}")
    workdir = Path(tempfile.mkdtemp(prefix="idmint-bench-"))
    try:
        for backend in backends:
            say(f"http: preparing {backend} ({settings.users} users, tokens, in-process timings)")
            deployments.append(prepare(backend, workdir, settings, one.server))
        sqlite = deployments[0]
        rows += run_baselines(workdir, sqlite, settings, say)
        if settings.two_workers:
            rows += run_baselines(
                workdir, sqlite, settings, say, only=("b",), workers=2, scenarios=("mint_seed",)
            )
        for deployment in deployments:
            backend_rows, memory[deployment.backend] = run_idmint(
                deployment, workdir, settings, say
            )
            rows += backend_rows
        if settings.throttle and sqlite.backend == "sqlite":
            throttle = run_throttle(sqlite, workdir, settings, say)
        # The same baseline again at the end: how far the machine drifted during the run.
        again = run_baselines(
            workdir, sqlite, settings, say, only=("b",), scenarios=("mint_seed",), paced=False
        )
        first = find(rows, kind="baseline", baseline="b", scenario="mint_seed", workers=1)
        if first and again:
            drift = round(again[0]["ops_per_s"] / first["ops_per_s"] - 1, 3)
            rows += [{**row, "label": row["label"] + ", again at the end"} for row in again]
    finally:
        for deployment in deployments:
            with contextlib.suppress(Exception):
                drop(deployment)
        shutil.rmtree(workdir, ignore_errors=True)
    add_ratios(rows)
    notes += run_notes(rows, settings, drift, one, two)  # also marks the starved rows
    goal_list = goals(rows, memory, settings)
    throttle_goal = valid_goal(throttle) if throttle else None
    if throttle_goal is not None:
        goal_list.append(throttle_goal)
    return {
        "name": "http",
        "title": "HTTP: idmint on uvicorn under wrk (ops/s, ratios to same-run baselines)",
        "settings": asdict(settings),
        "wrk": wrk_version(),
        "pinning": {"one_worker": asdict(one), "two_workers": asdict(two)},
        "loadavg_start": load_start,
        "loadavg_end": loadavg(),
        "duration_s": round(time.perf_counter() - started, 1),
        "baseline_drift": drift,
        "in_process_ops_per_s": {d.backend: d.in_process for d in deployments},
        "rows": rows,
        "memory": memory,
        "throttle": throttle,
        "goals": goal_list,
        "goals_met": all(goal["met"] for goal in goal_list),
        "notes": notes,
    }
