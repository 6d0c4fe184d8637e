"""Minting: both API shapes, the credential check on the hot path, users and lifetimes."""

from __future__ import annotations

import json

import pytest

from idmint import FrozenClock
from idmint.jose._b64 import b64decode
from idmint.jose.errors import (
    ApiKeyNotFoundError,
    AuthTokenExpiredError,
    AuthTokenNotFoundError,
    AuthTokenRevokedError,
    AuthTokenWrongWorkspaceError,
    InvalidArgumentError,
    InvalidEmailError,
    InvalidLifetimeError,
    UserNotFoundError,
)
from idmint.service import Idmint, InitResult

from .conftest import PUBLIC_URL, user_count


def _header(token: str) -> dict[str, object]:
    return json.loads(b64decode(token.split(".")[0]))  # type: ignore[no-any-return]


def test_mint_creates_the_user_and_a_verifiable_token(
    idmint: Idmint, tenant: InitResult, clock: FrozenClock
) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    minted = idmint.tokens.mint(
        api_key, secret, "user-1", organization_id="org-1", email="ann@example.com", is_admin=True
    )
    now = int(clock.now())
    assert dict(minted.claims) == {
        "iss": f"{PUBLIC_URL}/w/{api_key}",
        "aud": api_key,
        "sub": "user-1",
        "organizationId": "org-1",
        "email": "ann@example.com",
        "isAdmin": True,
        "iat": now,
        "nbf": now,
        "exp": now + 48 * 3600,
        "jti": minted.jti,
    }
    [key] = idmint.store.signing_keys(tenant.workspace.id)
    assert _header(minted.token) == {"alg": "ES256", "typ": "JWT", "kid": key.kid}
    assert minted.expires_in == 48 * 3600

    verified = idmint.tokens.verify(api_key, minted.token)
    assert verified.claims.subject == "user-1"
    assert verified.claims.is_admin is True

    user = idmint.users.get(api_key, "user-1")
    assert (user.organization_id, user.email, user.is_admin) == ("org-1", "ann@example.com", True)


def test_second_mint_updates_organization_email_and_admin(
    idmint: Idmint, tenant: InitResult, clock: FrozenClock
) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    idmint.tokens.mint(
        api_key, secret, "user-1", organization_id="org-1", email="a@example.com", is_admin=True
    )
    clock.advance(60)
    idmint.tokens.mint(
        api_key, secret, "user-1", organization_id="org-2", email="b@example.com", is_admin=False
    )
    user = idmint.users.get(api_key, "user-1")
    assert (user.organization_id, user.email, user.is_admin) == ("org-2", "b@example.com", False)
    assert user.updated_at == user.created_at + 60
    assert user_count(idmint.store) == 1


def test_mint_without_organization_or_email_keeps_the_stored_ones(
    idmint: Idmint, tenant: InitResult
) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    idmint.tokens.mint(api_key, secret, "user-1", organization_id="org-1", email="a@example.com")
    minted = idmint.tokens.mint(api_key, secret, "user-1")
    assert "organizationId" not in minted.claims
    assert "email" not in minted.claims
    user = idmint.users.get(api_key, "user-1")
    assert (user.organization_id, user.email) == ("org-1", "a@example.com")


def test_mint_with_auto_create_off_needs_an_existing_user(
    idmint: Idmint, tenant: InitResult
) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    idmint.workspaces.update_settings(api_key, actor="admin", auto_create_users=False)
    with pytest.raises(UserNotFoundError) as info:
        idmint.tokens.mint(api_key, secret, "stranger", email="s@example.com")
    assert info.value.code == "user_not_found"
    assert user_count(idmint.store) == 0

    idmint.users.create(api_key, "known", actor="admin", organization_id="org-1")
    minted = idmint.tokens.mint(api_key, secret, "known", organization_id="org-1")
    assert minted.claims["sub"] == "known"


def test_mint_unicode_user(idmint: Idmint, tenant: InitResult) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    minted = idmint.tokens.mint(
        api_key, secret, "ユーザー 🚀", organization_id="組織", email="zoë@exämple.com"
    )
    claims = idmint.tokens.verify(api_key, minted.token).claims
    assert (claims.subject, claims.organization_id, claims.email) == (
        "ユーザー 🚀",
        "組織",
        "zoë@exämple.com",
    )
    assert idmint.users.get(api_key, "ユーザー 🚀").email == "zoë@exämple.com"


# --- credentials ------------------------------------------------------------------------------


