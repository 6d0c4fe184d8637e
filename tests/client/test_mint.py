"""Both mint shapes through the sync client, and identify with what they mint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from idmint.client import GeneratedToken, IdmintClient
from idmint.jose.errors import (
    AuthTokenNotFoundError,
    AuthTokenRevokedError,
    CredentialsMissingError,
    InvalidEmailError,
    InvalidLifetimeError,
    UserNotFoundError,
)
from idmint.jose.tokens import verify

from .conftest import USER, App


def test_generate_token_returns_token_lifetime_and_aware_expiry(
    app: App, client: IdmintClient
) -> None:
    minted = client.generate_token(
        "user-1", organization_id="org-1", email="ann@example.com", is_admin=True
    )
    assert isinstance(minted, GeneratedToken)
    assert minted.expires_in == 48 * 3600
    assert minted.expires_at == datetime.fromtimestamp(app.clock.now() + 48 * 3600, UTC)
    assert minted.expires_at.tzinfo is not None
    ring = app.idmint.keys.for_workspace(app.idmint.workspaces.get(app.api_key)).ring
    claims = verify(
        minted.token, ring, issuer=app.issuer, audience=app.api_key, clock=app.clock
    ).claims
    assert (claims.subject, claims.organization_id, claims.email, claims.is_admin) == (
        "user-1",
        "org-1",
        "ann@example.com",
        True,
    )


def test_generated_token_repr_hides_the_token(client: IdmintClient) -> None:
    minted = client.generate_token("user-1", organization_id="org-1")
    assert minted.token not in repr(minted)
    assert "expires_in=172800" in repr(minted)


@pytest.mark.parametrize("expires_in", [600, timedelta(minutes=10)], ids=["int", "timedelta"])
def test_generate_token_with_lifetime(
    app: App, client: IdmintClient, expires_in: int | timedelta
) -> None:
    minted = client.generate_token("user-1", organization_id="org-1", expires_in=expires_in)
    assert minted.expires_in == 600
    assert minted.expires_at.timestamp() == app.clock.now() + 600


def test_generate_token_outside_bounds_raises_invalid_lifetime(client: IdmintClient) -> None:
    with pytest.raises(InvalidLifetimeError) as caught:
        client.generate_token("user-1", organization_id="org-1", expires_in=10**8)
    error = caught.value
    assert (error.code, error.http_status, error.status) == (
        "lifetime_out_of_bounds",
        400,
        "INVALID_ARGUMENT",
    )
    assert "604800" in error.message


def test_generate_token_with_unknown_auth_token_raises_auth_token_not_found(app: App) -> None:
    client = app.client(auth_token="sk_not_a_real_token")
    with pytest.raises(AuthTokenNotFoundError) as caught:
        client.generate_token("user-1", organization_id="org-1")
    error = caught.value
    assert (error.code, error.http_status, error.status, error.message) == (
        "auth_token_not_found",
        400,
        "INVALID_ARGUMENT",
        "Auth token not found.",
    )


def test_generate_token_with_bad_email_names_the_field(client: IdmintClient) -> None:
    with pytest.raises(InvalidEmailError) as caught:
        client.generate_token("user-1", organization_id="org-1", email="not-an-email")
    assert caught.value.field == "data.userProperties.email"


def test_token_for_email_mints_for_an_existing_user(app: App, client: IdmintClient) -> None:
    client.create_user("jane", email="jane@example.com", organization_id="org-2")
    minted = client.token_for_email("JANE@example.com")
    assert minted.expires_in == 48 * 3600
    assert minted.expires_at == datetime.fromtimestamp(app.clock.now() + 48 * 3600, UTC)
    session = client.identify(
        {"userId": "jane", "organizationId": "org-2", "email": "jane@example.com"}, minted.token
    )
    assert session.verified
    assert session.mode == "jwt"


def test_token_for_unknown_email_raises_user_not_found(client: IdmintClient) -> None:
    with pytest.raises(UserNotFoundError) as caught:
        client.token_for_email("nobody@example.com")
    assert (caught.value.code, caught.value.http_status) == ("user_not_found", 404)


def test_token_for_malformed_email_names_username(client: IdmintClient) -> None:
    with pytest.raises(InvalidEmailError) as caught:
        client.token_for_email("nobody")
    assert caught.value.field == "username"


def test_minting_with_a_revoked_auth_token_raises_auth_token_revoked(
    app: App, admin: IdmintClient
) -> None:
    admin.revoke_auth_token(app.token_id)
    with pytest.raises(AuthTokenRevokedError):
        app.client().generate_token("user-1", organization_id="org-1")
    with pytest.raises(AuthTokenRevokedError):
        app.client().token_for_email("ann@example.com")


def test_identify_returns_the_session(app: App, client: IdmintClient) -> None:
    minted = client.generate_token("user-1", organization_id="org-1", email="ann@example.com")
    session = client.identify({**USER, "name": "Ann", "plan": "pro"}, minted.token)
    assert session.user["userId"] == "user-1"
    assert session.organization_id == "org-1"
    assert session.is_admin is False
    assert session.expires_at == minted.expires_at
    assert client.get_user("user-1").profile == {"name": "Ann", "plan": "pro"}
    assert client.sign_out(session.id) is True
    assert client.sign_out(session.id) is False


def test_minting_without_credentials_fails_before_sending(app: App) -> None:
    client = app.client(auth_token=None)
    with pytest.raises(CredentialsMissingError, match="auth_token"):
        client.generate_token("user-1", organization_id="org-1")
    with pytest.raises(CredentialsMissingError, match="api_key"):
        app.client(api_key=None).token_for_email("ann@example.com")
