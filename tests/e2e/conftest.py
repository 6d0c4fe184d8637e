"""A real ``idmint serve`` on loopback, on SQLite and on PostgreSQL, set up with ``idmint init``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
IDMINT = str(Path(sys.executable).with_name("idmint"))


@dataclass(frozen=True)
class Server:
    base_url: str
    api_key: str
    auth_token: str
    env: dict[str, str]

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/w/{self.api_key}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], scope="module"
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    port = _free_port()
    data_dir = tmp_path_factory.mktemp("idmint-e2e")
    env = {
        **os.environ,
        "IDMINT_DATA_DIR": str(data_dir),
        "IDMINT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "IDMINT_CREDENTIAL_CACHE_SECONDS": "0",
    }
    schema = None
    if request.param == "postgresql":
        schema = f"idmint_e2e_{uuid.uuid4().hex[:10]}"
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        env["IDMINT_DATABASE_URL"] = f"{POSTGRES}?options=-csearch_path%3D{schema}"
    init = subprocess.run(
        [IDMINT, "init", "--json"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    created = json.loads(init.stdout)
    # A file, not a pipe: nobody reads a pipe while tests run, and a full one stalls the server.
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(
        [IDMINT, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base_url}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = (data_dir / "server.log").read_text(errors="replace")
                raise RuntimeError(f"idmint serve did not start:\n{output}")
            time.sleep(0.1)
        yield Server(base_url, created["apiKey"], created["authToken"], env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        if schema is not None:
            with psycopg.connect(
                "postgresql://postgres@127.0.0.1:5432/test", autocommit=True
            ) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
