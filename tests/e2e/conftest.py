"""A real ``idmint serve`` on loopback, on SQLite and on PostgreSQL, set up with ``idmint init``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest

from conftest import free_port, idmint_init, idmint_serve, postgres_schema


@dataclass(frozen=True)
class Server:
    base_url: str
    api_key: str
    auth_token: str
    env: dict[str, str]

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/w/{self.api_key}"


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], scope="module"
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    port = free_port()
    data_dir = tmp_path_factory.mktemp("idmint-e2e")
    env = {
        **os.environ,
        "IDMINT_DATA_DIR": str(data_dir),
        "IDMINT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "IDMINT_CREDENTIAL_CACHE_SECONDS": "0",
    }
    with ExitStack() as stack:
        if request.param == "postgresql":
            env["IDMINT_DATABASE_URL"] = stack.enter_context(postgres_schema("idmint_e2e"))
        created = idmint_init(env)
        base_url = stack.enter_context(idmint_serve(env, port, data_dir / "server.log"))
        yield Server(base_url, created["apiKey"], created["authToken"], env)
