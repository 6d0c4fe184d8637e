"""The HTTP API under test: a real app over a real store (SQLite file or PostgreSQL schema).

Each test gets its own service (``Idmint.open``), its own store and a :class:`FrozenClock`
set to the current second (so that PyJWT, which reads the wall clock, accepts the tokens),
and talks to ``create_app(settings, service=...)`` through Starlette's ``TestClient``, with the
app's lifespan running as it does under uvicorn.

Helpers that the test modules share live here too (``Api``, ``assert_error``,
``verify_with_pyjwt``), imported as ``from .conftest import ...``.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from conftest import POSTGRES_URL, require_postgres
from idmint import FrozenClock
from idmint.api import create_app
from idmint.api.errors import http_error_classes, status_of
from idmint.jose.errors import CredentialError, error_classes
from idmint.service import Idmint
from idmint.settings import Settings
from idmint.store import Base

ADMIN_TOKEN = "adm-Q7v2LkP9xR4tW8zN3mB6cF1hJ5sD0gYe"  # 36 characters, not a placeholder
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]
GRPC_STATUSES = {
    "INVALID_ARGUMENT",
    "UNAUTHENTICATED",
    "PERMISSION_DENIED",
    "NOT_FOUND",
    "FAILED_PRECONDITION",
    "RESOURCE_EXHAUSTED",
    "INTERNAL",
    "UNAVAILABLE",
}
CODES = {cls.code: cls for cls in [*error_classes(), *http_error_classes()]}
# Tables whose rows a refused request must leave alone. The audit log is meant to grow on
# failures, and an auth token's last-used time is bookkeeping, not data.
_IGNORED_TABLES = {"audit_events"}
_IGNORED_COLUMNS = {"last_used_at"}
_MISSING = object()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# --- shared helpers -----------------------------------------------------------------------------


def assert_envelope(response: httpx.Response) -> dict[str, Any]:
    """The response is an idmint error: ``{"error": {message, status, code[, field]}}`` with
    an HTTP status that matches the code's. Returns the inner object."""
    assert 400 <= response.status_code < 600, response.text
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict), body
    cls = CODES.get(error.get("code", ""))
    context = {_camel(name) for name in cls.context_names} if cls is not None else set()
    allowed = {"message", "status", "code", *context}
    assert {"message", "status", "code"} <= set(error) <= allowed, error
    assert isinstance(error["message"], str), error
    assert error["message"], error
    assert error["status"] in GRPC_STATUSES, error
    assert error["code"] in CODES, f"undocumented code {error['code']!r}"
    cls = CODES[error["code"]]
    if "www-authenticate" in response.headers:
        # A credential from the Authorization header that is missing or wrong: 401 with a
        # challenge (RFC 7235), the error's own code kept.
        assert (response.status_code, error["status"]) == (401, "UNAUTHENTICATED"), error
        assert issubclass(cls, CredentialError) or error.get("field") == "Authorization", error
    else:
        assert (response.status_code, error["status"]) == status_of(cls), error
    if "field" in error:
        assert isinstance(error["field"], str), error
        assert error["field"], error
    return error


def assert_error(
    response: httpx.Response,
    http_status: int,
    status: str,
    code: str,
    *,
    message: str | None = None,
    field: Any = _MISSING,
) -> dict[str, Any]:
    """The response is exactly this error. ``field=None`` asserts that there is no field."""
    assert response.status_code == http_status, response.text
    error = assert_envelope(response)
    assert error["status"] == status, error
    assert error["code"] == code, error
    if message is not None:
        assert error["message"] == message, error
    if field is None:
        assert "field" not in error, error
    elif field is not _MISSING:
        assert error.get("field") == field, error
    return error


