"""The throttle part's runs: how the server's throttle is set (``CONFIGS``), what fails
(``CASES``, ``KINDS``), and :func:`run_throttle`, every case on a fresh ``idmint serve``."""

from __future__ import annotations

import json
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast

from bench.http.deployment import Deployment
from bench.http.load import measure, wrk
from bench.http.processes import IDMINT_SERVE, PYTHON, Server, request, serving
from bench.http.settings import Settings
from bench.http.throttle.report import HUGE_PER_SECOND, HUGE_PER_WINDOW, KINDS, add_ratios, notes_on

Progress = Callable[[str], None]
Row = dict[str, Any]

REDIS_URL = "redis://127.0.0.1:6379/15"
REDIS_KEYS = "LIMITS:LIMITER/*/1000000000/*"  # (c)'s counters, deleted before and after
# (f)'s: one per request, left to expire (5 minutes); counted through the API keys'.
REDIS_NEW_KEYS = "LIMITS:LIMITER/api_key/pk_bench*"
THROTTLE_ENV = (
    "IDMINT_THROTTLE_PER_ADDRESS",
    "IDMINT_THROTTLE_PER_API_KEY",
    "IDMINT_REDIS_URL",
    "IDMINT_TRUSTED_PROXIES",
)
# idmint serve, with the throttle's counting patched out (one worker: uvicorn runs the app in
# this process, so the patch holds).
NOT_COUNTED = [
    PYTHON,
    "-c",
    "import sys; from idmint.service.throttle import Throttle; "
    "Throttle.failed = lambda self, address, api_key: []; "
    "sys.argv[0] = 'idmint'; from idmint.cli import main; main()",
    "serve",
]


@dataclass(frozen=True)
class Config:
    """How the server's throttle is set; None: the default."""

    label: str
    per_address: str | None = None
    per_api_key: str | None = None
    redis: bool = False
    counting: bool = True


CONFIGS: dict[str, Config] = {
    "0": Config("(0) not counted (Throttle.failed patched out)", counting=False),
    "a": Config(f"(a) limits {HUGE_PER_SECOND}", HUGE_PER_SECOND, HUGE_PER_SECOND),
    "b": Config(f"(b) limits {HUGE_PER_WINDOW}", HUGE_PER_WINDOW, HUGE_PER_WINDOW),
    "c": Config("(c) = (b), counters in Redis", HUGE_PER_WINDOW, HUGE_PER_WINDOW, redis=True),
    "d": Config("(d) defaults, one address: blocked"),
    "e": Config("(e) defaults, never blocked"),
    "f": Config("(f) = (e), counters in Redis", redis=True),
    "defaults": Config("throttle at its defaults"),
}


@dataclass(frozen=True)
class Case:
    config: str  # a key of CONFIGS
    kind: str  # what fails (BENCH_FAIL of mint_fail.lua), or "valid" (mint_seed)


CASES = (
    *(Case(c, k) for c in "0a" for k in ("new-token", "same-token", "new-key-address")),
    *(Case(c, k) for c in "bc" for k in ("new-token", "same-token")),
    Case("d", "new-token"),
    Case("e", "new-key-address"),
    Case("f", "new-key-address"),
    Case("defaults", "valid"),
    Case("b", "valid"),
)


def _env(deployment: Deployment, config: Config, kind: str) -> dict[str, str]:
    env = {k: v for k, v in deployment.env.items() if k not in THROTTLE_ENV}
    if config.per_address is not None:
        env["IDMINT_THROTTLE_PER_ADDRESS"] = config.per_address
    if config.per_api_key is not None:
        env["IDMINT_THROTTLE_PER_API_KEY"] = config.per_api_key
    if config.redis:
        env["IDMINT_REDIS_URL"] = REDIS_URL
    if kind == "new-key-address":
        env["IDMINT_TRUSTED_PROXIES"] = '["127.0.0.1"]'
    return env


