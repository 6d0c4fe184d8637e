"""The SDK over real HTTP: a real ``idmint serve`` on loopback (SQLite), set up with
``idmint init``, as a deployment runs it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from conftest import RunningIdmint, free_port, idmint_init, idmint_serve
from idmint import FrozenClock
from idmint.client import AsyncIdmintClient, AsyncRemoteVerifier, IdmintClient, RemoteVerifier
from idmint.jose.errors import (
    AdminRequiredError,
    AuthTokenNotFoundError,
    EmailMismatchError,
    TokenRevokedError,
    UnavailableError,
    UnknownKeyError,
    UserNotFoundError,
)

from .conftest import ADMIN_TOKEN, USER

MAX_AGE = 60


@dataclass(frozen=True)
class Server(RunningIdmint):
    def client(self, **overrides: str | None) -> IdmintClient:
        options: dict[str, str | None] = {"api_key": self.api_key, "auth_token": self.auth_token}
        options.update(overrides)
        return IdmintClient(self.base_url, **options)  # type: ignore[arg-type]


class CountingHTTPTransport(httpx.HTTPTransport):
    """The real network transport, counting JWKS fetches."""

    def __init__(self) -> None:
        super().__init__()
        self.fetches = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/.well-known/jwks.json"):
            self.fetches += 1
        return super().handle_request(request)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    data_dir = tmp_path_factory.mktemp("idmint-sdk")
    env = {name: value for name, value in os.environ.items() if not name.startswith("IDMINT_")}
    env.update(
        IDMINT_DATA_DIR=str(data_dir),
        IDMINT_PUBLIC_URL=f"http://127.0.0.1:{port}",
        IDMINT_ADMIN_TOKEN=ADMIN_TOKEN,
        IDMINT_CREDENTIAL_CACHE_SECONDS="0",
        IDMINT_JWKS_MAX_AGE_SECONDS=str(MAX_AGE),
    )
    created = idmint_init(env, "mint", "admin")
    with idmint_serve(env, port, data_dir / "server.log") as base_url:
        yield Server(base_url, created["apiKey"], created["authToken"])


def test_mint_both_shapes_identify_and_verify_over_loopback(server: Server) -> None:
    with server.client() as client:
        minted = client.generate_token(
            "user-1", organization_id="org-1", email="ann@example.com", is_admin=True
        )
        by_email = client.token_for_email("ann@example.com")
        session = client.identify(USER, minted.token)
        assert (session.verified, session.is_admin) == (True, True)
        with pytest.raises(EmailMismatchError) as caught:
            client.identify({**USER, "email": "bob@example.com"}, minted.token)
        assert caught.value.field == "email"
    with RemoteVerifier(server.issuer, server.api_key) as verifier:
        claims = verifier.verify(minted.token).claims
        assert (claims.user_id, claims.is_admin) == ("user-1", True)
        assert verifier.verify(by_email.token).claims.email == "ann@example.com"


def test_admin_operations_and_errors_over_loopback(server: Server) -> None:
    with server.client() as client:
        assert client.get_workspace().issuer == server.issuer
        client.create_user("jane", email="jane@example.com", organization_id="org-2")
        assert client.get_user("jane").organization_id == "org-2"
        assert "jane" in {u.user_id for u in client.iter_users(page_size=1)}
        client.delete_user("jane")
        with pytest.raises(UserNotFoundError):
            client.get_user("jane")
        with pytest.raises(UserNotFoundError):
            client.token_for_email("jane@example.com")
        with pytest.raises(AdminRequiredError):
            client.list_workspaces()
        minted = client.generate_token("user-2", organization_id="org-1")
        client.revoke(organization_id="org-1", reason="loopback")
        with pytest.raises(TokenRevokedError):
            client.identify({"userId": "user-2", "organizationId": "org-1"}, minted.token)
        assert client.audit(action="revocation.create").events[0].detail
    with server.client(auth_token="sk_wrong") as stranger:
        with pytest.raises(AuthTokenNotFoundError) as caught:
            stranger.generate_token("user-1", organization_id="org-1")
        assert caught.value.message == "Auth token not found."
    with server.client(admin_token=ADMIN_TOKEN) as admin:
        assert server.api_key in {w.api_key for w in admin.list_workspaces()}


def test_verifier_honours_the_served_max_age_and_refetches_once_after_rotation(
    server: Server,
) -> None:
    transport = CountingHTTPTransport()
    clock = FrozenClock(time.time())
    client = server.client(admin_token=ADMIN_TOKEN)
    with RemoteVerifier(
        server.issuer, server.api_key, clock=clock, transport=transport
    ) as verifier:
        verifier.verify(client.generate_token("user-1", organization_id="org-1").token)
        clock.advance(MAX_AGE - 1)
        verifier.verify(client.generate_token("user-1", organization_id="org-1").token)
        assert transport.fetches == 1
        clock.advance(1)
        verifier.verify(client.generate_token("user-1", organization_id="org-1").token)
        assert transport.fetches == 2
        clock.advance(30)  # the cooldown since that fetch is over
        rotated = client.rotate_key(now=True)
        token = client.generate_token("user-1", organization_id="org-1").token
        assert verifier.verify(token).key.kid == rotated.kid
        assert transport.fetches == 3
        client.rotate_key(now=True)
        with pytest.raises(UnknownKeyError):  # within the cooldown: no refetch
            verifier.verify(client.generate_token("user-1", organization_id="org-1").token)
        assert transport.fetches == 3
    client.close()


@pytest.mark.anyio
async def test_async_client_and_verifier_over_loopback(server: Server) -> None:
    async with AsyncIdmintClient(
        server.base_url, api_key=server.api_key, auth_token=server.auth_token
    ) as client:
        minted = await client.generate_token("user-3", organization_id="org-1")
        assert (await client.get_user("user-3")).organization_id == "org-1"
    async with AsyncRemoteVerifier(server.issuer, server.api_key) as verifier:
        assert (await verifier.verify(minted.token)).claims.subject == "user-3"


def test_closed_port_raises_unavailable() -> None:
    base_url = f"http://127.0.0.1:{free_port()}"
    client = IdmintClient(base_url, api_key="pk", auth_token="sk", timeout=2)
    with client, pytest.raises(UnavailableError) as caught:
        client.generate_token("user-1", organization_id="org-1")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    verifier = RemoteVerifier(f"{base_url}/w/pk", "pk", timeout=2)
    with pytest.raises(UnavailableError):
        verifier.verify("a.b.c")
