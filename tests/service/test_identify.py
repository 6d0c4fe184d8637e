"""Identify: the token proves who the client claims to be; isAdmin only ever from the token."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from idmint import FrozenClock
from idmint.api.errors import envelope, status_of
from idmint.jose.errors import (
    ApiKeyNotFoundError,
    EmailMismatchError,
    IdentityMismatchError,
    InvalidArgumentError,
    JwtRequiredError,
    OrganizationMismatchError,
    TokenError,
    TokenExpiredError,
    UserMismatchError,
)
from idmint.jose.tokens import MintedToken
from idmint.service import Idmint, InitResult


def _mint(
    idmint: Idmint, tenant: InitResult, user_id: str = "user-1", **fields: Any
) -> MintedToken:
    fields.setdefault("organization_id", "org-1")
    fields.setdefault("email", "ann@example.com")
    return idmint.tokens.mint(tenant.workspace.api_key, tenant.auth_token.secret, user_id, **fields)


ANN = {"userId": "user-1", "organizationId": "org-1", "email": "ann@example.com"}


def test_identify_returns_a_verified_session_and_stores_the_profile(
    idmint: Idmint, tenant: InitResult, clock: FrozenClock
) -> None:
    api_key = tenant.workspace.api_key
    minted = _mint(idmint, tenant, is_admin=True)
    clock.advance(5)
    body = {
        **ANN,
        "name": "Ann Lee",
        "photoUrl": "https://example.com/ann.png",
        "plan": "pro",
        "seats": 3,
        "tags": ["beta", "ünïcode"],
    }
    session = idmint.tokens.identify(api_key, body, minted.token)

    assert session.verified is True
    assert session.is_admin is True
    assert session.organization_id == "org-1"
    assert session.expires_at == minted.expires_at
    assert session.claims["jti"] == minted.jti
    assert session.claims["sub"] == "user-1"
    assert session.user == body

    user = idmint.users.get(api_key, "user-1")
    assert (user.email, user.organization_id, user.is_admin) == ("ann@example.com", "org-1", True)
    profile = idmint.users.profile(api_key, "user-1")
    assert profile is not None
    assert profile.profile == {
        "name": "Ann Lee",
        "photoUrl": "https://example.com/ann.png",
        "plan": "pro",
        "seats": 3,
        "tags": ["beta", "ünïcode"],
    }
    assert profile.updated_at == clock.now()

    record = idmint.store.session_record(session.id)
    assert record is not None
    assert (record.user_id, record.jti, record.verified, record.is_admin) == (
        "user-1",
        minted.jti,
        True,
        True,
    )
    assert (record.expires_at, record.created_at, record.ended_at) == (
        minted.expires_at,
        clock.now(),
        None,
    )


def test_identify_never_creates_a_user(idmint: Idmint, tenant: InitResult) -> None:
    api_key = tenant.workspace.api_key
    minted = _mint(idmint, tenant, user_id="ユーザー 🚀", email="zoë@exämple.com")
    idmint.users.delete(api_key, "ユーザー 🚀", actor="admin")
    body = {"userId": "ユーザー 🚀", "organizationId": "org-1", "email": "zoë@exämple.com"}
    session = idmint.tokens.identify(api_key, body, minted.token)
    assert session.user["userId"] == "ユーザー 🚀"
    assert idmint.users.list(api_key) == []  # only authenticated callers write users
    profile = idmint.users.profile(api_key, "ユーザー 🚀")
    assert profile is not None
    assert profile.profile == {}


def test_is_admin_never_comes_from_the_identify_body(idmint: Idmint, tenant: InitResult) -> None:
    api_key = tenant.workspace.api_key
    minted = _mint(idmint, tenant, is_admin=False)
    session = idmint.tokens.identify(
        api_key, {**ANN, "isAdmin": True, "is_admin": True}, minted.token
    )
    assert session.is_admin is False
    assert "isAdmin" not in session.user
    assert "is_admin" not in session.user
    user = idmint.users.get(api_key, "user-1")
    assert user.is_admin is False
    profile = idmint.users.profile(api_key, "user-1")
    assert profile is not None
    assert profile.profile == {}
    record = idmint.store.session_record(session.id)
    assert record is not None
    assert record.is_admin is False


def test_is_admin_from_the_token_wins_over_the_body(idmint: Idmint, tenant: InitResult) -> None:
    minted = _mint(idmint, tenant, is_admin=True)
    session = idmint.tokens.identify(
        tenant.workspace.api_key, {**ANN, "isAdmin": False}, minted.token
    )
    assert session.is_admin is True


def test_identify_of_an_existing_user_keeps_admin_and_updates_profile(
    idmint: Idmint, tenant: InitResult
) -> None:
    api_key = tenant.workspace.api_key
    idmint.users.create(api_key, "user-1", actor="admin", email="ann@example.com", is_admin=True)
    minted = _mint(idmint, tenant, is_admin=True)
    idmint.tokens.identify(api_key, {**ANN, "name": "Ann", "isAdmin": False}, minted.token)
    user = idmint.users.get(api_key, "user-1")
    assert user.is_admin is True
    profile = idmint.users.profile(api_key, "user-1")
    assert profile is not None
    assert profile.profile == {"name": "Ann"}


@pytest.mark.parametrize(
    ("body", "error", "field"),
    [
        ({**ANN, "userId": "user-2"}, UserMismatchError, "userId"),
        ({**ANN, "organizationId": "org-2"}, OrganizationMismatchError, "organizationId"),
        (
            {k: v for k, v in ANN.items() if k != "organizationId"},
            OrganizationMismatchError,
            "organizationId",
        ),
        ({**ANN, "email": "bob@example.com"}, EmailMismatchError, "email"),
        ({k: v for k, v in ANN.items() if k != "email"}, EmailMismatchError, "email"),
        ({**ANN, "email": None}, EmailMismatchError, "email"),
    ],
    ids=[
        "other-user",
        "other-org",
        "missing-org",
        "other-email",
        "missing-email",
        "null-email",
    ],
)
def test_identify_mismatches_name_the_field(
    idmint: Idmint,
    tenant: InitResult,
    body: dict[str, Any],
    error: type[IdentityMismatchError],
    field: str,
) -> None:
    minted = _mint(idmint, tenant)
    with pytest.raises(error) as info:
        idmint.tokens.identify(tenant.workspace.api_key, body, minted.token)
    assert type(info.value) is error
    assert info.value.field == field
    assert envelope(info.value)["error"]["field"] == field
    assert (
        info.value.code
        == {
            "userId": "user_mismatch",
            "organizationId": "organization_mismatch",
            "email": "email_mismatch",
        }[field]
    )
    assert status_of(info.value)[0] == 403


def test_mismatched_identify_stores_nothing(idmint: Idmint, tenant: InitResult) -> None:
    api_key = tenant.workspace.api_key
    minted = _mint(idmint, tenant)
    with pytest.raises(UserMismatchError):
        idmint.tokens.identify(api_key, {**ANN, "userId": "intruder", "name": "X"}, minted.token)
    with pytest.raises(EmailMismatchError):
        idmint.tokens.identify(
            api_key, {**ANN, "email": "x@example.com", "name": "X"}, minted.token
        )
    assert [u.user_id for u in idmint.users.list(api_key)] == ["user-1"]
    assert idmint.users.profile(api_key, "user-1") is None
    assert idmint.users.profile(api_key, "intruder") is None


def test_email_comparison_is_case_insensitive(idmint: Idmint, tenant: InitResult) -> None:
    minted = _mint(idmint, tenant, email="Ann.Lee@Example.com")
    for email in ("ann.lee@example.com", "ANN.LEE@EXAMPLE.COM", "Ann.Lee@Example.com"):
        session = idmint.tokens.identify(
            tenant.workspace.api_key, {**ANN, "email": email}, minted.token
        )
        assert session.verified is True


def test_a_client_organization_or_email_the_token_lacks_is_ignored(
    idmint: Idmint, tenant: InitResult
) -> None:
    api_key = tenant.workspace.api_key
    minted = idmint.tokens.mint(api_key, tenant.auth_token.secret, "user-1")
    session = idmint.tokens.identify(
        api_key,
        {"userId": "user-1", "organizationId": "org-9", "email": "any@example.com"},
        minted.token,
    )
    # Accepted, but not believed: not in the session, not stored anywhere.
    assert session.organization_id is None
    assert session.user == {"userId": "user-1"}
    user = idmint.users.get(api_key, "user-1")
    assert (user.organization_id, user.email) == (None, None)
    profile = idmint.users.profile(api_key, "user-1")
    assert profile is not None
    assert profile.profile == {}


def test_jwt_is_required_by_default(idmint: Idmint, tenant: InitResult) -> None:
    assert tenant.workspace.require_jwt is True
    with pytest.raises(JwtRequiredError) as info:
        idmint.tokens.identify(tenant.workspace.api_key, ANN, None)
    assert info.value.code == "jwt_required"
    assert status_of(info.value)[0] == 401
    assert idmint.users.list(tenant.workspace.api_key) == []


def test_development_mode_works_without_a_token(
    idmint: Idmint, tenant: InitResult, clock: FrozenClock
) -> None:
    api_key = tenant.workspace.api_key
    idmint.workspaces.update_settings(api_key, actor="admin", require_jwt=False)
    session = idmint.tokens.identify(api_key, {**ANN, "isAdmin": True, "name": "Ann"}, None)
    assert session.verified is False
    assert session.is_admin is False
    assert session.claims == {}
    assert session.organization_id == "org-1"  # the client's own claim, shown unverified
    assert session.expires_at == clock.now() + 48 * 3600
    assert idmint.users.list(api_key) == []  # nothing it brings reaches a later mint
    profile = idmint.users.profile(api_key, "user-1")
    assert profile is not None
    assert profile.profile == {"name": "Ann"}
    record = idmint.store.session_record(session.id)
    assert record is not None
    assert (record.verified, record.jti) == (False, None)


def test_development_mode_still_checks_a_given_token(idmint: Idmint, tenant: InitResult) -> None:
    api_key = tenant.workspace.api_key
    idmint.workspaces.update_settings(api_key, actor="admin", require_jwt=False)
    minted = _mint(idmint, tenant)
    with pytest.raises(UserMismatchError):
        idmint.tokens.identify(api_key, {**ANN, "userId": "user-2"}, minted.token)
    with pytest.raises(TokenError):
        idmint.tokens.identify(api_key, ANN, "not.a.token")
    assert idmint.tokens.identify(api_key, ANN, minted.token).verified is True


def test_expired_token(idmint: Idmint, tenant: InitResult, clock: FrozenClock) -> None:
    api_key = tenant.workspace.api_key
    minted = _mint(idmint, tenant, expires_in=600)
    clock.advance(600 + 29)  # within the leeway (30 s): still accepted
    idmint.tokens.identify(api_key, ANN, minted.token)
    clock.advance(1)  # exp + leeway: "now must be before exp" (RFC 7519 4.1.4)
    with pytest.raises(TokenExpiredError) as info:
        idmint.tokens.identify(api_key, ANN, minted.token)
    assert info.value.code == "token_expired"
    assert info.value.expired_at == datetime.fromtimestamp(minted.expires_at, UTC)


def test_token_of_another_workspace(
    idmint: Idmint, tenant: InitResult, other_tenant: InitResult
) -> None:
    foreign = idmint.tokens.mint(
        other_tenant.workspace.api_key,
        other_tenant.auth_token.secret,
        "user-1",
        organization_id="org-1",
        email="ann@example.com",
    )
    with pytest.raises(TokenError) as info:
        idmint.tokens.identify(tenant.workspace.api_key, ANN, foreign.token)
    assert info.value.code in {
        "token_unknown_kid",
        "token_audience_invalid",
        "token_issuer_invalid",
    }
    assert idmint.users.list(tenant.workspace.api_key) == []


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyLTEifQ."],
    ids=["empty", "garbage", "three-parts", "alg-none"],
)
def test_malformed_tokens(idmint: Idmint, tenant: InitResult, token: str) -> None:
    with pytest.raises(TokenError):
        idmint.tokens.identify(tenant.workspace.api_key, ANN, token)


def test_tampered_token(idmint: Idmint, tenant: InitResult) -> None:
    minted = _mint(idmint, tenant)
    header, payload, signature = minted.token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BA")
    with pytest.raises(TokenError):
        idmint.tokens.identify(tenant.workspace.api_key, ANN, f"{header}.{payload}.{flipped}")


@pytest.mark.parametrize("body", [{}, {"userId": ""}, {"userId": 42}], ids=["none", "empty", "int"])
def test_identify_needs_a_user_id(idmint: Idmint, tenant: InitResult, body: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        idmint.tokens.identify(tenant.workspace.api_key, body, None)
    assert info.value.field == "user.userId"


def test_identify_unknown_api_key(idmint: Idmint, tenant: InitResult) -> None:
    with pytest.raises(ApiKeyNotFoundError):
        idmint.tokens.identify("pk_unknown", ANN, None)


def test_sign_out_ends_the_session(idmint: Idmint, tenant: InitResult, clock: FrozenClock) -> None:
    api_key = tenant.workspace.api_key
    session = idmint.tokens.identify(api_key, ANN, _mint(idmint, tenant).token)
    clock.advance(3)
    assert idmint.tokens.sign_out(api_key, session.id) is True
    assert idmint.tokens.sign_out(api_key, session.id) is False
    record = idmint.store.session_record(session.id)
    assert record is not None
    assert record.ended_at == clock.now()


def test_sign_out_of_another_workspace_session(
    idmint: Idmint, tenant: InitResult, other_tenant: InitResult
) -> None:
    session = idmint.tokens.identify(tenant.workspace.api_key, ANN, _mint(idmint, tenant).token)
    assert idmint.tokens.sign_out(other_tenant.workspace.api_key, session.id) is False
    record = idmint.store.session_record(session.id)
    assert record is not None
    assert record.ended_at is None