def test_mint_credential_errors(
    idmint: Idmint, tenant: InitResult, other_tenant: InitResult
) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    with pytest.raises(ApiKeyNotFoundError):
        idmint.tokens.mint("pk_unknown", secret, "user-1")
    with pytest.raises(AuthTokenNotFoundError) as info:
        idmint.tokens.mint(api_key, "sk_unknown", "user-1")
    assert info.value.message == "Auth token not found."
    with pytest.raises(AuthTokenWrongWorkspaceError):
        idmint.tokens.mint(api_key, other_tenant.auth_token.secret, "user-1")
    assert user_count(idmint.store) == 0


def test_revoked_auth_token_stops_minting_at_once_despite_the_cache(
    idmint: Idmint, tenant: InitResult
) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    spare = idmint.workspaces.create_auth_token(api_key, "spare", actor="admin")
    idmint.tokens.mint(api_key, secret, "user-1")  # warms the credential cache
    idmint.tokens.mint(api_key, spare.secret, "user-1")

    idmint.workspaces.revoke_auth_token(api_key, tenant.auth_token.record.id, actor="admin")
    with pytest.raises(AuthTokenRevokedError) as info:
        idmint.tokens.mint(api_key, secret, "user-1")
    assert info.value.code == "auth_token_revoked"
    # The workspace's other tokens keep working.
    idmint.tokens.mint(api_key, spare.secret, "user-1")


def test_expired_auth_token_stops_minting(
    idmint: Idmint, tenant: InitResult, clock: FrozenClock
) -> None:
    api_key = tenant.workspace.api_key
    short = idmint.workspaces.create_auth_token(
        api_key, "short", actor="admin", expires_at=clock.now() + 10
    )
    idmint.tokens.mint(api_key, short.secret, "user-1")
    clock.advance(10)
    with pytest.raises(AuthTokenExpiredError):
        idmint.tokens.mint(api_key, short.secret, "user-1")


