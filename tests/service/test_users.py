"""Users: admin operations through UserService, on both backends."""

from __future__ import annotations

from typing import Any

import pytest

from idmint import FrozenClock
from idmint.api.errors import status_of
from idmint.jose.errors import (
    ApiKeyNotFoundError,
    EmailAmbiguousError,
    EmailTakenError,
    InvalidArgumentError,
    InvalidEmailError,
    UserExistsError,
    UserNotFoundError,
)
from idmint.service import Idmint, InitResult

from .conftest import BACKENDS, MASTER_KEY, user_count


def test_create_and_get_a_user(idmint: Idmint, tenant: InitResult, clock: FrozenClock) -> None:
    api_key = tenant.workspace.api_key
    created = idmint.users.create(
        api_key,
        "user-1",
        actor="admin",
        email="Ann@Example.com",
        organization_id="org-1",
        name="Ann",
        is_admin=True,
    )
    assert created.created_at == clock.now()
    user = idmint.users.get(api_key, "user-1")
    assert (user.user_id, user.email, user.organization_id, user.is_admin) == (
        "user-1",
        "Ann@Example.com",
        "org-1",
        True,
    )
    profile = idmint.users.profile(api_key, "user-1")
    assert profile is not None
    assert profile.profile == {"name": "Ann"}  # the name starts the (untrusted) profile


def test_create_duplicate_user(idmint: Idmint, tenant: InitResult) -> None:
    api_key = tenant.workspace.api_key
    idmint.users.create(api_key, "user-1", actor="admin", email="a@example.com")
    with pytest.raises(UserExistsError) as info:
        idmint.users.create(api_key, "user-1", actor="admin", email="b@example.com")
    assert info.value.code == "user_exists"
    assert idmint.users.get(api_key, "user-1").email == "a@example.com"


def test_same_user_id_in_two_workspaces(
    idmint: Idmint, tenant: InitResult, other_tenant: InitResult
) -> None:
    idmint.users.create(tenant.workspace.api_key, "user-1", actor="admin", email="a@example.com")
    idmint.users.create(
        other_tenant.workspace.api_key, "user-1", actor="admin", email="b@example.com"
    )
    assert idmint.users.get(tenant.workspace.api_key, "user-1").email == "a@example.com"
    assert idmint.users.get(other_tenant.workspace.api_key, "user-1").email == "b@example.com"


@pytest.mark.parametrize(
    ("user_id", "fields", "error", "field"),
    [
        ("", {}, InvalidArgumentError, "userId"),
        ("   ", {}, InvalidArgumentError, "userId"),
        ("x" * 257, {}, InvalidArgumentError, "userId"),
        ("bad\nid", {}, InvalidArgumentError, "userId"),
        ("user-1", {"organization_id": ""}, InvalidArgumentError, "organizationId"),
        ("user-1", {"email": "not-an-email"}, InvalidEmailError, "email"),
        ("user-1", {"email": "two@@example.com"}, InvalidEmailError, "email"),
    ],
)
def test_create_rejects_bad_input_and_stores_nothing(
    idmint: Idmint,
    tenant: InitResult,
    user_id: str,
    fields: dict[str, str],
    error: type[InvalidArgumentError],
    field: str,
) -> None:
    with pytest.raises(error) as info:
        idmint.users.create(tenant.workspace.api_key, user_id, actor="admin", **fields)
    assert type(info.value) is error
    assert info.value.field == field
    assert user_count(idmint.store) == 0


def test_get_unknown_user(idmint: Idmint, tenant: InitResult) -> None:
    with pytest.raises(UserNotFoundError) as info:
        idmint.users.get(tenant.workspace.api_key, "nobody")
    assert info.value.code == "user_not_found"


def test_user_of_another_workspace_is_not_found(
    idmint: Idmint, tenant: InitResult, other_tenant: InitResult
) -> None:
    idmint.users.create(other_tenant.workspace.api_key, "user-1", actor="admin")
    with pytest.raises(UserNotFoundError):
        idmint.users.get(tenant.workspace.api_key, "user-1")


