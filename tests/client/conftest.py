"""The SDK against the real app, in process.

Each test gets its own service over a fresh SQLite store with a :class:`FrozenClock` set to the
current second, and the app from ``create_app(settings, service=...)``.  The sync client talks to
it through FastAPI's ``TestClient`` (an ``httpx.Client``), the async one through
``httpx.ASGITransport``.  Verifiers fetch through counting transports, so tests can assert how
often the JWKS was fetched.  The loopback run against a real ``idmint serve`` is in
``test_loopback.py``.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from idmint import FrozenClock
from idmint.api import create_app
from idmint.client import AsyncIdmintClient, AsyncRemoteVerifier, IdmintClient, RemoteVerifier
from idmint.service import Idmint
from idmint.settings import Settings

ADMIN_TOKEN = "adm-Q7v2LkP9xR4tW8zN3mB6cF1hJ5sD0gYe"  # 36 characters, not a placeholder
USER = {"userId": "user-1", "organizationId": "org-1", "email": "ann@example.com"}


class CountingTransport(httpx.BaseTransport):
    """Sends through another client (the app's ``TestClient``) and records every request."""

    def __init__(self, inner: httpx.Client) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.inner.send(request)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    def count(self, path_suffix: str = "/.well-known/jwks.json") -> int:
        return sum(1 for r in self.requests if r.url.path.endswith(path_suffix))


class AsyncCountingTransport(httpx.ASGITransport):
    """``httpx.ASGITransport`` that records every request."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__(app=app)
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await super().handle_async_request(request)

    def count(self, path_suffix: str = "/.well-known/jwks.json") -> int:
        return sum(1 for r in self.requests if r.url.path.endswith(path_suffix))


@dataclass
class App:
    """One running app, its service and clock, and its first workspace's credentials."""

    app: FastAPI
    idmint: Idmint
    clock: FrozenClock
    settings: Settings
    api_key: str
    secret: str
    token_id: str
    issuer: str
    http: TestClient
    _closers: list[Any] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    def client(self, **overrides: Any) -> IdmintClient:
        """A sync client of the first workspace (its auth token; no admin token unless given)."""
        options: dict[str, Any] = {"api_key": self.api_key, "auth_token": self.secret}
        options.update(overrides)
        if "transport" not in options:
            options.setdefault("http_client", self.http)
        client = IdmintClient(self.base_url, **options)
        self._closers.append(client.close)
        return client

    def admin_client(self, **overrides: Any) -> IdmintClient:
        return self.client(admin_token=ADMIN_TOKEN, **overrides)

    def async_client(self, **overrides: Any) -> AsyncIdmintClient:
        options: dict[str, Any] = {"api_key": self.api_key, "auth_token": self.secret}
        options.update(overrides)
        if "http_client" not in options:
            options.setdefault("transport", httpx.ASGITransport(app=self.app))
        return AsyncIdmintClient(self.base_url, **options)

    def verifier(self, **overrides: Any) -> tuple[RemoteVerifier, CountingTransport]:
        """A verifier of the first workspace, on the app's clock, and its counting transport."""
        transport = CountingTransport(self.http)
        options: dict[str, Any] = {
            "issuer": self.issuer,
            "audience": self.api_key,
            "clock": self.clock,
            "transport": transport,
        }
        options.update(overrides)
        verifier = RemoteVerifier(**options)
        self._closers.append(verifier.close)
        return verifier, transport

    def async_verifier(
        self, **overrides: Any
    ) -> tuple[AsyncRemoteVerifier, AsyncCountingTransport]:
        transport = AsyncCountingTransport(self.app)
        options: dict[str, Any] = {
            "issuer": self.issuer,
            "audience": self.api_key,
            "clock": self.clock,
            "transport": transport,
        }
        options.update(overrides)
        return AsyncRemoteVerifier(**options), transport

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        self.http.close()
        self.idmint.close()


def make_app(data_dir: Path, **settings: Any) -> App:
    """A fresh service and app over a SQLite store in ``data_dir``."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "admin_token": ADMIN_TOKEN,
        "throttle_per_address": "1000000/minute",  # the suites send wrong credentials on purpose
        "throttle_per_api_key": "1000000/minute",
        **settings,
    }
    config = Settings(**values)
    clock = FrozenClock(float(int(time.time())))
    service = Idmint.open(config, clock=clock, create=True)
    created = service.init_workspace(scopes=("mint", "admin"))  # the suites use it as admin too
    app = create_app(config, service=service)
    # Server errors answer 500 with the envelope, as under uvicorn.
    http = TestClient(app, raise_server_exceptions=False)
    return App(
        app=app,
        idmint=service,
        clock=clock,
        settings=config,
        api_key=created.workspace.api_key,
        secret=created.auth_token.secret,
        token_id=created.auth_token.record.id,
        issuer=created.issuer,
        http=http,
    )


@pytest.fixture(autouse=True)
def _no_idmint_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read IDMINT_* variables; the machine's must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("IDMINT_"):
            monkeypatch.delenv(name)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    """The app on SQLite with its first workspace."""
    running = make_app(tmp_path)
    yield running
    running.close()


@pytest.fixture
def client(app: App) -> IdmintClient:
    """A sync client of the first workspace, with its auth token."""
    return app.client()


@pytest.fixture
def admin(app: App) -> IdmintClient:
    """A sync client of the first workspace, with the admin token."""
    return app.admin_client()


@pytest.fixture
async def aclient(app: App) -> AsyncIterator[AsyncIdmintClient]:
    """An async client of the first workspace, with its auth token."""
    async with app.async_client() as client:
        yield client
