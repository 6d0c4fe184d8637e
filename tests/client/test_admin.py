"""Every admin operation of the sync client, with the auth token and with the admin token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from idmint.client import (
    AuditEvent,
    AuthTokenInfo,
    CreatedWorkspace,
    IdmintClient,
    Revocation,
    SigningKeyInfo,
    User,
    Workspace,
)
from idmint.jose.errors import (
    AdminRequiredError,
    AuthTokenRevokedError,
    AuthTokenScopeError,
    CredentialsMissingError,
    EmailTakenError,
    InvalidArgumentError,
    NotFoundError,
    TokenRevokedError,
    UserExistsError,
    UserNotFoundError,
)

from .conftest import ADMIN_TOKEN, USER, App


def test_get_workspace(app: App, client: IdmintClient) -> None:
    workspace = client.get_workspace()
    assert isinstance(workspace, Workspace)
    assert (workspace.api_key, workspace.issuer) == (app.api_key, app.issuer)
    assert workspace.require_jwt is True
    assert workspace.token_ttl_seconds == 48 * 3600
    assert workspace.allowed_domains == ()
    assert workspace.created_at.tzinfo is not None


def test_update_settings_changes_only_what_is_given(client: IdmintClient) -> None:
    updated = client.update_settings(
        require_jwt=False,
        token_ttl_seconds=3600,
        min_ttl_seconds=60,
        max_ttl_seconds=timedelta(days=1),
        auto_create_users=False,
        allowed_domains=["app.example.com", "*.example.org"],
    )
    assert (updated.require_jwt, updated.token_ttl_seconds) == (False, 3600)
    assert (updated.min_ttl_seconds, updated.max_ttl_seconds) == (60, 86400)
    assert updated.auto_create_users is False
    assert updated.allowed_domains == ("app.example.com", "*.example.org")
    renamed = client.update_settings(name="acme")
    assert renamed.name == "acme"
    assert renamed.token_ttl_seconds == 3600
    assert client.get_workspace() == renamed


def test_update_settings_refuses_lifetimes_that_do_not_nest(client: IdmintClient) -> None:
    before = client.get_workspace()
    with pytest.raises(InvalidArgumentError) as caught:
        client.update_settings(min_ttl_seconds=7200, token_ttl_seconds=3600)
    assert caught.value.field == "tokenTtlSeconds"
    assert client.get_workspace() == before


def test_update_settings_refuses_a_single_string_of_domains(client: IdmintClient) -> None:
    with pytest.raises(TypeError):
        client.update_settings(allowed_domains="app.example.com")


def test_auth_tokens_create_list_revoke(app: App, client: IdmintClient) -> None:
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    info, secret = client.create_auth_token("deploy", expires_at=expires)
    assert isinstance(info, AuthTokenInfo)
    assert (info.name, info.expires_at, info.revoked_at) == ("deploy", expires, None)
    assert secret.startswith(info.prefix)
    listed = client.list_auth_tokens()
    assert [t.name for t in listed] == ["default", "deploy"]
    assert all(secret not in repr(t) for t in listed)
    # The new token mints; revoked, it stops at once.
    minter = app.client(auth_token=secret)
    minter.generate_token("user-1", organization_id="org-1")
    revoked = client.revoke_auth_token(info.id)
    assert revoked.revoked_at is not None
    with pytest.raises(AuthTokenRevokedError):
        minter.generate_token("user-1", organization_id="org-1")
    assert client.revoke_auth_token(info.id).revoked_at == revoked.revoked_at


def test_create_auth_token_with_a_naive_or_text_expiry(client: IdmintClient) -> None:
    naive = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(days=1)
    info, _ = client.create_auth_token("naive", expires_at=naive)
    assert info.expires_at == naive.replace(tzinfo=UTC)
    text, _ = client.create_auth_token("text", expires_at="2031-01-01T00:00:00Z")
    assert text.expires_at == datetime(2031, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidArgumentError) as caught:
        client.create_auth_token("bad", expires_at="next tuesday")
    assert caught.value.field == "expiresAt"


def test_revoke_unknown_auth_token_raises_not_found(client: IdmintClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        client.revoke_auth_token("at_missing")
    assert caught.value.code == "not_found"


def test_users_create_get_list_delete(client: IdmintClient) -> None:
    created = client.create_user(
        "jane", email="jane@example.com", organization_id="org-1", name="Jane", is_admin=True
    )
    assert isinstance(created, User)
    assert (created.user_id, created.email, created.is_admin, created.email_shared) == (
        "jane",
        "jane@example.com",
        True,
        False,
    )
    assert created.profile == {"name": "Jane"}
    assert client.get_user("jane") == created
    with pytest.raises(UserExistsError):
        client.create_user("jane")
    with pytest.raises(EmailTakenError) as taken:
        client.create_user("john", email="JANE@example.com")
    assert taken.value.http_status == 409
    updated = client.update_user("jane", email="jane@example.org", organization_id=None)
    assert (updated.email, updated.organization_id, updated.is_admin) == (
        "jane@example.org",
        None,
        True,
    )
    assert client.update_user("jane", is_admin=False).is_admin is False
    with pytest.raises(UserNotFoundError):
        client.update_user("nobody", is_admin=True)
    client.delete_user("jane")
    with pytest.raises(UserNotFoundError) as caught:
        client.get_user("jane")
    assert caught.value.http_status == 404
    with pytest.raises(UserNotFoundError):
        client.delete_user("jane")


def test_list_users_pages_and_iter_users_walks_every_page(client: IdmintClient) -> None:
    ids = [f"user-{n:02d}" for n in range(7)]
    for user_id in ids:
        client.create_user(user_id)
    first = client.list_users(limit=3)
    assert [u.user_id for u in first.users] == ids[:3]
    assert first.next == "user-02"
    second = client.list_users(limit=3, after=first.next)
    assert [u.user_id for u in second.users] == ids[3:6]
    assert [u.user_id for u in client.iter_users(page_size=3)] == ids
    assert client.list_users(limit=100).next is None


def test_list_users_refuses_a_bad_limit(client: IdmintClient) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        client.list_users(limit=0)
    assert caught.value.field == "limit"


def test_user_ids_with_reserved_characters_are_escaped(client: IdmintClient) -> None:
    client.create_user("ann?x=1#frag")
    assert client.get_user("ann?x=1#frag").user_id == "ann?x=1#frag"


def test_revoke_by_user_then_identify_raises_token_revoked(app: App, client: IdmintClient) -> None:
    minted = client.generate_token("user-1", organization_id="org-1", email="ann@example.com")
    revocation = client.revoke(user_id="user-1", reason="laptop stolen")
    assert isinstance(revocation, Revocation)
    assert (revocation.kind, revocation.value, revocation.reason) == (
        "user",
        "user-1",
        "laptop stolen",
    )
    assert revocation.issued_before is not None
    with pytest.raises(TokenRevokedError) as caught:
        client.identify(USER, minted.token)
    assert (caught.value.code, caught.value.http_status) == ("token_revoked", 401)
    assert client.revocations() == [revocation]


def test_revoke_by_jti_and_by_organization(client: IdmintClient) -> None:
    by_jti = client.revoke("3q2-7wEjAAAAAAAAAAAAAA")
    assert (by_jti.kind, by_jti.issued_before) == ("jti", None)
    by_org = client.revoke(organization_id="org-9")
    assert by_org.kind == "organization"
    assert [r.kind for r in client.revocations()] == ["jti", "organization"]


@pytest.mark.parametrize("targets", [{}, {"jti": "x", "user_id": "y"}], ids=["none", "several"])
def test_revoke_needs_exactly_one_target(client: IdmintClient, targets: dict[str, str]) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        client.revoke(**targets)
    assert caught.value.field == "body"


def test_audit_pages_and_filters(client: IdmintClient) -> None:
    for n in range(3):
        client.generate_token(f"user-{n}", organization_id="org-1")
    with pytest.raises(Exception):  # noqa: B017, PT011 - any failure is audited
        client.generate_token("user-x", organization_id="org-1", expires_in=10**8)
    page = client.audit(limit=2, action="token.mint", outcome="success")
    assert all(isinstance(e, AuditEvent) for e in page.events)
    assert [e.subject for e in page.events] == ["user-2", "user-1"]
    assert page.next is not None
    older = client.audit(limit=2, before=page.next, action="token.mint", outcome="success")
    assert [e.subject for e in older.events] == ["user-0"]
    failures = client.audit(action="token.mint", outcome="failure")
    assert [e.reason_code for e in failures.events] == ["lifetime_out_of_bounds"]
    walked = list(client.iter_audit(page_size=1, action="token.mint", outcome="success"))
    assert [e.subject for e in walked] == ["user-2", "user-1", "user-0"]
    assert all(e.actor.startswith("auth_token") for e in walked)


def test_audit_refuses_a_bad_outcome(client: IdmintClient) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        client.audit(outcome="maybe")
    assert caught.value.field == "outcome"


def test_signing_keys_and_rotation(app: App, client: IdmintClient) -> None:
    (first,) = client.signing_keys()
    assert isinstance(first, SigningKeyInfo)
    assert (first.state, first.alg) == ("active", "ES256")
    pending = client.rotate_key()
    assert pending.state == "next"
    assert pending.promotes_at is not None
    assert client.rotate_key() == pending  # a rotation under way answers its key
    promoted = client.rotate_key(now=True)
    assert (promoted.kid, promoted.state) == (pending.kid, "active")
    states = {k.kid: k.state for k in client.signing_keys()}
    assert states == {first.kid: "retiring", pending.kid: "active"}
    eddsa = client.rotate_key("EdDSA", now=True)
    assert (eddsa.alg, eddsa.state) == ("EdDSA", "active")
    kids = {key["kid"] for key in client.jwks()["keys"]}
    assert kids == {first.kid, pending.kid, eddsa.kid}


def test_rotate_key_refuses_an_unknown_algorithm(client: IdmintClient) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        client.rotate_key("HS256")
    assert caught.value.field == "alg"


def test_workspaces_need_the_admin_token(app: App, client: IdmintClient) -> None:
    with pytest.raises(AdminRequiredError) as caught:
        client.list_workspaces()
    error = caught.value
    assert (error.code, error.http_status, error.status) == (
        "admin_required",
        403,
        "PERMISSION_DENIED",
    )
    with pytest.raises(AdminRequiredError):
        client.create_workspace("other")


def test_admin_token_creates_and_lists_workspaces(app: App, admin: IdmintClient) -> None:
    created = admin.create_workspace("acme", require_jwt=False, scopes=["mint", "admin"])
    assert created.workspace.name == "acme"
    assert created.workspace.require_jwt is False
    assert created.secret not in repr(created)
    assert {w.api_key for w in admin.list_workspaces()} == {app.api_key, created.workspace.api_key}
    # The new workspace's own credentials reach its admin API, and mint.
    other = app.client(api_key=created.workspace.api_key, auth_token=created.secret)
    assert other.get_workspace().name == "acme"
    assert other.generate_token("u", organization_id="o").expires_in == 48 * 3600
    # By default the first token is the backend's: it mints, and the admin API refuses it.
    backend = admin.create_workspace("shop")
    assert [t.scopes for t in admin_of(app, backend).list_auth_tokens()] == [("mint",)]
    minter = app.client(api_key=backend.workspace.api_key, auth_token=backend.secret)
    assert minter.generate_token("u", organization_id="o").expires_in == 48 * 3600
    with pytest.raises(AuthTokenScopeError):
        minter.get_workspace()


def admin_of(app: App, created: CreatedWorkspace) -> IdmintClient:
    return app.client(api_key=created.workspace.api_key, admin_token=ADMIN_TOKEN)


def test_admin_token_is_preferred_for_the_admin_api(app: App) -> None:
    # A wrong auth token would fail; the admin token carries the admin calls.
    client = app.client(auth_token="sk_wrong", admin_token=ADMIN_TOKEN)
    assert client.get_workspace().api_key == app.api_key


def test_admin_api_without_a_credential_fails_before_sending(app: App) -> None:
    client = app.client(auth_token=None)
    with pytest.raises(CredentialsMissingError):
        client.get_workspace()
