"""Acknowledged means stored, against a real ``idmint serve`` under load, on SQLite and on a
PostgreSQL server of the test's own: kill -9 mid-load, a store outage mid-load, and SIGTERM
with the store down then a restart each leave 0 acknowledged users, sessions or audit events
missing, and no write behind an answer of 503.

The load is a few clients minting a fresh user each (with an email) and identifying with the
token; what was answered 200 is noted, then looked for in the store with plain SQL.  A
PostgreSQL outage is its postmaster stopped (fast shutdown); an SQLite outage is another
process holding the database's write lock (as a second writer would), for longer than the
commit timeout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from conftest import (
    IDMINT,
    PrivatePostgres,
    free_port,
    idmint_init,
    launch,
    wait_ready,
)

pytestmark = pytest.mark.slow

COMMIT_TIMEOUT = 1.5  # seconds a request waits for its commit before a 503


@dataclass
class Ledger:
    """What the server acknowledged (200) and what it answered 503, per kind."""

    users: set[str] = field(default_factory=set)
    jtis: set[str] = field(default_factory=set)
    sessions: set[str] = field(default_factory=set)
    unavailable_users: set[str] = field(default_factory=set)
    unavailable: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Deployment:
    """A data directory (and store) with a workspace, and ``idmint serve`` started on it."""

    def __init__(self, tmp: Path, database_url: str | None) -> None:
        self.port = free_port()
        self.data_dir = tmp / "data"
        self.env = {
            **os.environ,
            "IDMINT_DATA_DIR": str(self.data_dir),
            "IDMINT_PUBLIC_URL": f"http://127.0.0.1:{self.port}",
            "IDMINT_COMMIT_TIMEOUT_SECONDS": str(COMMIT_TIMEOUT),
        }
        if database_url is not None:
            self.env["IDMINT_DATABASE_URL"] = database_url
        created = idmint_init(self.env)
        self.api_key, self.secret = created["apiKey"], created["authToken"]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.logs = tmp
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    @property
    def database_url(self) -> str:
        return self.env.get("IDMINT_DATABASE_URL") or f"sqlite:///{self.data_dir / 'idmint.db'}"

    def serve(self) -> None:
        self.runs += 1
        log = self.logs / f"server-{self.runs}.log"
        command = [IDMINT, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = launch(command, self.env, log)
        wait_ready(self.process, log, self.base_url + "/openapi.json")

    def log(self) -> str:
        return (self.logs / f"server-{self.runs}.log").read_text(errors="replace")

    def signal(self, number: int, timeout: float = 60) -> int:
        assert self.process is not None
        self.process.send_signal(number)
        code = self.process.wait(timeout=timeout)
        self.process = None
        return code

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGKILL)


def _client_loop(deployment: Deployment, ledger: Ledger, name: str, stop: threading.Event) -> None:
    with httpx.Client(base_url=deployment.base_url, timeout=30) as client:
        n = 0
        while not stop.is_set():
            n += 1
            user_id = f"{name}-{n}"
            try:
                minted = client.post(
                    "/v1/auth/token/get",
                    json={
                        "data": {
                            "apiKey": deployment.api_key,
                            "authToken": deployment.secret,
                            "userId": user_id,
                            "userProperties": {
                                "organizationId": "org-1",
                                "email": f"{user_id}@example.com",
                                "isAdmin": n % 2 == 0,
                            },
                        }
                    },
                )
            except httpx.TransportError:  # killed or shutting down: not acknowledged
                time.sleep(0.05)
                continue
            if minted.status_code == 503:
                with ledger.lock:
                    ledger.unavailable += 1
                    ledger.unavailable_users.add(user_id)
                continue
            assert minted.status_code == 200, minted.text
            token = minted.json()["result"]["data"]["token"]
            with ledger.lock:
                ledger.users.add(user_id)
                ledger.jtis.add(_jti(token))
            try:
                identified = client.post(
                    "/v1/identify",
                    json={
                        "apiKey": deployment.api_key,
                        "authToken": token,
                        "user": {
                            "userId": user_id,
                            "organizationId": "org-1",
                            "email": f"{user_id}@example.com",
                            "name": name,
                        },
                    },
                )
            except httpx.TransportError:
                continue
            if identified.status_code == 503:
                with ledger.lock:
                    ledger.unavailable += 1
                continue
            assert identified.status_code == 200, identified.text
            with ledger.lock:
                ledger.sessions.add(identified.json()["session"]["id"])


def _jti(token: str) -> str:
    import base64

    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    jti: str = claims["jti"]
    return jti


@contextmanager
def load(deployment: Deployment, ledger: Ledger, clients: int = 4) -> Iterator[None]:
    """``clients`` threads minting and identifying until the block ends."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def run(name: str) -> None:
        try:
            _client_loop(deployment, ledger, name, stop)
        except BaseException as exc:  # reported when the block ends
            failures.append(exc)

    threads = [
        threading.Thread(target=run, args=(f"c{i}-r{deployment.runs}",)) for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    if failures:
        raise failures[0]


def missing(deployment: Deployment, ledger: Ledger) -> dict[str, Any]:
    """What the store lacks of the acknowledged writes, and what it holds of the 503s."""
    engine = create_engine(deployment.database_url)
    try:
        with engine.connect() as connection:
            users = set(connection.execute(text("SELECT user_id FROM users")).scalars())
            sessions = set(connection.execute(text("SELECT id FROM sessions")).scalars())
            details = connection.execute(
                text(
                    "SELECT detail FROM audit_events"
                    " WHERE action = 'token.mint' AND outcome = 'success'"
                )
            ).scalars()
            jtis = {
                (detail if isinstance(detail, dict) else json.loads(detail)).get("jti")
                for detail in details
            }
    finally:
        engine.dispose()
    return {
        "users": len(ledger.users - users),
        "sessions": len(ledger.sessions - sessions),
        "audit events": len(ledger.jtis - jtis),
        "users answered 503": len(ledger.unavailable_users & users),
    }


NONE_MISSING = {"users": 0, "sessions": 0, "audit events": 0, "users answered 503": 0}


class SqliteLock:
    """Another process holding the SQLite database's write lock: to idmint, a store that
    cannot take writes."""

    def __init__(self, path: Path) -> None:
        script = (
            "import sqlite3, sys, time\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n"
            "db.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            "time.sleep(3600)\n"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == b"locked"

    def release(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


class Store:
    """Stop and start the deployment's store: a private PostgreSQL, or an SQLite lock."""

    def __init__(self, deployment: Deployment, postgres: PrivatePostgres | None) -> None:
        self._deployment = deployment
        self._postgres = postgres
        self._lock: SqliteLock | None = None

    def stop(self) -> None:
        if self._postgres is not None:
            self._postgres.stop()
        else:
            self._lock = SqliteLock(self._deployment.data_dir / "idmint.db")

    def start(self) -> None:
        if self._postgres is not None:
            self._postgres.start()
        elif self._lock is not None:
            self._lock.release()
            self._lock = None


@pytest.fixture(params=["sqlite", "postgresql"])
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Deployment, Store]]:
    postgres = PrivatePostgres() if request.param == "postgresql" else None
    try:
        deployment = Deployment(tmp_path, None if postgres is None else postgres.url)
        store = Store(deployment, postgres)
        try:
            yield deployment, store
        finally:
            store.start()
            deployment.stop()
    finally:
        if postgres is not None:
            postgres.close()


def test_kill_9_under_load_loses_no_acknowledged_write(
    deployment: tuple[Deployment, Store],
) -> None:
    server, _store = deployment
    ledger = Ledger()
    server.serve()
    with load(server, ledger):
        time.sleep(3)
        server.signal(signal.SIGKILL)
        time.sleep(0.3)
    assert len(ledger.users) > 50, "the load did not run"
    assert missing(server, ledger) == NONE_MISSING


def test_a_store_outage_mid_load_loses_nothing_and_a_503_leaves_no_write(
    deployment: tuple[Deployment, Store],
) -> None:
    server, store = deployment
    ledger = Ledger()
    server.serve()
    with load(server, ledger):
        time.sleep(1.5)
        before = len(ledger.users)
        store.stop()
        time.sleep(COMMIT_TIMEOUT + 2)
        store.start()
        time.sleep(3)
        after = len(ledger.users)
    assert ledger.unavailable > 0, "the outage was not seen"
    assert after > before, "no mint succeeded after the store came back"
    assert missing(server, ledger) == NONE_MISSING
    log = server.log()
    assert "store unavailable" in log
    assert "available again" in log


def test_sigterm_with_the_store_down_then_a_restart_loses_nothing(
    deployment: tuple[Deployment, Store],
) -> None:
    server, store = deployment
    ledger = Ledger()
    server.serve()
    with load(server, ledger):
        time.sleep(1.5)
        store.stop()
        time.sleep(0.5)
    # Refused attempts during the outage (answered from the caches, no store read): their
    # audit events can only be kept by the spill.
    for _ in range(5):
        refused = httpx.post(
            f"{server.base_url}/v1/auth/token/get",
            json={
                "data": {
                    "apiKey": server.api_key,
                    "authToken": server.secret,
                    "userId": "nobody",
                    "userProperties": {"organizationId": "org-1"},
                    "expiresIn": 10**7,
                }
            },
            timeout=30,
        )
        assert refused.status_code == 400, refused.text
    # uvicorn ends by raising the signal again once it has shut down cleanly.
    assert server.signal(signal.SIGTERM, timeout=90) in (0, -signal.SIGTERM), server.log()
    assert "Application shutdown complete" in server.log()
    spilled = list((server.data_dir / "spill").glob("spill-*.jsonl"))
    assert spilled, server.log()

    store.start()
    server.serve()  # replays the spill
    with load(server, ledger):
        time.sleep(1.5)
    assert not list((server.data_dir / "spill").glob("spill-*")), server.log()
    assert missing(server, ledger) == NONE_MISSING
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as connection:
            refused_events = connection.execute(
                text(
                    "SELECT count(*) FROM audit_events WHERE reason_code = 'lifetime_out_of_bounds'"
                )
            ).scalar()
    finally:
        engine.dispose()
    assert refused_events == 5