# --- input and lifetimes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_id", "fields", "error"),
    [
        ("", {}, InvalidArgumentError),
        ("user\x00", {}, InvalidArgumentError),
        ("user-1", {"organization_id": " "}, InvalidArgumentError),
        ("user-1", {"email": "nope"}, InvalidEmailError),
    ],
)
def test_mint_rejects_bad_input_and_stores_nothing(
    idmint: Idmint,
    tenant: InitResult,
    user_id: str,
    fields: dict[str, str],
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        idmint.tokens.mint(tenant.workspace.api_key, tenant.auth_token.secret, user_id, **fields)
    assert user_count(idmint.store) == 0


def test_expires_in_within_the_bounds(idmint: Idmint, tenant: InitResult) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    for seconds in (1, 300, 604_800):
        minted = idmint.tokens.mint(api_key, secret, "user-1", expires_in=seconds)
        assert minted.expires_in == seconds


@pytest.mark.parametrize("seconds", [0, -5, 604_801, 30 * 24 * 3600])
def test_expires_in_outside_the_bounds(idmint: Idmint, tenant: InitResult, seconds: int) -> None:
    with pytest.raises(InvalidLifetimeError) as info:
        idmint.tokens.mint(
            tenant.workspace.api_key, tenant.auth_token.secret, "user-1", expires_in=seconds
        )
    assert info.value.code == "lifetime_out_of_bounds"
    assert user_count(idmint.store) == 0


def test_workspace_lifetime_settings_apply_to_the_next_mint(
    idmint: Idmint, tenant: InitResult
) -> None:
    # No clock movement between the change and the mint: a change must apply at once.
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    assert idmint.tokens.mint(api_key, secret, "user-1").expires_in == 48 * 3600

    idmint.workspaces.update_settings(
        api_key, actor="admin", min_ttl_seconds=60, token_ttl_seconds=600, max_ttl_seconds=3600
    )
    assert idmint.tokens.mint(api_key, secret, "user-1").expires_in == 600
    assert idmint.tokens.mint(api_key, secret, "user-1", expires_in=3600).expires_in == 3600
    for seconds in (59, 3601):
        with pytest.raises(InvalidLifetimeError):
            idmint.tokens.mint(api_key, secret, "user-1", expires_in=seconds)


def test_workspace_lifetime_settings_after_time_passes(
    idmint: Idmint, tenant: InitResult, clock: FrozenClock
) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    idmint.tokens.mint(api_key, secret, "user-1")
    clock.advance(1)
    idmint.workspaces.update_settings(
        api_key, actor="admin", min_ttl_seconds=60, token_ttl_seconds=600, max_ttl_seconds=3600
    )
    assert idmint.tokens.mint(api_key, secret, "user-1").expires_in == 600
    with pytest.raises(InvalidLifetimeError):
        idmint.tokens.mint(api_key, secret, "user-1", expires_in=3601)


# --- by email (the second API shape) ----------------------------------------------------------


def test_mint_for_email_takes_everything_from_the_user_record(
    idmint: Idmint, tenant: InitResult
) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    idmint.users.create(
        api_key,
        "user-1",
        actor="admin",
        email="Ann@Example.com",
        organization_id="org-1",
        is_admin=True,
    )
    minted, user = idmint.tokens.mint_for_email(api_key, secret, "ann@EXAMPLE.com")
    assert user.user_id == "user-1"
    claims = idmint.tokens.verify(api_key, minted.token).claims
    assert (claims.subject, claims.organization_id, claims.email, claims.is_admin) == (
        "user-1",
        "org-1",
        "Ann@Example.com",
        True,
    )
    assert minted.expires_in == 48 * 3600


def test_mint_for_email_non_admin_user(idmint: Idmint, tenant: InitResult) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    idmint.users.create(api_key, "user-2", actor="admin", email="bob@example.com")
    minted, _ = idmint.tokens.mint_for_email(api_key, secret, "bob@example.com")
    assert minted.claims["isAdmin"] is False
    assert "organizationId" not in minted.claims


def test_mint_for_unknown_email_creates_no_user(idmint: Idmint, tenant: InitResult) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    idmint.users.create(api_key, "user-1", actor="admin", email="ann@example.com")
    with pytest.raises(UserNotFoundError) as info:
        idmint.tokens.mint_for_email(api_key, secret, "stranger@example.com")
    assert info.value.code == "user_not_found"
    assert user_count(idmint.store) == 1
    assert [u.user_id for u in idmint.users.list(api_key)] == ["user-1"]


@pytest.mark.parametrize("email", ["ann", "ann@", "@example.com", "ann@example", "a b@example.com"])
def test_mint_for_malformed_email(idmint: Idmint, tenant: InitResult, email: str) -> None:
    with pytest.raises(InvalidEmailError) as info:
        idmint.tokens.mint_for_email(tenant.workspace.api_key, tenant.auth_token.secret, email)
    assert info.value.code == "invalid_email"
    assert user_count(idmint.store) == 0


def test_mint_for_email_checks_credentials(
    idmint: Idmint, tenant: InitResult, other_tenant: InitResult
) -> None:
    api_key = tenant.workspace.api_key
    idmint.users.create(api_key, "user-1", actor="admin", email="ann@example.com")
    with pytest.raises(AuthTokenNotFoundError):
        idmint.tokens.mint_for_email(api_key, "sk_unknown", "ann@example.com")
    with pytest.raises(AuthTokenWrongWorkspaceError):
        idmint.tokens.mint_for_email(api_key, other_tenant.auth_token.secret, "ann@example.com")


def test_mint_for_email_of_another_workspace_user(
    idmint: Idmint, tenant: InitResult, other_tenant: InitResult
) -> None:
    idmint.users.create(
        other_tenant.workspace.api_key, "user-1", actor="admin", email="ann@example.com"
    )
    with pytest.raises(UserNotFoundError):
        idmint.tokens.mint_for_email(
            tenant.workspace.api_key, tenant.auth_token.secret, "ann@example.com"
        )


# --- for an already trusted caller (the API after authenticate, the local CLI) ----------------


def test_issue_mints_for_a_trusted_caller_and_audits_its_actor(
    idmint: Idmint, tenant: InitResult
) -> None:
    api_key = tenant.workspace.api_key
    minted = idmint.tokens.issue(
        tenant.workspace, "user-1", actor="cli", email="a@example.com", expires_in=600
    )
    assert minted.expires_in == 600
    assert idmint.tokens.verify(api_key, minted.token).claims.email == "a@example.com"
    assert idmint.users.get(api_key, "user-1").email == "a@example.com"
    idmint.audit.flush()
    [event] = idmint.store.audit_events(tenant.workspace.id, action="token.mint")
    assert (event.actor, event.outcome, event.subject) == ("cli", "success", "user-1")


def test_issue_for_email_respects_the_lifetime_bounds(idmint: Idmint, tenant: InitResult) -> None:
    idmint.users.create(tenant.workspace.api_key, "user-1", actor="admin", email="a@example.com")
    minted, user = idmint.tokens.issue_for_email(
        tenant.workspace, "A@example.com", actor="cli", expires_in=600
    )
    assert (minted.expires_in, user.user_id) == (600, "user-1")
    with pytest.raises(InvalidLifetimeError):
        idmint.tokens.issue_for_email(
            tenant.workspace, "a@example.com", actor="cli", expires_in=604_801
        )