def test_unknown_api_key(idmint: Idmint, tenant: InitResult) -> None:
    with pytest.raises(ApiKeyNotFoundError):
        idmint.users.create("pk_unknown", "user-1", actor="admin")
    with pytest.raises(ApiKeyNotFoundError):
        idmint.users.list("pk_unknown")


def test_by_email_is_case_insensitive(idmint: Idmint, tenant: InitResult) -> None:
    api_key = tenant.workspace.api_key
    idmint.users.create(api_key, "user-1", actor="admin", email="Ann.Lee@Example.com")
    assert idmint.users.by_email(api_key, "ann.lee@example.com").user_id == "user-1"
    assert idmint.users.by_email(api_key, "ANN.LEE@EXAMPLE.COM").user_id == "user-1"
    with pytest.raises(UserNotFoundError):
        idmint.users.by_email(api_key, "bob@example.com")
    with pytest.raises(InvalidEmailError) as info:
        idmint.users.by_email(api_key, "ann.lee")
    assert info.value.field == "username"


def test_list_pages_by_user_id(idmint: Idmint, tenant: InitResult) -> None:
    api_key = tenant.workspace.api_key
    for user_id in ("carol", "alice", "erin", "bob", "dave"):
        idmint.users.create(api_key, user_id, actor="admin")
    assert [u.user_id for u in idmint.users.list(api_key)] == [
        "alice",
        "bob",
        "carol",
        "dave",
        "erin",
    ]
    first = idmint.users.list(api_key, limit=2)
    second = idmint.users.list(api_key, limit=2, after=first[-1].user_id)
    third = idmint.users.list(api_key, limit=2, after=second[-1].user_id)
    assert [[u.user_id for u in page] for page in (first, second, third)] == [
        ["alice", "bob"],
        ["carol", "dave"],
        ["erin"],
    ]
    assert idmint.users.list(api_key, after="erin") == []


def test_delete_user(idmint: Idmint, tenant: InitResult) -> None:
    api_key = tenant.workspace.api_key
    idmint.users.create(api_key, "user-1", actor="admin")
    idmint.users.delete(api_key, "user-1", actor="admin")
    with pytest.raises(UserNotFoundError):
        idmint.users.get(api_key, "user-1")
    with pytest.raises(UserNotFoundError):
        idmint.users.delete(api_key, "user-1", actor="admin")


def test_unicode_users_round_trip(idmint: Idmint, tenant: InitResult) -> None:
    api_key = tenant.workspace.api_key
    idmint.users.create(
        api_key,
        "ユーザー 🚀",
        actor="admin",
        email="zoë@exämple.com",
        organization_id="組織-1",
        name="Zoë",
    )
    user = idmint.users.get(api_key, "ユーザー 🚀")
    assert (user.email, user.organization_id) == ("zoë@exämple.com", "組織-1")
    profile = idmint.users.profile(api_key, "ユーザー 🚀")
    assert profile is not None
    assert profile.profile == {"name": "Zoë"}
    assert idmint.users.by_email(api_key, "zoë@exämple.com").user_id == "ユーザー 🚀"
    assert [u.user_id for u in idmint.users.list(api_key)] == ["ユーザー 🚀"]


def test_user_changes_are_audited(idmint: Idmint, tenant: InitResult) -> None:
    api_key = tenant.workspace.api_key
    idmint.users.create(api_key, "user-1", actor="admin:ann")
    idmint.users.delete(api_key, "user-1", actor="admin:ann")
    idmint.audit.flush()
    events = idmint.store.audit_events(tenant.workspace.id, limit=2)
    assert [(e.action, e.actor, e.subject, e.outcome) for e in events] == [
        ("user.delete", "admin:ann", "user-1", "success"),
        ("user.create", "admin:ann", "user-1", "success"),
    ]


# --- the email look-up cache (second mint shape) ----------------------------------------------