def _check(server: Server, deployment: Deployment, kind: str) -> tuple[int, str]:
    """One failing request as the script sends it: its status and error code."""
    api_key, headers = deployment.target.api_key, {"Content-Type": "application/json"}
    if kind == "new-key-address":
        api_key = f"pk_{secrets.token_urlsafe(18)}"
        headers["X-Forwarded-For"] = "10.255.255.254"
    user = {"organizationId": "org-0", "isAdmin": False, "email": "user-0@example.com"}
    data = {"apiKey": api_key, "authToken": f"sk_{secrets.token_urlsafe(32)}", "userId": "user-0"}
    body = json.dumps({"data": {**data, "userProperties": user}}).encode()
    status, answer = request(server.port, "POST", "/v1/auth/token/get", body, headers)
    try:
        code = str(json.loads(answer)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        code = ""
    wanted = "api_key_not_found" if kind == "new-key-address" else "auth_token_not_found"
    if code != wanted:
        raise RuntimeError(f"{server.name}: a wrong credential answered {status} {answer[:300]!r}")
    return status, code


class _Redis:
    """Database 15 of the Redis on 127.0.0.1:6379: the counters of (c) deleted, Redis's CPU
    time and calls read.  The test suite shares database 15 (tests/service/test_throttle.py),
    so only (c)'s own keys are deleted, not the database: their limit (1e9) names them."""

    def __init__(self) -> None:
        import redis

        self.client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        self.client.ping()

    def _ours(self, match: str = REDIS_KEYS) -> list[Any]:
        return list(self.client.scan_iter(match=match, count=1000))

    def flush(self) -> None:
        keys = self._ours()
        for start in range(0, len(keys), 500):
            self.client.delete(*keys[start : start + 500])

    def cpu_seconds(self) -> float:
        info = cast("dict[str, Any]", self.client.info("cpu"))
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def scripts(self) -> int:
        """Lua scripts run so far (each a round trip of the throttle's)."""
        stats = cast("dict[str, Any]", self.client.info("commandstats"))
        return sum(
            int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval")
        )

    def keys(self, match: str = REDIS_KEYS) -> int:
        return len(self._ours(match))


def _redis() -> tuple[_Redis | None, str | None]:
    try:
        return _Redis(), None
    except Exception as exc:  # any failure: no Redis runs, and say why
        return None, f"{type(exc).__name__}: {exc}"


def _failures(
    server: Server,
    deployment: Deployment,
    case: Case,
    settings: Settings,
    redis: _Redis | None,
) -> Row:
    status, code = _check(server, deployment, case.kind)
    expect = 429 if case.config == "d" else status

    def env() -> dict[str, str]:
        return {"BENCH_FAIL": case.kind, "BENCH_START": str(random.randrange(10**9))}

    if settings.warmup:  # (d): the warm-up's first 20 failures start the block
        wrk(
            server,
            "mint_fail",
            deployment.target,
            duration=settings.warmup,
            connections=settings.connections,
            extra_env=env(),
        )
    redis_cpu, scripts = (redis.cpu_seconds(), redis.scripts()) if redis else (0.0, 0)
    result = wrk(
        server,
        "mint_fail",
        deployment.target,
        duration=settings.duration,
        connections=settings.connections,
        extra_env=env(),
        expect=expect,
    )
    result["check"] = {"status": status, "code": code}
    if redis is not None:
        requests = max(1, result["requests"])
        result["redis_cpu_us"] = round((redis.cpu_seconds() - redis_cpu) / requests * 1e6, 1)
        result["redis_scripts_per_request"] = round((redis.scripts() - scripts) / requests, 2)
        spread = case.kind == "new-key-address"
        result["redis_keys"] = redis.keys(REDIS_NEW_KEYS if spread else REDIS_KEYS)
    return result


def run_throttle(
    deployment: Deployment, workdir: Path, settings: Settings, progress: Progress
) -> dict[str, Any]:
    """Every case of ``CASES`` on a fresh server; the part ``throttle`` of the section."""
    started = time.perf_counter()
    settings = replace(settings, duration=min(settings.duration, settings.throttle_duration))
    notes: list[str] = []
    redis, why = _redis()
    if redis is None:
        notes.append(f"(c) skipped: Redis at {REDIS_URL} not usable ({why}).")
    ready = f"/w/{deployment.target.api_key}/.well-known/jwks.json"
    rows: list[Row] = []
    try:
        for case in CASES:
            config = CONFIGS[case.config]
            if config.redis and redis is None:
                continue
            if redis is not None:
                redis.flush()
            name = f"idmint throttle {case.config} {case.kind}"
            with serving(
                name,
                IDMINT_SERVE if config.counting else NOT_COUNTED,
                env=_env(deployment, config, case.kind),
                workers=1,
                workdir=workdir,
                ready_path=ready,
                progress=progress,
            ) as server:
                if case.kind == "valid":
                    result = measure(server, "mint_seed", deployment.target, settings, progress)
                else:
                    result = _failures(
                        server, deployment, case, settings, redis if config.redis else None
                    )
                result["memory"] = server.memory()
                log = server.output()
            if "unreachable" in log or "Traceback" in log:
                result["server_log"] = log[-1500:]
                notes.append(f"WARNING: {name}: the server logged a failure (see the JSON).")
            rows.append(_row(case, config, result))
            progress(
                f"http: throttle {config.label}, {KINDS[case.kind]}: "
                f"{result['ops_per_s']:,.0f}/s, {rows[-1]['cpu_us']} µs CPU/request, "
                f"answers {result.get('statuses', '200')}"
            )
    finally:
        if redis is not None:
            redis.flush()
    add_ratios(rows)
    return {
        "configs": {key: asdict(config) for key, config in CONFIGS.items()},
        "redis_url": REDIS_URL,
        "duration": settings.duration,
        "rows": rows,
        "notes": notes + notes_on(rows),
        "duration_s": round(time.perf_counter() - started, 1),
    }


def _row(case: Case, config: Config, result: dict[str, Any]) -> Row:
    per_cpu = result.get("ops_per_server_cpu_s")
    return {
        "config": case.config,
        "label": config.label,
        "kind": case.kind,
        "per_address": config.per_address or "default",
        "per_api_key": config.per_api_key or "default",
        "redis": config.redis,
        "counting": config.counting,
        **result,
        "cpu_us": round(1e6 / per_cpu, 1) if per_cpu else None,
    }
