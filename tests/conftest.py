"""Shared fixtures: the standards vectors and small key/clock factories."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from idmint import FrozenClock, KeyRing, SigningKey

POSTGRES_URL = os.environ.get(
    "IDMINT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ISSUER = "https://idmint.test/w/ws_test"
AUDIENCE = "pk_test_123"
NOW = 1_800_000_000.0


# Standards test vectors, kept in the repository with their licences (tests/vectors/README.md).
VECTORS = Path(__file__).resolve().parent / "vectors"


def load_vectors(relative: str) -> Any:
    """A vector file under tests/vectors, parsed."""
    return json.loads((VECTORS / relative).read_text())


_KEY_CACHE: dict[str, SigningKey] = {}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def key_factory() -> Callable[[str], SigningKey]:
    """Signing keys per algorithm, generated once per test session (RSA is slow)."""

    def make(alg: str = "ES256") -> SigningKey:
        if alg not in _KEY_CACHE:
            _KEY_CACHE[alg] = SigningKey.generate(alg)
        return _KEY_CACHE[alg]

    return make


@pytest.fixture
def ring(key_factory: Callable[[str], SigningKey]) -> KeyRing:
    return KeyRing([key_factory("ES256")])


_postgres_error: list[str] = []


def require_postgres() -> None:
    """PostgreSQL runs need a server. Locally a missing one skips them; in CI (``CI`` set,
    where .ci/run starts PostgreSQL) it fails, so a broken database is never a green run."""
    if not _postgres_error:
        engine = create_engine(POSTGRES_URL)
        try:
            with engine.connect():
                _postgres_error.append("")
        except OperationalError as exc:
            _postgres_error.append(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")
        finally:
            engine.dispose()
    if _postgres_error[0]:
        if os.environ.get("CI"):
            pytest.fail(_postgres_error[0])
        pytest.skip(_postgres_error[0])


# --- real processes: idmint serve, example apps, Chromium --------------------------------------

IDMINT = str(Path(sys.executable).with_name("idmint"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch(
    command: list[str], env: dict[str, str], log_path: Path, *, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a process whose output goes to ``log_path``: a file, not a pipe, since nobody
    reads a pipe while tests run and a full one stalls the process."""
    with log_path.open("wb") as log:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(process: subprocess.Popen[bytes], log_path: Path, url: str) -> None:
    """Return once ``url`` answers 200; fail with the process's log after 30 s or its exit."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            output = log_path.read_text(errors="replace")
            raise RuntimeError(f"{process.args} did not start:\n{output}")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def idmint_init(env: dict[str, str], *scopes: str) -> dict[str, Any]:
    """``idmint init --json`` in ``env``: apiKey, authToken, issuer, jwksUri, workspaceId,
    scopes; the auth token has ``scopes`` (mint only by default, as ``init`` makes it)."""
    options = [f"--scope={scope}" for scope in scopes]
    init = subprocess.run(
        [IDMINT, "init", "--json", *options],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    created: dict[str, Any] = json.loads(init.stdout)
    return created


# The admin credential the real-process suites give ``idmint serve`` (IDMINT_ADMIN_TOKEN).
ADMIN_TOKEN = "adm-Q7v2LkP9xR4tW8zN3mB6cF1hJ5sD0gYe"  # 36 characters, not a placeholder


@dataclass(frozen=True)
class RunningIdmint:
    """A real ``idmint serve`` set up by ``idmint init``, and the admin calls tests make."""

    base_url: str
    api_key: str
    auth_token: str

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/w/{self.api_key}"

    def workspace(self) -> dict[str, Any]:
        """``GET /admin/v1/workspaces/{api_key}`` with the admin token."""
        return self._admin("GET")

    def patch_workspace(self, **settings: Any) -> dict[str, Any]:
        """``PATCH /admin/v1/workspaces/{api_key}`` with the admin token."""
        return self._admin("PATCH", settings)

    def _admin(self, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.request(
            method,
            f"{self.base_url}/admin/v1/workspaces/{self.api_key}",
            json=body,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


@contextmanager
def idmint_serve(
    env: dict[str, str],
    port: int,
    log_path: Path,
    *,
    ready: str = "/openapi.json",
    workers: int = 1,
) -> Iterator[str]:
    """A real ``idmint serve`` on loopback; yields its base URL once ``ready`` answers."""
    command = [IDMINT, "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers != 1:
        command += ["--workers", str(workers)]
    process = launch(command, env, log_path)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, log_path, base_url + ready)
        yield base_url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium under playwright, for the browser and example suites. Fails in CI
    (.ci/run installs it), skips elsewhere when it is missing. Module scope: playwright's sync
    API keeps an event loop running in this thread while it is open, which would break later
    asyncio tests."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is not installed")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def postgres_schema(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for one server run; yields the ``IDMINT_DATABASE_URL`` that
    uses it, and drops the schema afterwards."""
    require_postgres()
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


# --- a PostgreSQL server of a test's own, to stop and start -------------------------------------


class PrivatePostgres:
    """A PostgreSQL server of the test's own: ``initdb`` into a temporary directory and
    ``postgres`` on a free port, as the ``postgres`` user when the tests run as root.  A fault
    test stops and starts it by its pid; the machine's own server is never touched."""

    def __init__(self) -> None:
        import glob
        import tempfile

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            if os.environ.get("CI"):
                pytest.fail("PostgreSQL's initdb is not installed")
            pytest.skip("PostgreSQL's initdb is not installed")
        self._bin = Path(found[-1]).parent
        self.port = free_port()
        # Not under pytest's tmp_path: the postgres user must be able to reach it.
        self.root = Path(tempfile.mkdtemp(prefix="idmint-pg-", dir="/tmp"))
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            import pwd

            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            self._as = {"user": entry.pw_uid, "group": entry.pw_gid}
        self.data = self.root / "data"
        subprocess.run(
            [str(self._bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
            timeout=120,
            **self._as,
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of its ``postgres`` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _popen(self, log: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                str(self._bin / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.root),
                "-c",
                "listen_addresses=127.0.0.1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            **self._as,
        )

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return  # running already
        with (self.root / "server.log").open("ab") as log:
            self.process = self._popen(log)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((self.root / "server.log").read_text()) from None
                time.sleep(0.1)
        # Accepting connections is not yet accepting logins: wait for a real query.
        while True:
            ready = subprocess.run(
                [str(self._bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError((self.root / "server.log").read_text())
            time.sleep(0.1)

    def stop(self) -> None:
        """A fast shutdown (SIGINT to the postmaster): connections are cut at once."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=60)
        self.process = None

    def close(self) -> None:
        import shutil

        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of the test's own (see :class:`PrivatePostgres`)."""
    server = PrivatePostgres()
    try:
        yield server
    finally:
        server.close()