def test_a_change_on_this_instance_reaches_the_email_look_up_at_once(
    idmint: Idmint, tenant: InitResult
) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    idmint.tokens.mint(api_key, secret, "user-1", email="ann@example.com")
    minted, user = idmint.tokens.mint_for_email(api_key, secret, "ann@example.com")
    assert (user.user_id, minted.claims["isAdmin"]) == ("user-1", False)

    # A mint of the first shape makes the user an admin: the next email mint says so.
    idmint.tokens.mint(api_key, secret, "user-1", email="ann@example.com", is_admin=True)
    minted, _ = idmint.tokens.mint_for_email(api_key, secret, "ann@example.com")
    assert minted.claims["isAdmin"] is True

    # The user moves to another address: the old one finds nobody, the new one finds them.
    idmint.tokens.mint(api_key, secret, "user-1", email="ann.new@example.com")
    with pytest.raises(UserNotFoundError):
        idmint.tokens.mint_for_email(api_key, secret, "ann@example.com")
    assert idmint.users.by_email(api_key, "ann.new@example.com").user_id == "user-1"

    # Identify never sets the email (a token without one leaves it unproven).
    token = idmint.tokens.mint(api_key, secret, "user-2").token
    idmint.tokens.identify(api_key, {"userId": "user-2", "email": "bob@example.com"}, token)
    with pytest.raises(UserNotFoundError):
        idmint.tokens.mint_for_email(api_key, secret, "bob@example.com")

    # An admin's change reaches it at once too.
    idmint.users.update(api_key, "user-2", actor="admin", changes={"email": "bob@example.com"})
    assert idmint.tokens.mint_for_email(api_key, secret, "bob@example.com")[1].user_id == "user-2"
    idmint.users.delete(api_key, "user-2", actor="admin")
    with pytest.raises(UserNotFoundError):
        idmint.tokens.mint_for_email(api_key, secret, "bob@example.com")


def test_an_address_another_user_holds_is_email_taken_and_changes_nothing(
    idmint: Idmint, tenant: InitResult, clock: FrozenClock
) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    idmint.users.create(api_key, "older", actor="admin", email="old@example.com")
    clock.advance(1)
    idmint.users.create(api_key, "newer", actor="admin", email="Shared@Example.com")
    assert idmint.users.by_email(api_key, "shared@example.com").user_id == "newer"
    attempts = [
        lambda: idmint.tokens.issue(
            tenant.workspace, "older", actor="test", email="shared@example.com", is_admin=True
        ),
        lambda: idmint.tokens.mint(api_key, secret, "older", email="SHARED@example.com"),
        lambda: idmint.tokens.mint(api_key, secret, "third", email="shared@example.com"),
        lambda: idmint.users.create(api_key, "fourth", actor="admin", email="shared@EXAMPLE.com"),
        lambda: idmint.users.update(
            api_key, "older", actor="admin", changes={"email": "shared@example.com"}
        ),
    ]
    for attempt in attempts:
        with pytest.raises(EmailTakenError) as info:
            attempt()
        assert (info.value.code, status_of(info.value)[0]) == ("email_taken", 409)
    assert idmint.users.by_email(api_key, "shared@example.com").user_id == "newer"
    older = idmint.users.get(api_key, "older")
    assert (older.email, older.is_admin) == ("old@example.com", False)
    assert [u.user_id for u in idmint.users.list(api_key)] == ["newer", "older"]


def test_two_mints_in_one_group_commit_cannot_share_an_email(
    idmint: Idmint, tenant: InitResult
) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    # Both submitted before either is committed: the same transaction, or the next.
    first = idmint.tokens.start_mint(api_key, secret, "ann", email="x@example.com")
    second = idmint.tokens.start_mint(api_key, secret, "bob", email="x@example.com")
    third = idmint.tokens.start_mint(api_key, secret, "cat", email="cat@example.com")
    assert first.result().claims["sub"] == "ann"
    with pytest.raises(EmailTakenError):
        second.result()
    assert third.result().claims["sub"] == "cat"
    assert idmint.users.by_email(api_key, "x@example.com").user_id == "ann"
    assert [u.user_id for u in idmint.users.list(api_key)] == ["ann", "cat"]


