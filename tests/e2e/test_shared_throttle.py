"""The throttle across instances: two real ``idmint serve`` on one PostgreSQL store, sharing
their counters in Redis; and one whose Redis dies under it, which goes on counting in memory
and says so in its log.  The attacker's address comes through ``X-Forwarded-For`` from a
trusted proxy (loopback), so each test counts under addresses of its own."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import redis

from conftest import free_port, idmint_init, idmint_serve, postgres_schema

pytestmark = pytest.mark.postgres

LIMIT = 10


def _address() -> str:
    number = uuid.uuid4().int
    return f"198.18.{number % 250}.{(number >> 8) % 250 + 1}"


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("IDMINT_")}
    env.update(
        IDMINT_DATA_DIR=str(data_dir),
        IDMINT_TRUSTED_PROXIES='["127.0.0.1"]',
        IDMINT_THROTTLE_PER_ADDRESS=f"{LIMIT}/5 minutes",
        IDMINT_THROTTLE_PER_API_KEY="100000/5 minutes",
        **extra,
    )
    return env


def _mint(base_url: str, api_key: str, secret: str, address: str) -> httpx.Response:
    body = {
        "data": {
            "apiKey": api_key,
            "authToken": secret,
            "userId": "u",
            "userProperties": {"organizationId": "o"},
        }
    }
    return httpx.post(
        f"{base_url}/v1/auth/token/get",
        json=body,
        headers={"X-Forwarded-For": address},
        timeout=10,
    )


def _guess(base_url: str, api_key: str, address: str) -> httpx.Response:
    return _mint(base_url, api_key, f"sk_{uuid.uuid4().hex}", address)


def test_two_instances_on_postgresql_share_the_limit_through_redis(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    redis.Redis(port=6379, socket_connect_timeout=1).ping()  # CI starts it (.ci/run)
    data_dir = tmp_path_factory.mktemp("shared-throttle")
    with ExitStack() as stack:
        database = stack.enter_context(postgres_schema("idmint_throttle"))
        env = _env(
            data_dir,
            IDMINT_DATABASE_URL=database,
            IDMINT_REDIS_URL="redis://127.0.0.1:6379/14",
        )
        created = idmint_init(env)
        api_key, secret = created["apiKey"], created["authToken"]
        first, second = (
            stack.enter_context(
                idmint_serve(
                    {**env, "IDMINT_PUBLIC_URL": "http://idmint.test"},
                    free_port(),
                    data_dir / f"server-{n}.log",
                )
            )
            for n in (1, 2)
        )
        attacker = _address()
        statuses = [
            _guess(base_url, api_key, attacker).status_code
            for _ in range(3 * LIMIT)
            for base_url in (first, second)
        ]
        checked = [s for s in statuses if s != 429]
        # Guesses alternate over both instances; the shared count stops them at the limit
        # (an instance learns of the block at its own next failure: at most one more).
        assert set(checked) == {400}, statuses
        assert LIMIT <= len(checked) <= LIMIT + 1, statuses
        assert statuses[-4:] == [429] * 4
        # The backend, at another address, mints on both; the attacker's address is blocked
        # on both, even with the right secret.
        backend = _address()
        assert _mint(first, api_key, secret, backend).status_code == 200
        assert _mint(second, api_key, secret, backend).status_code == 200
        refused = _mint(second, api_key, secret, attacker)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=port, socket_connect_timeout=0.2).ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield process, port
    finally:
        process.kill()
        process.wait(timeout=10)


def test_a_dead_redis_falls_back_to_memory_and_the_log_says_so(
    tmp_path: Path, own_redis: tuple[subprocess.Popen[bytes], int]
) -> None:
    process, port = own_redis
    env = _env(tmp_path / "data", IDMINT_REDIS_URL=f"redis://127.0.0.1:{port}/0")
    created = idmint_init(env)
    api_key = created["apiKey"]
    log = tmp_path / "server.log"
    with idmint_serve(env, free_port(), log) as base_url:
        before = _address()
        assert _guess(base_url, api_key, before).status_code == 400
        assert redis.Redis(port=port).dbsize() > 0  # the count went to Redis
        process.kill()
        process.wait(timeout=10)
        attacker = _address()
        statuses = [_guess(base_url, api_key, attacker).status_code for _ in range(2 * LIMIT)]
        # Never open: the limit holds, counted in memory.
        assert statuses[:LIMIT] == [400] * LIMIT, statuses
        assert statuses[LIMIT:] == [429] * LIMIT, statuses
        # And a request that succeeds does not wait for Redis.
        started = time.monotonic()
        assert _mint(base_url, api_key, created["authToken"], _address()).status_code == 200
        assert time.monotonic() - started < 2
    text = log.read_text()
    assert text.count("Redis at IDMINT_REDIS_URL is unreachable") == 1, text[-3000:]