def iso(timestamp: float) -> str:
    """POSIX seconds as the API writes them: ISO 8601 UTC with a ``Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


@dataclass(frozen=True)
class Workspace:
    """A workspace as a client knows it: its API key and one auth token (secret + id)."""

    api_key: str
    secret: str
    token_id: str
    issuer: str


@dataclass
class Api:
    """One running app with its service, clock and first workspace."""

    client: TestClient
    idmint: Idmint
    clock: FrozenClock
    settings: Settings
    backend: str
    workspace: Workspace
    _names: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))

    # --- credentials ----------------------------------------------------------------------

    @property
    def admin(self) -> dict[str, str]:
        """Headers carrying the admin credential."""
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    @staticmethod
    def bearer(secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}

    # --- the two mint shapes and identify -------------------------------------------------

    def mint_body(
        self,
        ws: Workspace | None = None,
        user_id: str = "user-1",
        *,
        organization_id: str = "org-1",
        email: str | None = "ann@example.com",
        is_admin: bool | None = True,
        expires_in: int | None = None,
    ) -> dict[str, Any]:
        """The body of ``POST /v1/auth/token/get`` exactly as seed 000 writes it."""
        ws = ws or self.workspace
        properties: dict[str, Any] = {"organizationId": organization_id}
        if is_admin is not None:
            properties["isAdmin"] = is_admin
        if email is not None:
            properties["email"] = email
        data: dict[str, Any] = {
            "userId": user_id,
            "apiKey": ws.api_key,
            "authToken": ws.secret,
            "userProperties": properties,
        }
        if expires_in is not None:
            data["expiresIn"] = expires_in
        return {"data": data}

    def mint(
        self, ws: Workspace | None = None, user_id: str = "user-1", **kw: Any
    ) -> httpx.Response:
        return self.client.post("/v1/auth/token/get", json=self.mint_body(ws, user_id, **kw))

    def token(self, ws: Workspace | None = None, user_id: str = "user-1", **kw: Any) -> str:
        """A freshly minted user token (the mint must succeed)."""
        response = self.mint(ws, user_id, **kw)
        assert response.status_code == 200, response.text
        token: str = response.json()["result"]["data"]["token"]
        return token

    def identify(
        self,
        user: dict[str, Any],
        token: str | None = None,
        ws: Workspace | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"apiKey": (ws or self.workspace).api_key, "user": user}
        if token is not None:
            body["authToken"] = token
        return self.client.post("/v1/identify", json=body)

    # --- admin shortcuts -------------------------------------------------------------------

    def new_workspace(self, name: str | None = None, *, require_jwt: bool = True) -> Workspace:
        """Another workspace, made through ``POST /admin/v1/workspaces``."""
        # Both scopes: the suites use a workspace's token for its admin API too.
        body = {
            "name": name or f"ws-{next(self._names)}",
            "requireJwt": require_jwt,
            "scopes": ["mint", "admin"],
        }
        response = self.client.post("/admin/v1/workspaces", json=body, headers=self.admin)
        assert response.status_code == 201, response.text
        created = response.json()
        return Workspace(
            api_key=created["workspace"]["apiKey"],
            secret=created["secret"],
            token_id=created["authToken"]["id"],
            issuer=created["workspace"]["issuer"],
        )

    def patch_workspace(self, ws: Workspace | None = None, **changes: Any) -> dict[str, Any]:
        ws = ws or self.workspace
        response = self.client.patch(
            f"/admin/v1/workspaces/{ws.api_key}", json=changes, headers=self.admin
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def user(self, user_id: str, ws: Workspace | None = None) -> httpx.Response:
        ws = ws or self.workspace
        return self.client.get(
            f"/admin/v1/workspaces/{ws.api_key}/users/{user_id}", headers=self.admin
        )

    def users(self, ws: Workspace | None = None) -> list[dict[str, Any]]:
        ws = ws or self.workspace
        response = self.client.get(
            f"/admin/v1/workspaces/{ws.api_key}/users", params={"limit": 1000}, headers=self.admin
        )
        assert response.status_code == 200, response.text
        users: list[dict[str, Any]] = response.json()["users"]
        return users

    def create_user(self, user_id: str, ws: Workspace | None = None, **fields: Any) -> None:
        ws = ws or self.workspace
        response = self.client.post(
            f"/admin/v1/workspaces/{ws.api_key}/users",
            json={"userId": user_id, **fields},
            headers=self.admin,
        )
        assert response.status_code == 201, response.text

    def revoke(self, ws: Workspace | None = None, token_id: str | None = None) -> None:
        ws = ws or self.workspace
        response = self.client.delete(
            f"/admin/v1/workspaces/{ws.api_key}/auth-tokens/{token_id or ws.token_id}",
            headers=self.admin,
        )
        assert response.status_code == 200, response.text

    # --- stored data --------------------------------------------------------------------------

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every stored row (but the audit log and last-used times), read from the store."""
        tables: dict[str, list[tuple[Any, ...]]] = {}
        self.idmint.store.drain()  # what group commit has queued counts as stored
        with self.idmint.store.engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                if table.name in _IGNORED_TABLES:
                    continue
                columns = [c for c in table.columns if c.name not in _IGNORED_COLUMNS]
                rows = connection.execute(select(*columns)).all()
                tables[table.name] = sorted((tuple(row) for row in rows), key=repr)
        return tables

    @contextmanager
    def unchanged(self) -> Iterator[None]:
        """Assert that the block leaves every stored row as it was."""
        before = self.snapshot()
        yield
        after = self.snapshot()
        for name in before:
            assert after[name] == before[name], f"table {name} changed"