@pytest.mark.parametrize(
    ("stored", "asked", "same"),
    [
        ("Ann.Lee@Example.COM", "ann.lee@example.com", True),
        ("strasse@x.com", "straße@x.com", False),  # casefold would merge these
        ("kate@x.com", "\u212aate@x.com", False),  # the Kelvin sign is not a K
        ("ÉLODIE@x.com", "élodie@x.com", False),  # only ASCII letters ignore case
        ("e\u0301lodie@x.com", "\u00e9lodie@x.com", True),  # NFD and NFC: one address
        ("ann@exämple.com", "ANN@EXäMPLE.COM", True),
    ],
)
def test_emails_compare_ascii_letters_without_case_and_the_rest_exactly_in_nfc(
    idmint: Idmint, tenant: InitResult, stored: str, asked: str, same: bool
) -> None:
    api_key = tenant.workspace.api_key
    idmint.users.create(api_key, "user-1", actor="admin", email=stored)
    if same:
        assert idmint.users.by_email(api_key, asked).user_id == "user-1"
        with pytest.raises(EmailTakenError):
            idmint.users.create(api_key, "user-2", actor="admin", email=asked)
    else:
        with pytest.raises(UserNotFoundError):
            idmint.users.by_email(api_key, asked)
        idmint.users.create(api_key, "user-2", actor="admin", email=asked)
        assert idmint.users.by_email(api_key, asked).user_id == "user-2"


def test_update_changes_trusted_attributes_and_audits(
    idmint: Idmint, tenant: InitResult, clock: FrozenClock
) -> None:
    api_key = tenant.workspace.api_key
    idmint.users.create(api_key, "user-1", actor="admin", email="a@example.com", is_admin=True)
    clock.advance(2)
    user = idmint.users.update(
        api_key,
        "user-1",
        actor="admin:ann",
        changes={"email": "b@example.com", "organization_id": "org-2", "is_admin": False},
    )
    assert (user.email, user.organization_id, user.is_admin, user.updated_at) == (
        "b@example.com",
        "org-2",
        False,
        clock.now(),
    )
    idmint.users.update(api_key, "user-1", actor="admin", changes={"email": None})
    assert idmint.users.get(api_key, "user-1").email is None
    with pytest.raises(UserNotFoundError):
        idmint.users.by_email(api_key, "b@example.com")
    with pytest.raises(UserNotFoundError):
        idmint.users.update(api_key, "nobody", actor="admin", changes={"is_admin": True})
    idmint.audit.flush()
    updates = [
        e for e in idmint.store.audit_events(tenant.workspace.id) if e.action == "user.update"
    ]
    assert [(e.actor, e.detail["changed"]) for e in updates][-1] == (
        "admin:ann",
        ["email", "is_admin", "organization_id"],
    )


def test_another_instance_sees_a_change_within_the_cache_time(
    idmint: Idmint, tenant: InitResult, clock: FrozenClock
) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    other = Idmint(idmint.settings, idmint.store, MASTER_KEY, clock=clock)
    idmint.tokens.mint(api_key, secret, "user-1", email="ann@example.com")
    assert other.users.by_email(api_key, "ann@example.com").user_id == "user-1"

    idmint.users.delete(api_key, "user-1", actor="admin")
    # Bounded staleness: the other instance may reuse what it read for the cache time ...
    assert other.users.by_email(api_key, "ann@example.com").user_id == "user-1"
    clock.advance(idmint.settings.credential_cache_seconds + 0.001)
    # ... and no longer.
    with pytest.raises(UserNotFoundError):
        other.users.by_email(api_key, "ann@example.com")


