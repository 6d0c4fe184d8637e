"""The store's interface, run against SQLite and PostgreSQL alike (see conftest.py)."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from idmint.api.errors import status_of
from idmint.jose.errors import EmailTakenError, UnavailableError, UserExistsError
from idmint.store import (
    AuditEvent,
    AuthToken,
    Organization,
    Revocation,
    Session,
    SigningKeyRow,
    Store,
    User,
    Workspace,
)

NOW = 1_800_000_000.25
_ids = itertools.count()


def _next(prefix: str) -> str:
    return f"{prefix}_{next(_ids)}"


def make_workspace(store: Store, *, created_at: float = NOW, **values: object) -> Workspace:
    fields: dict[str, object] = {
        "id": _next("ws"),
        "api_key": _next("pk"),
        "name": "Acme",
        "require_jwt": True,
        "token_ttl_seconds": 172_800,
        "min_ttl_seconds": 1,
        "max_ttl_seconds": 604_800,
        "auto_create_users": True,
        "allowed_domains": [],
        "created_at": created_at,
        "updated_at": created_at,
    }
    fields.update(values)
    workspace = Workspace(**fields)
    store.add(workspace)
    return workspace


def make_auth_token(
    store: Store, workspace: Workspace, *, created_at: float = NOW, **values: object
) -> AuthToken:
    fields: dict[str, object] = {
        "id": _next("at"),
        "workspace_id": workspace.id,
        "name": "backend",
        "secret_hash": f"{next(_ids):064x}",
        "prefix": "sk_abcd",
        "created_at": created_at,
        "last_used_at": None,
        "revoked_at": None,
        "expires_at": None,
    }
    fields.update(values)
    token = AuthToken(**fields)
    store.add(token)
    return token


def make_user(
    workspace: Workspace, user_id: str, *, created_at: float = NOW, **values: object
) -> User:
    fields: dict[str, object] = {
        "workspace_id": workspace.id,
        "user_id": user_id,
        "organization_id": None,
        "email": None,
        "email_conflict": None,
        "is_admin": False,
        "created_at": created_at,
        "updated_at": created_at,
    }
    fields.update(values)
    return User(**fields)


def count(store: Store, model: type) -> int:
    with store.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def organizations(store: Store, workspace: Workspace) -> list[str]:
    with store.transaction() as session:
        query = select(Organization.organization_id).where(
            Organization.workspace_id == workspace.id
        )
        return sorted(session.scalars(query).all())


# --- workspaces -------------------------------------------------------------------------------


def test_workspace_by_api_key(store: Store) -> None:
    first = make_workspace(store, name="First", allowed_domains=["*.example.com"])
    second = make_workspace(store, name="Second")

    found = store.workspace_by_api_key(first.api_key)
    assert found is not None
    assert (found.id, found.name, found.allowed_domains) == (
        first.id,
        "First",
        ["*.example.com"],
    )
    found_second = store.workspace_by_api_key(second.api_key)
    assert found_second is not None
    assert found_second.id == second.id
    assert store.workspace_by_api_key("pk_unknown") is None
    assert store.workspace_by_api_key(first.id) is None  # the id is not the API key


def test_workspaces_ordered_by_creation(store: Store) -> None:
    later = make_workspace(store, created_at=NOW + 10)
    earlier = make_workspace(store, created_at=NOW)
    assert [w.id for w in store.workspaces()] == [earlier.id, later.id]


def test_api_key_is_unique(store: Store) -> None:
    first = make_workspace(store)
    with pytest.raises(IntegrityError):
        make_workspace(store, api_key=first.api_key)


def test_update_workspace(store: Store) -> None:
    workspace = make_workspace(store)
    updated = store.update_workspace(
        workspace.id, require_jwt=False, token_ttl_seconds=3600, updated_at=NOW + 5
    )
    assert (updated.require_jwt, updated.token_ttl_seconds, updated.updated_at) == (
        False,
        3600,
        NOW + 5,
    )
    reread = store.workspace_by_api_key(workspace.api_key)
    assert reread is not None
    assert (reread.require_jwt, reread.token_ttl_seconds, reread.name) == (False, 3600, "Acme")


# --- auth tokens ------------------------------------------------------------------------------


def test_auth_token_by_hash(store: Store) -> None:
    workspace = make_workspace(store)
    token = make_auth_token(store, workspace, name="ci", expires_at=NOW + 60)
    make_auth_token(store, workspace)

    found = store.auth_token_by_hash(token.secret_hash)
    assert found is not None
    assert (found.id, found.workspace_id, found.name, found.expires_at) == (
        token.id,
        workspace.id,
        "ci",
        NOW + 60,
    )
    assert found.revoked_at is None
    assert found.last_used_at is None
    assert store.auth_token_by_hash("0" * 64) is None


def test_auth_token_hash_is_unique(store: Store) -> None:
    workspace = make_workspace(store)
    token = make_auth_token(store, workspace)
    with pytest.raises(IntegrityError):
        make_auth_token(store, workspace, secret_hash=token.secret_hash)


def test_auth_tokens_of_a_workspace_in_creation_order(store: Store) -> None:
    workspace, other = make_workspace(store), make_workspace(store)
    second = make_auth_token(store, workspace, created_at=NOW + 1)
    first = make_auth_token(store, workspace, created_at=NOW)
    make_auth_token(store, other)
    assert [t.id for t in store.auth_tokens(workspace.id)] == [first.id, second.id]


def test_revoke_auth_token_is_idempotent_and_keeps_the_first_time(store: Store) -> None:
    workspace = make_workspace(store)
    token = make_auth_token(store, workspace)

    revoked = store.revoke_auth_token(workspace.id, token.id, NOW + 10)
    assert revoked is not None
    assert revoked.revoked_at == NOW + 10
    again = store.revoke_auth_token(workspace.id, token.id, NOW + 99)
    assert again is not None
    assert again.revoked_at == NOW + 10

    reread = store.auth_token_by_hash(token.secret_hash)
    assert reread is not None
    assert reread.revoked_at == NOW + 10


def test_revoke_auth_token_of_another_workspace_or_unknown(store: Store) -> None:
    workspace, other = make_workspace(store), make_workspace(store)
    token = make_auth_token(store, workspace)

    assert store.revoke_auth_token(other.id, token.id, NOW) is None
    assert store.revoke_auth_token(workspace.id, "at_unknown", NOW) is None
    reread = store.auth_token_by_hash(token.secret_hash)
    assert reread is not None
    assert reread.revoked_at is None


def test_touch_auth_tokens(store: Store) -> None:
    workspace = make_workspace(store)
    first, second, untouched = (make_auth_token(store, workspace) for _ in range(3))

    for token_id, at in ((first.id, NOW + 1), (second.id, NOW + 2), ("at_unknown", NOW + 3)):
        store.commits.touch(token_id, at)
    store.drain()
    store.commits.touch(first.id, NOW + 4)
    store.commits.touch(first.id, NOW + 3)  # an older time does not win over a newer one
    store.drain()

    used = {t.id: t.last_used_at for t in store.auth_tokens(workspace.id)}
    assert used == {first.id: NOW + 4, second.id: NOW + 2, untouched.id: None}


# --- users ------------------------------------------------------------------------------------


def test_create_user_and_read_it_back(store: Store) -> None:
    workspace = make_workspace(store)
    store.create_user(
        make_user(
            workspace, "user-1", organization_id="org-1", email="Ann@Example.com", is_admin=True
        ),
        {"name": "Ann", "plan": "pro", "seats": 3},
    )
    user = store.user(workspace.id, "user-1")
    assert user is not None
    assert (user.organization_id, user.email, user.email_key, user.is_admin) == (
        "org-1",
        "Ann@Example.com",
        "ann@example.com",
        True,
    )
    profile = store.user_profile(workspace.id, "user-1")
    assert profile is not None
    assert (profile.profile, profile.updated_at) == (
        {"name": "Ann", "plan": "pro", "seats": 3},
        NOW,
    )
    assert organizations(store, workspace) == ["org-1"]
    assert store.user(workspace.id, "user-2") is None
    assert store.user_profile(workspace.id, "user-2") is None


def test_create_duplicate_user_raises_user_exists(store: Store) -> None:
    workspace = make_workspace(store)
    store.create_user(make_user(workspace, "user-1", email="first@example.com"))
    with pytest.raises(UserExistsError) as info:
        store.create_user(make_user(workspace, "user-1", email="second@example.com"))
    assert info.value.code == "user_exists"
    user = store.user(workspace.id, "user-1")
    assert user is not None
    assert user.email == "first@example.com"


def test_same_user_id_in_two_workspaces(store: Store) -> None:
    workspace, other = make_workspace(store), make_workspace(store)
    store.create_user(make_user(workspace, "user-1", email="a@example.com"))
    store.create_user(make_user(other, "user-1", email="b@example.com"))
    first, second = store.user(workspace.id, "user-1"), store.user(other.id, "user-1")
    assert first is not None
    assert second is not None
    assert (first.email, second.email) == ("a@example.com", "b@example.com")


def test_create_users_sharing_an_organization(store: Store) -> None:
    workspace = make_workspace(store)
    store.create_user(make_user(workspace, "user-1", organization_id="org-1"))
    store.create_user(make_user(workspace, "user-2", organization_id="org-1"))
    assert organizations(store, workspace) == ["org-1"]


def test_upsert_user_creates_with_defaults_and_the_organization(store: Store) -> None:
    workspace = make_workspace(store)
    store.upsert_user(
        workspace.id, "user-1", {"organization_id": "org-1", "email": "a@example.com"}, NOW
    )
    user = store.user(workspace.id, "user-1")
    assert user is not None
    assert (user.organization_id, user.email, user.is_admin) == ("org-1", "a@example.com", False)
    assert (user.created_at, user.updated_at) == (NOW, NOW)
    assert organizations(store, workspace) == ["org-1"]


def test_upsert_user_updates_only_the_given_fields(store: Store) -> None:
    workspace = make_workspace(store)
    store.upsert_user(
        workspace.id,
        "user-1",
        {"organization_id": "org-1", "email": "a@example.com", "is_admin": True},
        NOW,
    )
    store.upsert_user(workspace.id, "user-1", {"email": "new@example.com"}, NOW + 5)

    user = store.user(workspace.id, "user-1")
    assert user is not None
    assert (user.organization_id, user.email, user.is_admin) == ("org-1", "new@example.com", True)
    assert (user.created_at, user.updated_at) == (NOW, NOW + 5)

    store.upsert_user(
        workspace.id,
        "user-1",
        {"organization_id": "org-2", "is_admin": False},
        NOW + 9,
    )
    user = store.user(workspace.id, "user-1")
    assert user is not None
    assert (user.organization_id, user.email, user.is_admin) == ("org-2", "new@example.com", False)
    assert organizations(store, workspace) == ["org-1", "org-2"]
    assert count(store, User) == 1


def test_upsert_user_with_no_values_touches_only_updated_at(store: Store) -> None:
    workspace = make_workspace(store)
    store.upsert_user(workspace.id, "user-1", {"email": "a@example.com"}, NOW)
    store.upsert_user(workspace.id, "user-1", {}, NOW + 1)
    user = store.user(workspace.id, "user-1")
    assert user is not None
    assert (user.email, user.updated_at) == ("a@example.com", NOW + 1)


def test_user_by_email_is_case_insensitive(store: Store) -> None:
    workspace, other = make_workspace(store), make_workspace(store)
    store.create_user(make_user(workspace, "user-1", email="Ann.Lee@Example.COM"))
    store.create_user(make_user(other, "user-9", email="ann.lee@example.com"))

    for query in ("ann.lee@example.com", "ANN.LEE@EXAMPLE.COM", "Ann.Lee@Example.COM"):
        found = store.user_by_email(workspace.id, query)
        assert found is not None, query
        assert found.user_id == "user-1"
    assert store.user_by_email(workspace.id, "bob@example.com") is None


def test_an_email_is_held_by_one_user_per_workspace(store: Store) -> None:
    workspace, other = make_workspace(store), make_workspace(store)
    store.create_user(make_user(workspace, "first", email="x@example.com"))
    with pytest.raises(EmailTakenError):
        store.create_user(make_user(workspace, "second", email="X@example.com"))
    with pytest.raises(EmailTakenError):
        store.upsert_user(workspace.id, "third", {"email": "x@EXAMPLE.com"}, NOW)
    store.create_user(make_user(other, "second", email="X@example.com"))  # another workspace
    found = store.user_by_email(workspace.id, "x@EXAMPLE.com")
    assert found is not None
    assert found.user_id == "first"
    assert [u.user_id for u in store.users(workspace.id)] == ["first"]


def test_user_by_email_compares_only_ascii_letters_without_case(store: Store) -> None:
    # Internationalised addresses (RFC 6531) pass check_email; beyond ASCII, the lookup is exact
    # (in NFC): case folding would merge mailboxes a mail server may keep apart.
    workspace = make_workspace(store)
    store.create_user(make_user(workspace, "user-1", email="ÉLODIE@EXAMPLE.FR"))
    assert store.user_by_email(workspace.id, "élodie@example.fr") is None
    found = store.user_by_email(workspace.id, "Élodie@example.fr")
    assert found is not None
    assert found.user_id == "user-1"
    found = store.user_by_email(workspace.id, "E\u0301lodie@example.fr")  # NFD: one address
    assert found is None  # its E is ASCII (so é), not É


def test_users_pagination(store: Store) -> None:
    workspace, other = make_workspace(store), make_workspace(store)
    for user_id in ("u3", "u1", "u5", "u2", "u4"):
        store.create_user(make_user(workspace, user_id))
    store.create_user(make_user(other, "u0"))

    assert [u.user_id for u in store.users(workspace.id)] == ["u1", "u2", "u3", "u4", "u5"]
    pages, after = [], None
    while page := store.users(workspace.id, limit=2, after=after):
        pages.append([u.user_id for u in page])
        after = page[-1].user_id
    assert pages == [["u1", "u2"], ["u3", "u4"], ["u5"]]
    assert store.users(workspace.id, after="u5") == []
    assert [u.user_id for u in store.users(workspace.id, limit=1, after="u0")] == ["u1"]
    assert store.users("ws_unknown") == []


def test_delete_user(store: Store) -> None:
    workspace, other = make_workspace(store), make_workspace(store)
    store.create_user(make_user(workspace, "user-1"))
    store.create_user(make_user(other, "user-1"))

    assert store.delete_user(workspace.id, "user-1") is True
    assert store.user(workspace.id, "user-1") is None
    assert store.delete_user(workspace.id, "user-1") is False
    assert store.user(other.id, "user-1") is not None


UNICODE_IDS = ["ユーザー-1", "user 🚀 ünïcödé", "Ωmega/Ölçü", "用户@租户"]


def test_unicode_users_round_trip(store: Store) -> None:
    workspace = make_workspace(store)
    for index, user_id in enumerate(UNICODE_IDS):
        store.create_user(
            make_user(
                workspace,
                user_id,
                organization_id=f"組織-{index}",
                email=f"zoë.{index}@exämple.com",
            ),
            {"name": "Zoë Ünïcode 🚀", "città": "Zürich", "emoji": "🎉"},
        )
    store.upsert_user(workspace.id, "ñandú", {"email": "ñandú@exämple.com"}, NOW)

    for index, user_id in enumerate(UNICODE_IDS):
        user = store.user(workspace.id, user_id)
        assert user is not None, user_id
        assert (user.user_id, user.organization_id, user.email) == (
            user_id,
            f"組織-{index}",
            f"zoë.{index}@exämple.com",
        )
        profile = store.user_profile(workspace.id, user_id)
        assert profile is not None
        assert profile.profile == {"name": "Zoë Ünïcode 🚀", "città": "Zürich", "emoji": "🎉"}
        by_email = store.user_by_email(workspace.id, f"zoë.{index}@exämple.com")
        assert by_email is not None
        assert by_email.user_id == user_id
    upserted = store.user(workspace.id, "ñandú")
    assert upserted is not None
    assert upserted.email == "ñandú@exämple.com"
    listed = {u.user_id for u in store.users(workspace.id, limit=100)}
    assert listed == {*UNICODE_IDS, "ñandú"}
    assert organizations(store, workspace) == sorted(f"組織-{i}" for i in range(4))


def test_deleting_a_workspace_cascades(store: Store) -> None:
    workspace = make_workspace(store)
    make_auth_token(store, workspace)
    store.create_user(make_user(workspace, "user-1", organization_id="org-1"))
    with store.transaction() as session:
        session.delete(session.get(Workspace, workspace.id))
    assert store.auth_tokens(workspace.id) == []
    assert store.user(workspace.id, "user-1") is None
    assert organizations(store, workspace) == []


# --- signing keys -----------------------------------------------------------------------------


def _key_row(workspace: Workspace, kid: str, created_at: float, state: str) -> SigningKeyRow:
    return SigningKeyRow(
        workspace_id=workspace.id,
        kid=kid,
        alg="ES256",
        state=state,
        sealed_private_key=f"idmint-key-v1.m.n.{kid}",
        created_at=created_at,
        activated_at=created_at if state == "active" else None,
        retiring_at=None,
        retired_at=None,
    )


def test_signing_keys_add_and_update(store: Store) -> None:
    workspace, other = make_workspace(store), make_workspace(store)
    store.add(
        _key_row(workspace, "kid-2", NOW + 1, "next"),
        _key_row(workspace, "kid-1", NOW, "active"),
        _key_row(other, "kid-1", NOW, "active"),  # kids are unique per workspace only
    )
    rows = store.signing_keys(workspace.id)
    assert [(r.kid, r.state) for r in rows] == [("kid-1", "active"), ("kid-2", "next")]
    assert rows[0].sealed_private_key == "idmint-key-v1.m.n.kid-1"

    store.update_signing_key(workspace.id, "kid-2", state="active", activated_at=NOW + 2)
    store.update_signing_key(workspace.id, "kid-1", state="retiring", retiring_at=NOW + 2)
    rows = store.signing_keys(workspace.id)
    assert [(r.kid, r.state, r.activated_at, r.retiring_at) for r in rows] == [
        ("kid-1", "retiring", NOW, NOW + 2),
        ("kid-2", "active", NOW + 2, None),
    ]
    assert [(r.kid, r.state) for r in store.signing_keys(other.id)] == [("kid-1", "active")]


def test_sealed_signing_key_is_the_newest_not_retired(store: Store) -> None:
    assert store.sealed_signing_key() is None
    workspace, other = make_workspace(store), make_workspace(store)
    store.add(
        _key_row(workspace, "kid-1", NOW, "retiring"),
        _key_row(other, "kid-2", NOW + 1, "active"),
        _key_row(workspace, "kid-3", NOW + 2, "retired"),
    )
    found = store.sealed_signing_key()
    assert found is not None
    assert (found.workspace_id, found.kid) == (other.id, "kid-2")


def test_signing_key_kid_is_unique_in_a_workspace(store: Store) -> None:
    workspace = make_workspace(store)
    store.add(_key_row(workspace, "kid-1", NOW, "active"))
    with pytest.raises(IntegrityError):
        store.add(_key_row(workspace, "kid-1", NOW, "next"))


# --- revocations and sessions -----------------------------------------------------------------


def _revocation(workspace: Workspace, value: str, expires_at: float) -> Revocation:
    return Revocation(
        workspace_id=workspace.id,
        kind="jti",
        value=value,
        issued_before=None,
        expires_at=expires_at,
        created_at=NOW - 100,
        reason=None,
    )


def test_revocations_exclude_expired_entries(store: Store) -> None:
    workspace, other = make_workspace(store), make_workspace(store)
    store.add(
        _revocation(workspace, "expired", NOW - 1),
        _revocation(workspace, "expires-now", NOW),
        _revocation(workspace, "live", NOW + 1),
        Revocation(
            workspace_id=workspace.id,
            kind="user",
            value="user-1",
            issued_before=NOW - 5,
            expires_at=NOW + 3600,
            created_at=NOW - 5,
            reason="compromised",
        ),
        _revocation(other, "other-workspace", NOW + 1),
    )
    live = store.revocations(workspace.id, NOW)
    assert [(r.kind, r.value) for r in live] == [("jti", "live"), ("user", "user-1")]
    assert live[1].issued_before == NOW - 5
    assert live[1].reason == "compromised"
    assert [r.value for r in store.revocations(workspace.id, NOW + 2)] == ["user-1"]


def test_purge_revocations_drops_only_expired_entries(store: Store) -> None:
    workspace, other = make_workspace(store), make_workspace(store)
    store.add(
        *(_revocation(workspace, f"old-{i}", NOW - i) for i in range(50)),
        _revocation(other, "other-old", NOW - 1),
        _revocation(workspace, "live", NOW + 1),
        _revocation(other, "other-live", NOW + 60),
    )
    assert count(store, Revocation) == 53

    assert store.purge_revocations(NOW) == 51
    assert count(store, Revocation) == 2
    assert [r.value for r in store.revocations(workspace.id, NOW)] == ["live"]
    assert [r.value for r in store.revocations(other.id, NOW)] == ["other-live"]
    assert store.purge_revocations(NOW) == 0

    # Time passes: the table keeps shrinking to what can still matter.
    assert store.purge_revocations(NOW + 60) == 2
    assert count(store, Revocation) == 0


def _session(workspace: Workspace, session_id: str, user_id: str, jti: str | None) -> Session:
    return Session(
        id=session_id,
        workspace_id=workspace.id,
        user_id=user_id,
        jti=jti,
        verified=jti is not None,
        is_admin=False,
        expires_at=NOW + 3600,
        created_at=NOW,
        ended_at=None,
    )


def test_end_sessions_by_id_user_and_jti(store: Store) -> None:
    workspace, other = make_workspace(store), make_workspace(store)
    store.add(
        _session(workspace, "ses-1", "user-1", "jti-1"),
        _session(workspace, "ses-2", "user-1", "jti-2"),
        _session(workspace, "ses-3", "user-2", "jti-3"),
        _session(workspace, "ses-4", "user-3", None),
        _session(other, "ses-5", "user-1", "jti-1"),
    )

    assert store.end_sessions(workspace.id, NOW + 1) == 0  # no criterion ends nothing
    assert store.end_sessions(workspace.id, NOW + 1, session_id="ses-4") == 1
    assert store.end_sessions(workspace.id, NOW + 2, user_id="user-1") == 2
    assert store.end_sessions(workspace.id, NOW + 3, jti="jti-3") == 1
    # Already ended sessions are not ended again, and keep their first end time.
    assert store.end_sessions(workspace.id, NOW + 4, user_id="user-1", jti="jti-3") == 0

    ended = {
        sid: record.ended_at
        for sid in ("ses-1", "ses-2", "ses-3", "ses-4", "ses-5")
        if (record := store.session_record(sid)) is not None
    }
    assert ended == {
        "ses-1": NOW + 2,
        "ses-2": NOW + 2,
        "ses-3": NOW + 3,
        "ses-4": NOW + 1,
        "ses-5": None,  # another workspace's session with the same user and jti
    }
    assert store.session_record("ses-unknown") is None


def test_end_sessions_matches_any_criterion(store: Store) -> None:
    workspace = make_workspace(store)
    store.add(
        _session(workspace, "ses-1", "user-1", "jti-1"),
        _session(workspace, "ses-2", "user-2", "jti-2"),
        _session(workspace, "ses-3", "user-3", "jti-3"),
    )
    assert store.end_sessions(workspace.id, NOW, session_id="ses-1", jti="jti-2") == 2
    record = store.session_record("ses-3")
    assert record is not None
    assert record.ended_at is None


# --- audit ------------------------------------------------------------------------------------


def _event(workspace_id: str | None, index: int, action: str, outcome: str) -> AuditEvent:
    return AuditEvent(
        workspace_id=workspace_id,
        at=NOW + index,
        actor="cli",
        action=action,
        outcome=outcome,
        reason_code=None if outcome == "success" else "auth_token_not_found",
        subject=f"user-{index}",
        detail={"index": index, "note": "ünïcode ✓"},
    )


def test_audit_events_newest_first_with_paging_and_filters(store: Store) -> None:
    workspace, other = make_workspace(store), make_workspace(store)
    plan = [
        (workspace.id, "token.mint", "success"),
        (workspace.id, "token.mint", "failure"),
        (workspace.id, "identify", "failure"),
        (other.id, "token.mint", "success"),
        (None, "token.mint", "failure"),
        (workspace.id, "token.mint", "success"),
        (workspace.id, "auth_token.revoke", "success"),
    ]
    for index, (workspace_id, action, outcome) in enumerate(plan):
        store.add(_event(workspace_id, index, action, outcome))  # one insert each: ids ascend

    events = store.audit_events(workspace.id)
    assert [e.detail["index"] for e in events] == [6, 5, 2, 1, 0]
    assert events[0].detail == {"index": 6, "note": "ünïcode ✓"}
    assert [e.detail["index"] for e in store.audit_events(None)] == [6, 5, 4, 3, 2, 1, 0]

    page = store.audit_events(workspace.id, limit=2)
    assert [e.detail["index"] for e in page] == [6, 5]
    page = store.audit_events(workspace.id, limit=2, before_id=page[-1].id)
    assert [e.detail["index"] for e in page] == [2, 1]
    page = store.audit_events(workspace.id, limit=2, before_id=page[-1].id)
    assert [e.detail["index"] for e in page] == [0]
    assert store.audit_events(workspace.id, before_id=page[-1].id) == []

    mints = store.audit_events(workspace.id, action="token.mint")
    assert [e.detail["index"] for e in mints] == [5, 1, 0]
    failures = store.audit_events(workspace.id, outcome="failure")
    assert [(e.action, e.reason_code) for e in failures] == [
        ("identify", "auth_token_not_found"),
        ("token.mint", "auth_token_not_found"),
    ]
    both = store.audit_events(None, action="token.mint", outcome="failure")
    assert [(e.workspace_id, e.detail["index"]) for e in both] == [(None, 4), (workspace.id, 1)]


def test_audit_events_of_one_batch_keep_their_order(store: Store) -> None:
    workspace = make_workspace(store)
    store.add(*(_event(workspace.id, i, "token.mint", "success") for i in range(20)))
    assert [e.detail["index"] for e in store.audit_events(workspace.id, limit=5)] == [
        19,
        18,
        17,
        16,
        15,
    ]


# --- failures ---------------------------------------------------------------------------------


def test_unreachable_store_raises_unavailable() -> None:
    store = Store.open("postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2")
    try:
        with pytest.raises(UnavailableError) as info:
            store.workspace_by_api_key("pk_x")
        assert info.value.code == "unavailable"
        assert status_of(info.value)[0] == 503
    finally:
        store.close()