def verify_with_pyjwt(api: Api, token: str, ws: Workspace | None = None) -> dict[str, Any]:
    """The token's claims, verified by PyJWT with the key served in the workspace's JWKS."""
    ws = ws or api.workspace
    response = api.client.get(f"/w/{ws.api_key}/.well-known/jwks.json")
    assert response.status_code == 200, response.text
    keys = jwt.PyJWKSet.from_dict(response.json())
    header = jwt.get_unverified_header(token)
    key = keys[header["kid"]]
    assert header["alg"] == key.algorithm_name
    claims: dict[str, Any] = jwt.decode(
        token,
        key=key,
        algorithms=[key.algorithm_name],
        audience=ws.api_key,
        issuer=ws.issuer,
        # PyJWT reads the real clock; the app's is frozen at its start. Let PyJWT's "now" be
        # the app's, so a short-lived token does not expire while a slow machine runs the test.
        leeway=max(0.0, time.time() - api.clock.now()) + api.settings.leeway_seconds,
        options={"require": ["iss", "aud", "sub", "iat", "nbf", "exp", "jti"]},
    )
    return claims


def isolated_settings(**values: Any) -> Settings:
    """``Settings(**values)`` that ignores the machine's ``IDMINT_*`` variables."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("IDMINT_")}
    for name in saved:
        del os.environ[name]
    try:
        return Settings(**values)
    finally:
        os.environ.update(saved)


# --- PostgreSQL ---------------------------------------------------------------------------------


def _drop_schema(schema: str) -> None:
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        engine.dispose()


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_idmint_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read IDMINT_* variables; the machine's must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("IDMINT_") and name != "IDMINT_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


class AppFactory:
    """Makes running apps (``factory(backend="sqlite", *, lifespan=True, **settings)``), each
    with one workspace, and tears all of them down at :meth:`close`.

    ``backend`` is ``"sqlite"`` (a file in a fresh data directory) or ``"postgresql"`` (a
    schema of its own, dropped at teardown). ``lifespan=False`` leaves the app's lifespan
    (and its background audit flusher) off. Keyword arguments override ``Settings`` fields.
    """

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp_path_factory = tmp_path_factory
        self._teardown: list[Callable[[], None]] = []

    def __call__(self, backend: str = "sqlite", *, lifespan: bool = True, **overrides: Any) -> Api:
        values: dict[str, Any] = {
            "data_dir": self._tmp_path_factory.mktemp("idmint"),
            "admin_token": ADMIN_TOKEN,
            "credential_cache_seconds": 5,
            # The suites send many wrong credentials on purpose; tests of the throttle
            # itself lower these.
            "throttle_per_address": "1000000/minute",
            "throttle_per_api_key": "1000000/minute",
            **overrides,
        }
        schema = None
        if backend == "postgresql":
            require_postgres()
            values["database_url"] = POSTGRES_URL
            schema = f"idmint_api_{uuid.uuid4().hex[:10]}"
            self._teardown.append(lambda: _drop_schema(schema))
        elif backend != "sqlite":
            raise ValueError(backend)
        settings = isolated_settings(**values)
        clock = FrozenClock(float(int(time.time())))
        service = Idmint.open(settings, clock=clock, schema=schema, create=True)
        self._teardown.append(service.close)
        # Both scopes: the suites use the first token for the admin API too.
        result = service.init_workspace(scopes=("mint", "admin"))
        # Server errors answer 500 with the envelope, as under uvicorn (the log keeps the trace).
        client = TestClient(create_app(settings, service=service), raise_server_exceptions=False)
        if lifespan:
            client.__enter__()  # run the lifespan, as uvicorn does
            self._teardown.append(lambda: client.__exit__(None, None, None))
        workspace = Workspace(
            api_key=result.workspace.api_key,
            secret=result.auth_token.secret,
            token_id=result.auth_token.record.id,
            issuer=result.issuer,
        )
        return Api(client, service, clock, settings, backend, workspace)

    def close(self) -> None:
        """Stop every app, close every service, drop every schema; report the first failure."""
        errors: list[BaseException] = []
        for step in reversed(self._teardown):
            try:
                step()
            except Exception as exc:  # pragma: no cover - run every step, then report
                errors.append(exc)
        self._teardown.clear()
        if errors:
            raise errors[0]


@pytest.fixture
def client_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppFactory]:
    """``client_factory(backend="sqlite", *, lifespan=True, **settings)``: a running app with
    one workspace (see :class:`AppFactory`)."""
    factory = AppFactory(tmp_path_factory)
    yield factory
    factory.close()


@pytest.fixture
def api(client_factory: AppFactory) -> Api:
    """The app on SQLite, with its first workspace."""
    return client_factory()


@pytest.fixture(params=BACKENDS)
def backend_api(request: pytest.FixtureRequest, client_factory: AppFactory) -> Api:
    """The app on SQLite, then on PostgreSQL."""
    return client_factory(request.param)


@pytest.fixture
def workspace(api: Api) -> Callable[..., Workspace]:
    """``workspace(name=None, require_jwt=True)``: another workspace of ``api``, made through
    the admin API."""
    return api.new_workspace
