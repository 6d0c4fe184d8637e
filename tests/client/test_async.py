"""``AsyncIdmintClient`` has the sync client's surface and behaves the same, through
``httpx.ASGITransport`` into the real app."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

import httpx
import pytest

from idmint.client import AsyncIdmintClient, IdmintClient
from idmint.jose.errors import (
    AdminRequiredError,
    AuthTokenNotFoundError,
    InvalidArgumentError,
    InvalidLifetimeError,
    TokenExpiredError,
    UnavailableError,
    UserNotFoundError,
)

from .conftest import ADMIN_TOKEN, USER, App

pytestmark = pytest.mark.anyio


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(cls).items()
        if callable(member) and not name.startswith("_")
    }


def test_async_client_has_every_method_of_the_sync_client_with_the_same_parameters() -> None:
    sync, asynchronous = _public(IdmintClient), _public(AsyncIdmintClient)
    assert set(sync) - {"close"} == set(asynchronous) - {"close", "aclose"}
    for name, signature in sync.items():
        assert list(asynchronous[name].parameters.values()) == list(
            signature.parameters.values()
        ), name
        if name.startswith("iter_") or name == "close":
            continue
        assert inspect.iscoroutinefunction(getattr(AsyncIdmintClient, name)), name
    assert inspect.isasyncgenfunction(AsyncIdmintClient.iter_users)
    assert inspect.isasyncgenfunction(AsyncIdmintClient.iter_audit)


async def test_both_mint_shapes(app: App, aclient: AsyncIdmintClient) -> None:
    minted = await aclient.generate_token(
        "user-1", organization_id="org-1", email="ann@example.com", expires_in=900
    )
    assert minted.expires_in == 900
    assert minted.expires_at == datetime.fromtimestamp(app.clock.now() + 900, UTC)
    by_email = await aclient.token_for_email("ann@example.com")
    assert by_email.expires_in == 48 * 3600
    session = await aclient.identify(USER, by_email.token)
    assert (session.user["userId"], session.verified) == ("user-1", True)
    assert await aclient.sign_out(session.id) is True


async def test_admin_operations(app: App, aclient: AsyncIdmintClient) -> None:
    assert (await aclient.get_workspace()).api_key == app.api_key
    assert (await aclient.update_settings(token_ttl_seconds=7200)).token_ttl_seconds == 7200
    info, secret = await aclient.create_auth_token("ci")
    assert secret.startswith(info.prefix)
    assert [t.name for t in await aclient.list_auth_tokens()] == ["default", "ci"]
    assert (await aclient.revoke_auth_token(info.id)).revoked_at is not None
    for n in range(5):
        await aclient.create_user(f"u{n}", email=f"u{n}@example.com")
    assert (await aclient.get_user("u3")).email == "u3@example.com"
    moved = await aclient.update_user("u3", email="u3@example.org", is_admin=True)
    assert (moved.email, moved.is_admin) == ("u3@example.org", True)
    page = await aclient.list_users(limit=2)
    assert [u.user_id for u in page.users] == ["u0", "u1"]
    assert [u.user_id async for u in aclient.iter_users(page_size=2)] == [f"u{n}" for n in range(5)]
    await aclient.delete_user("u4")
    with pytest.raises(UserNotFoundError):
        await aclient.get_user("u4")
    revocation = await aclient.revoke(user_id="u0", reason="test")
    assert await aclient.revocations() == [revocation]
    events = [e.action async for e in aclient.iter_audit(page_size=3)]
    assert "revocation.create" in events
    assert (await aclient.audit(limit=1)).events[0].action == "revocation.create"
    rotated = await aclient.rotate_key(now=True)
    assert {k.kid for k in await aclient.signing_keys()} >= {rotated.kid}
    assert rotated.kid in {k["kid"] for k in (await aclient.jwks())["keys"]}
    with pytest.raises(AdminRequiredError):
        await aclient.list_workspaces()
    async with app.async_client(admin_token=ADMIN_TOKEN) as admin:
        created = await admin.create_workspace("acme")
        assert len(await admin.list_workspaces()) == 2
        assert created.secret


async def test_errors_map_the_same(app: App, aclient: AsyncIdmintClient) -> None:
    with pytest.raises(InvalidLifetimeError):
        await aclient.generate_token("user-1", organization_id="org-1", expires_in=10**8)
    with pytest.raises(InvalidArgumentError) as caught:
        await aclient.generate_token("user-1", organization_id="")
    assert caught.value.field == "data.userProperties.organizationId"
    async with app.async_client(auth_token="sk_nope") as stranger:
        with pytest.raises(AuthTokenNotFoundError) as not_found:
            await stranger.generate_token("user-1", organization_id="org-1")
    assert not_found.value.message == "Auth token not found."
    minted = await aclient.generate_token(
        "user-1", organization_id="org-1", email="ann@example.com", expires_in=30
    )
    app.clock.advance(30 + app.settings.leeway_seconds)
    with pytest.raises(TokenExpiredError) as expired:
        await aclient.identify(USER, minted.token)
    assert expired.value.expired_at == minted.expires_at


async def test_transport_failure_raises_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with AsyncIdmintClient(
        "http://idmint", api_key="pk", auth_token="sk", transport=httpx.MockTransport(refuse)
    ) as client:
        with pytest.raises(UnavailableError) as caught:
            await client.generate_token("u", organization_id="o")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_passed_http_client_is_not_closed(app: App) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.app)) as http:
        client = AsyncIdmintClient(
            app.base_url, api_key=app.api_key, auth_token=app.secret, http_client=http
        )
        await client.close()
        assert not http.is_closed
        assert (await client.get_workspace()).api_key == app.api_key
