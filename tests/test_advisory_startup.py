"""Regression tests for the startup findings of issue 10 ("Identity integrity"): one named test
per finding, each driving the real ``idmint`` command and server, as the findings were made.

- A wrong master key was found only at request time: a second instance with another
  ``IDMINT_MASTER_KEY`` started "healthy" and answered every mint, identify and JWKS request
  with 500 ``key_decryption_failed``; a missing ``master.key`` beside an existing store was
  silently replaced by a new one; any command run where there was no store created one.
- Files holding secrets and personal data were world-readable: ``idmint.db``, ``-wal`` and
  ``-shm`` 0644, the data directory 0755, and a 0666 ``master.key`` was loaded without a word.
- Changing the port broke verification: with ``serve --port`` (or ``IDMINT_PORT``) and no
  ``IDMINT_PUBLIC_URL``, tokens still named ``http://127.0.0.1:8000/...`` as their issuer.

A refusal is asserted as the CLI's contract: exit code 1 within seconds, one line
``Error [code]: message``, no traceback.  Where the old code would have started serving
instead, the wait times out and the test fails.
"""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import create_engine, inspect

from conftest import (
    IDMINT,
    POSTGRES_URL,
    free_port,
    idmint_init,
    idmint_serve,
    launch,
    postgres_schema,
    stop,
    wait_ready,
)
from idmint.client import RemoteVerifier

pytestmark = pytest.mark.slow

# A master key that sealed nothing in these stores (base64url of 32 bytes, TEST ONLY).
OTHER_MASTER_KEY = base64.urlsafe_b64encode(bytes(range(32))).rstrip(b"=").decode()


def _env(**values: str) -> dict[str, str]:
    """The environment without any of the machine's IDMINT_* variables, plus ``values``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("IDMINT_")}
    env.update(values)
    return env


def _refusal(args: list[str], env: dict[str, str], log: Path, *, cwd: Path | None = None) -> str:
    """Run ``idmint <args>``, which must refuse: exit 1 within 30 s with one error line and
    no traceback (a server that starts instead fails the test).  Returns the error line."""
    process = launch([IDMINT, *args], env, log, cwd=cwd)
    try:
        code = process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"idmint {' '.join(args)} did not refuse; it ran:\n{log.read_text()}")
    finally:
        stop(process)
    output = log.read_text(errors="replace")
    assert code == 1, output
    assert "Traceback" not in output, output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("Error ["), output
    return lines[0]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _mint(base_url: str, created: dict[str, Any]) -> str:
    answer = httpx.post(
        f"{base_url}/v1/auth/token/get",
        json={
            "data": {
                "apiKey": created["apiKey"],
                "authToken": created["authToken"],
                "userId": "user-1",
                "userProperties": {"organizationId": "org-1", "email": "ann@example.com"},
            }
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["result"]["data"]["token"]
    return token


@dataclass(frozen=True)
class Initialised:
    """A data directory after ``idmint init``: its environment and init's ``--json`` answer."""

    env: dict[str, str]
    created: dict[str, Any]
    data_dir: Path


@pytest.fixture
def initialised(tmp_path: Path) -> Initialised:
    data_dir = tmp_path / "data"  # made by init, not by the test
    env = _env(IDMINT_DATA_DIR=str(data_dir))
    return Initialised(env, idmint_init(env), data_dir)


# --- a wrong master key is found at start, not at request time ---------------------------------


def test_wrong_master_key_is_refused_at_start_not_at_request_time(
    initialised: Initialised, tmp_path: Path
) -> None:
    env, data_dir = initialised.env, initialised.data_dir
    key_file = data_dir / "master.key"
    second = {**env, "IDMINT_MASTER_KEY": OTHER_MASTER_KEY}  # a second instance, another key

    for args in (["serve", "--port", str(free_port())], ["users", "list"], ["init"]):
        error = _refusal(args, second, tmp_path / f"{args[0]}.log")
        assert error.startswith("Error [master_key_mismatch]:"), error
        assert "IDMINT_MASTER_KEY" in error
        assert str(key_file) in error
        assert OTHER_MASTER_KEY not in error

    # The app factory refuses at startup too (its lifespan opens the store), so uvicorn exits.
    port = free_port()
    log = tmp_path / "uvicorn.log"
    command = [sys.executable, "-m", "uvicorn", "--factory", "idmint.api:create_app_from_env"]
    process = launch([*command, "--port", str(port)], second, log)
    try:
        code = process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the app started with the wrong master key:\n{log.read_text()}")
    finally:
        stop(process)
    assert code != 0
    output = log.read_text()
    assert "MasterKeyMismatchError: The master key in IDMINT_MASTER_KEY" in output, output
    assert "Application startup failed" in output


def test_missing_master_key_file_is_refused_and_never_replaced(
    initialised: Initialised, tmp_path: Path
) -> None:
    env, data_dir = initialised.env, initialised.data_dir
    key_file = data_dir / "master.key"
    key_file.unlink()

    for args in (["serve", "--port", str(free_port())], ["users", "list"], ["init"]):
        error = _refusal(args, env, tmp_path / f"{args[0]}.log")
        assert error.startswith("Error [master_key_missing]:"), error
        assert "IDMINT_MASTER_KEY" in error
        assert str(key_file) in error
        assert not key_file.exists(), f"idmint {args[0]} made a new master key"