def test_cached_by_email_says_whether_the_look_up_needs_the_store(
    idmint: Idmint, tenant: InitResult, clock: FrozenClock
) -> None:
    api_key = tenant.workspace.api_key
    idmint.users.create(api_key, "user-1", actor="admin", email="ann@example.com")
    assert not idmint.users.cached_by_email(api_key, "ann@example.com")
    idmint.users.by_email(api_key, "ann@example.com")
    assert idmint.users.cached_by_email(api_key, "ANN@example.com")
    assert not idmint.users.cached_by_email(api_key, "bob@example.com")
    assert not idmint.users.cached_by_email("pk_unknown", "ann@example.com")
    clock.advance(idmint.settings.credential_cache_seconds + 0.001)
    assert not idmint.users.cached_by_email(api_key, "ann@example.com")


# --- users who shared an email before emails were unique (migration 0002) -----------------------


@pytest.fixture(params=BACKENDS)
def shared_email_store(request: pytest.FixtureRequest, new_store: Any, clock: FrozenClock) -> Any:
    """A store made at revision 0001 where three users share one mailbox (two spellings),
    then migrated: what an older idmint left behind."""
    from sqlalchemy import text

    store = new_store(request.param)
    store.migrate("0001")
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO workspaces (id, api_key, name, require_jwt, token_ttl_seconds,"
                " min_ttl_seconds, max_ttl_seconds, auto_create_users, allowed_domains,"
                " created_at, updated_at) VALUES ('ws_old', 'pk_old', 'Old', true, 172800, 1,"
                " 604800, true, '[]', 1.0, 1.0)"
            )
        )
        for n, (user_id, email) in enumerate(
            [("ann", "Ann@Example.com"), ("ann-2", "ann@example.com"), ("ann-3", "ANN@example.com")]
        ):
            connection.execute(
                text(
                    "INSERT INTO users (workspace_id, user_id, email, email_key, profile,"
                    " is_admin, created_at, updated_at)"
                    " VALUES ('ws_old', :uid, :email, :key, '{}', :admin, :at, :at)"
                ),
                {"uid": user_id, "email": email, "key": email.casefold(), "admin": n == 2, "at": n},
            )
    store.migrate()
    return store


def test_a_shared_email_is_ambiguous_until_an_admin_resolves_it(
    shared_email_store: Any, settings: Any, clock: FrozenClock
) -> None:
    idmint = Idmint(settings, shared_email_store, MASTER_KEY, clock=clock)
    workspace = idmint.workspaces.get("pk_old")
    idmint.keys.create_key(workspace)
    secret = idmint.workspaces.create_auth_token("pk_old", "backend", actor="test").secret
    assert [u.user_id for u in idmint.users.duplicates("pk_old")] == ["ann", "ann-2", "ann-3"]
    with pytest.raises(EmailAmbiguousError) as info:
        idmint.tokens.mint_for_email("pk_old", secret, "ann@example.com")
    assert (info.value.code, status_of(info.value)[0]) == ("email_ambiguous", 409)
    # Nobody else may take the address meanwhile; its sharers keep working by user id.
    with pytest.raises(EmailTakenError):
        idmint.tokens.mint("pk_old", secret, "newcomer", email="ann@example.com")
    assert idmint.tokens.mint("pk_old", secret, "ann-2", email="ann@example.com").claims["sub"]

    idmint.users.update("pk_old", "ann", actor="admin", changes={"email": "ann@example.org"})
    with pytest.raises(EmailAmbiguousError):  # two still share it
        idmint.tokens.mint_for_email("pk_old", secret, "ann@example.com")
    idmint.users.delete("pk_old", "ann-2", actor="admin")
    # The one left holds it now: minting by it finds them, and the mark is gone.
    minted, user = idmint.tokens.mint_for_email("pk_old", secret, "ANN@EXAMPLE.COM")
    assert (user.user_id, minted.claims["isAdmin"]) == ("ann-3", True)
    assert idmint.users.duplicates("pk_old") == []
    assert idmint.users.get("pk_old", "ann-3").email_conflict is None
    with pytest.raises(EmailTakenError):
        idmint.users.create("pk_old", "newcomer", actor="admin", email="ann@example.com")