@pytest.mark.parametrize("command", ["users list", "serve"])
def test_commands_without_a_store_create_none(command: str, tmp_path: Path) -> None:
    empty = tmp_path / "here"
    empty.mkdir()
    args = command.split() + (["--port", str(free_port())] if command == "serve" else [])

    # No IDMINT_DATA_DIR: the default, ./.idmint, in an empty working directory.
    error = _refusal(args, _env(), tmp_path / "run.log", cwd=empty)

    assert error.startswith("Error [store_not_found]:"), error
    assert f"No idmint store at {empty / '.idmint' / 'idmint.db'}" in error
    assert "run `idmint init` first" in error
    assert list(empty.iterdir()) == []


@pytest.mark.postgres
def test_wrong_master_key_is_refused_at_start_on_postgresql(tmp_path: Path) -> None:
    with postgres_schema("idmint_advisory") as database_url:
        first = _env(IDMINT_DATABASE_URL=database_url, IDMINT_DATA_DIR=str(tmp_path / "a"))
        idmint_init(first)
        # A second instance on the same database, with a master key of its own.
        second = _env(
            IDMINT_DATABASE_URL=database_url,
            IDMINT_DATA_DIR=str(tmp_path / "b"),
            IDMINT_MASTER_KEY=OTHER_MASTER_KEY,
        )
        for args in (["serve", "--port", str(free_port())], ["users", "list"]):
            error = _refusal(args, second, tmp_path / f"{args[0]}.log")
            assert error.startswith("Error [master_key_mismatch]:"), error
            assert "IDMINT_MASTER_KEY" in error
            assert str(tmp_path / "b" / "master.key") in error
        # Without a key of its own it may not make one either: the store's keys are sealed.
        del second["IDMINT_MASTER_KEY"]
        error = _refusal(["users", "list"], second, tmp_path / "missing.log")
        assert error.startswith("Error [master_key_missing]:"), error
        assert not (tmp_path / "b" / "master.key").exists()


@pytest.mark.postgres
def test_commands_without_a_store_create_none_on_postgresql(tmp_path: Path) -> None:
    with postgres_schema("idmint_advisory") as database_url:
        env = _env(IDMINT_DATABASE_URL=database_url, IDMINT_DATA_DIR=str(tmp_path / "data"))

        error = _refusal(["users", "list"], env, tmp_path / "run.log")

        assert error.startswith("Error [store_not_found]:"), error
        assert "run `idmint init` first" in error
        assert not (tmp_path / "data").exists()
        schema = database_url.rsplit("%3D", 1)[1]
        engine = create_engine(POSTGRES_URL)
        try:
            with engine.connect() as connection:
                assert inspect(connection).get_table_names(schema=schema) == []
        finally:
            engine.dispose()


# --- files holding secrets and personal data are private -------------------------------------


def test_store_files_are_private_after_init_and_serve(
    initialised: Initialised, tmp_path: Path
) -> None:
    env, created, data_dir = initialised.env, initialised.created, initialised.data_dir
    assert _mode(data_dir) == 0o700
    assert _mode(data_dir / "idmint.db") == 0o600
    assert _mode(data_dir / "master.key") == 0o600

    port = free_port()
    with idmint_serve({**env, "IDMINT_PORT": str(port)}, port, tmp_path / "serve.log") as base:
        _mint(base, created)  # the server writes: SQLite now has its WAL files
        for name in ("idmint.db", "idmint.db-wal", "idmint.db-shm"):
            assert (data_dir / name).exists(), name
            assert _mode(data_dir / name) == 0o600, name
        assert _mode(data_dir) == 0o700


def test_master_key_file_others_may_read_is_refused(
    initialised: Initialised, tmp_path: Path
) -> None:
    env, data_dir = initialised.env, initialised.data_dir
    key_file = data_dir / "master.key"
    mode = 0o644  # tests/service/test_workspaces.py tries the other loose modes
    key_file.chmod(mode)

    for args in (["serve", "--port", str(free_port())], ["users", "list"]):
        error = _refusal(args, env, tmp_path / f"{args[0]}.log")
        assert error.startswith("Error [file_mode_insecure]:"), error
        assert f"chmod 600 {key_file}" in error
        assert _mode(key_file) == mode  # refused, not silently changed

    key_file.chmod(0o600)  # the fix the message gives
    listed = subprocess.run(
        [IDMINT, "users", "list"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert listed.returncode == 0, listed.stderr


# --- the issuer follows the server -------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])  # noqa: S104 - the wildcard case
def test_issuer_follows_the_port_the_server_listens_on(host: str, tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    env = _env(IDMINT_DATA_DIR=str(data_dir))  # no IDMINT_PUBLIC_URL, no IDMINT_PORT
    created = idmint_init({**env, "IDMINT_PORT": str(port)})
    issuer = f"http://127.0.0.1:{port}/w/{created['apiKey']}"
    assert created["issuer"] == issuer

    log = tmp_path / "serve.log"
    process = launch([IDMINT, "serve", "--host", host, "--port", str(port)], env, log)
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_ready(process, log, base_url + "/openapi.json")
        assert f"issuers http://127.0.0.1:{port}/w/<apiKey>" in log.read_text()

        token = _mint(base_url, created)
        discovery = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
        assert discovery["issuer"] == issuer
        assert discovery["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
        keys = jwt.PyJWKClient(discovery["jwks_uri"])
        claims = jwt.decode(
            token,
            keys.get_signing_key_from_jwt(token).key,
            algorithms=["ES256"],
            audience=created["apiKey"],
            issuer=issuer,
        )
        assert claims["sub"] == "user-1"
        with RemoteVerifier(issuer, audience=created["apiKey"]) as verifier:
            assert verifier.verify(token).claims.subject == "user-1"
    finally:
        stop(process)
