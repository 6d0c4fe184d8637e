"""Console accounts (``Idmint.console``), on both backends: argon2id passwords shown once,
roles and memberships, sign-in (as slow for an unknown email as for a wrong password,
throttled, audited), server-side sessions with idle and absolute timeouts, CSRF tokens, and
no secret stored in clear."""

from __future__ import annotations

import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from idmint import FrozenClock
from idmint.jose.errors import (
    AccountExistsError,
    AccountNotFoundError,
    InvalidArgumentError,
    InvalidEmailError,
    LastOwnerError,
    RateLimitedError,
    SignInFailedError,
    WorkspaceNotFoundError,
)
from idmint.service import Idmint, InitResult
from idmint.service._passwords import Passwords
from idmint.settings import Settings
from idmint.store import Base, ConsoleSession, Store

from .conftest import MASTER_KEY, PUBLIC_URL, audit_rows

OWNER = "owner@example.com"
# argon2id with small costs: the tests hash dozens of passwords, and the real parameters take
# some 100 ms each.  The tests of the parameters and of timing use the real ones.
FAST = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def _fast(idmint: Idmint) -> Idmint:
    idmint.console._passwords = FAST
    return idmint


@pytest.fixture
def idmint(settings: Settings, store: Store, clock: FrozenClock) -> Idmint:
    """The service, its console hashing with small costs."""
    return _fast(Idmint(settings, store, MASTER_KEY, clock=clock))


def _client() -> str:
    """A client address no other test has counted."""
    return f"203.0.113.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def owner(idmint: Idmint) -> str:
    """An owner account; its generated password."""
    created = idmint.console.create_account(OWNER, "owner")
    assert created.password is not None
    return created.password


def _all_rows_text(store: Store) -> str:
    """Every row of every table as one text, to search for secrets."""
    store.drain()
    texts: list[str] = []
    with store.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                texts.append(repr(tuple(row)))
    return "\n".join(texts)


# --- accounts and passwords ---------------------------------------------------------------------


def test_a_generated_password_is_returned_once_and_stored_as_argon2id(
    idmint: Idmint, owner: str
) -> None:
    account = idmint.console.get(OWNER)
    assert account.id.startswith("ca_")
    assert account.role == "owner"
    assert account.password_hash.startswith("$argon2id$")
    assert owner not in account.password_hash
    assert len(owner) >= 20
    secret, signed_in = idmint.console.sign_in(OWNER, owner, client=_client())
    assert signed_in.account.id == account.id
    assert secret


def test_passwords_are_hashed_with_argon2id_at_rfc_9106_costs_and_rehashed_on_sign_in(
    settings: Settings, store: Store, clock: FrozenClock, idmint: Idmint
) -> None:
    assert Passwords().hash("a password").startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    idmint.console.create_account(OWNER, "owner", password="an old hash's password")
    assert idmint.console.get(OWNER).password_hash.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    real = Idmint(settings, store, MASTER_KEY, clock=clock)
    real.console.sign_in(OWNER, "an old hash's password", client=_client())
    assert real.console.get(OWNER).password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    real.console.sign_in(OWNER, "an old hash's password", client=_client())


def test_a_chosen_password_is_not_returned_and_must_be_long_enough(idmint: Idmint) -> None:
    created = idmint.console.create_account("ann@example.com", password="correct horse battery")
    assert created.password is None
    idmint.console.sign_in("ann@example.com", "correct horse battery", client=_client())
    with pytest.raises(InvalidArgumentError) as info:
        idmint.console.create_account("bob@example.com", password="short")
    assert info.value.field == "password"
    with pytest.raises(AccountNotFoundError):
        idmint.console.get("bob@example.com")  # nothing was created


def test_emails_are_unique_compared_as_users_emails_are(idmint: Idmint, owner: str) -> None:
    with pytest.raises(AccountExistsError):
        idmint.console.create_account("OWNER@Example.COM")
    assert idmint.console.get("Owner@EXAMPLE.com").email == OWNER
    # No Unicode case folding: distinct mailboxes stay distinct (as users' emails).
    idmint.console.create_account("strasse@example.com")
    idmint.console.create_account("straße@example.com")
    assert {a.email for a in idmint.console.all()} == {
        OWNER,
        "strasse@example.com",
        "straße@example.com",
    }


def test_the_default_owner_email_is_valid_and_bad_input_is_refused(idmint: Idmint) -> None:
    idmint.console.create_account("owner@localhost", "owner")
    with pytest.raises(InvalidEmailError):
        idmint.console.create_account("not an email")
    with pytest.raises(InvalidArgumentError) as info:
        idmint.console.create_account("ann@example.com", "superuser")
    assert info.value.field == "role"
    with pytest.raises(InvalidArgumentError):
        idmint.console.create_account("ann@example.com", memberships={"ws_x": "god"})
    with pytest.raises(WorkspaceNotFoundError):
        idmint.console.create_account("ann@example.com", memberships={"ws_nope": "viewer"})


def test_the_console_keeps_an_owner(idmint: Idmint, owner: str) -> None:
    with pytest.raises(LastOwnerError):
        idmint.console.delete(OWNER)
    with pytest.raises(LastOwnerError):
        idmint.console.set_role(OWNER, "member")
    idmint.console.create_account("second@example.com", "owner")
    idmint.console.set_role(OWNER, "member")
    assert idmint.console.get(OWNER).role == "member"
    with pytest.raises(LastOwnerError):
        idmint.console.delete("second@example.com")
    assert idmint.console.has_owner()


# --- sign-in ------------------------------------------------------------------------------------


def test_a_wrong_password_and_an_unknown_email_fail_alike(idmint: Idmint, owner: str) -> None:
    with pytest.raises(SignInFailedError) as wrong:
        idmint.console.sign_in(OWNER, owner + "x", client=_client())
    with pytest.raises(SignInFailedError) as unknown:
        idmint.console.sign_in("nobody@example.com", owner, client=_client())
    assert wrong.value.message == unknown.value.message
    assert wrong.value.code == "sign_in_failed"


def test_an_unknown_email_verifies_a_hash_too(
    idmint: Idmint, owner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[str | None] = []
    real = Passwords.verify

    def spy(self: Passwords, password_hash: str | None, password: str) -> bool:
        verified.append(password_hash)
        return real(self, password_hash, password)

    monkeypatch.setattr(Passwords, "verify", spy)
    with pytest.raises(SignInFailedError):
        idmint.console.sign_in("nobody@example.com", "whatever-it-is", client=_client())
    assert verified == [None]  # the dummy hash, not an early return


def test_an_unknown_email_takes_as_long_as_a_wrong_password(
    settings: Settings, store: Store, clock: FrozenClock
) -> None:
    idmint = Idmint(settings, store, MASTER_KEY, clock=clock)  # argon2id's real costs
    idmint.console.create_account(OWNER, "owner")

    def timed(email: str) -> float:
        start = time.perf_counter()
        with pytest.raises(SignInFailedError):
            idmint.console.sign_in(email, "not-the-password", client=_client())
        return time.perf_counter() - start

    timed("warm-up@example.com")
    known = statistics.median(timed(OWNER) for _ in range(5))
    unknown = statistics.median(timed("nobody@example.com") for _ in range(5))
    # argon2id takes tens of milliseconds; a missing account answered without it would take
    # well under a millisecond.
    assert unknown > 0.5 * known, (known, unknown)
    assert unknown < 2 * known, (known, unknown)


def test_a_disabled_account_cannot_sign_in_and_its_sessions_end(idmint: Idmint, owner: str) -> None:
    idmint.console.create_account("ann@example.com", password="ann's long password")
    secret, _ = idmint.console.sign_in("ann@example.com", "ann's long password", client=_client())
    idmint.console.set_disabled("ann@example.com", True)
    assert idmint.console.session(secret) is None
    with pytest.raises(SignInFailedError):
        idmint.console.sign_in("ann@example.com", "ann's long password", client=_client())
    idmint.console.set_disabled("ann@example.com", False)
    idmint.console.sign_in("ann@example.com", "ann's long password", client=_client())


def _throttled(
    settings: Settings, store: Store, clock: FrozenClock, **limits: Any
) -> tuple[Idmint, str]:
    throttled = _fast(Idmint(settings.model_copy(update=limits), store, MASTER_KEY, clock=clock))
    created = throttled.console.create_account(OWNER, "owner")
    assert created.password is not None
    return throttled, created.password


def test_failed_sign_ins_from_one_address_are_throttled(
    settings: Settings, store: Store, clock: FrozenClock
) -> None:
    idmint, password = _throttled(settings, store, clock, throttle_per_address="3/5 minutes")
    attacker = _client()
    for _ in range(3):
        with pytest.raises(SignInFailedError):
            idmint.console.sign_in(OWNER, "guess-guess-guess", client=attacker)
    with pytest.raises(RateLimitedError) as info:
        idmint.console.sign_in(OWNER, password, client=attacker)  # even the right one
    assert info.value.retry_after is not None
    idmint.console.sign_in(OWNER, password, client=_client())  # others are not blocked

    rows = audit_rows(idmint)
    [block] = [row for row in rows if row.action == "throttle.block"]
    assert block.subject == f"address:{attacker}"
    failures = [row for row in rows if row.action == "console.sign_in" and row.outcome == "failure"]
    assert [(row.reason_code, row.detail["count"]) for row in failures] == [("sign_in_failed", 3)]


def test_failed_sign_ins_for_one_account_are_throttled_but_for_known_addresses(
    settings: Settings, store: Store, clock: FrozenClock
) -> None:
    idmint, password = _throttled(settings, store, clock, throttle_per_api_key="3/5 minutes")
    usual = _client()
    idmint.console.sign_in(OWNER, password, client=usual)
    for _ in range(3):
        with pytest.raises(SignInFailedError):
            idmint.console.sign_in(OWNER.upper(), "guess-guess-guess", client=_client())
    with pytest.raises(RateLimitedError):
        idmint.console.sign_in(OWNER, password, client=_client())
    # The address the owner signed in from lately is spared the account's block.
    idmint.console.sign_in(OWNER, password, client=usual)
    [block] = [row for row in audit_rows(idmint) if row.action == "throttle.block"]
    assert block.subject == f"api_key:console:{OWNER}"


# --- sessions -----------------------------------------------------------------------------------


def test_a_session_ends_after_the_idle_timeout(
    idmint: Idmint, owner: str, clock: FrozenClock
) -> None:
    secret, _ = idmint.console.sign_in(OWNER, owner, client=_client(), user_agent="x" * 1000)
    clock.advance(29 * 60)
    live = idmint.console.session(secret)
    assert live is not None
    assert live.session.user_agent == "x" * 256  # truncated
    clock.advance(29 * 60)  # within 30 minutes of the last use
    assert idmint.console.session(secret) is not None
    clock.advance(30 * 60)
    assert idmint.console.session(secret) is None


def test_a_session_ends_at_the_absolute_timeout_however_busy(
    idmint: Idmint, owner: str, clock: FrozenClock
) -> None:
    secret, signed_in = idmint.console.sign_in(OWNER, owner, client=_client())
    assert signed_in.session.expires_at == clock.now() + 12 * 3600
    for _ in range(12 * 3 - 1):
        clock.advance(20 * 60)
        assert idmint.console.session(secret) is not None
    clock.advance(20 * 60)
    assert idmint.console.session(secret) is None


def test_the_timeouts_follow_the_settings(
    settings: Settings, store: Store, clock: FrozenClock
) -> None:
    idmint, password = _throttled(
        settings, store, clock, console_idle_minutes=5, console_session_hours=1
    )
    secret, signed_in = idmint.console.sign_in(OWNER, password, client=_client())
    assert signed_in.session.expires_at == clock.now() + 3600
    clock.advance(5 * 60)
    assert idmint.console.session(secret) is None


def test_a_sessions_last_use_is_written_at_most_once_a_minute(
    idmint: Idmint, owner: str, clock: FrozenClock, store: Store
) -> None:
    secret, signed_in = idmint.console.sign_in(OWNER, owner, client=_client())
    start = clock.now()

    def stored_last_seen() -> float:
        with store.transaction() as session:
            row = session.get(ConsoleSession, signed_in.session.id)
            assert row is not None
            return row.last_seen_at

    clock.advance(30)
    assert idmint.console.session(secret) is not None
    assert stored_last_seen() == start
    clock.advance(31)
    assert idmint.console.session(secret) is not None
    assert stored_last_seen() == start + 61


def test_sign_out_ends_the_session(idmint: Idmint, owner: str) -> None:
    secret, _ = idmint.console.sign_in(OWNER, owner, client=_client())
    other, _ = idmint.console.sign_in(OWNER, owner, client=_client())
    assert idmint.console.sign_out(secret, client="192.0.2.1")
    assert idmint.console.session(secret) is None
    assert idmint.console.session(other) is not None  # only that one
    assert not idmint.console.sign_out(secret)
    assert idmint.console.session("") is None
    assert idmint.console.session("made-up") is None
    [event] = [row for row in audit_rows(idmint) if row.action == "console.sign_out"]
    assert (event.actor, event.client_address) == (f"console:{OWNER}", "192.0.2.1")


def test_reset_password_ends_the_sessions_and_the_old_password(idmint: Idmint, owner: str) -> None:
    secret, _ = idmint.console.sign_in(OWNER, owner, client=_client())
    reset = idmint.console.reset_password(OWNER)
    assert reset.password is not None
    assert reset.password != owner
    assert idmint.console.session(secret) is None
    with pytest.raises(SignInFailedError):
        idmint.console.sign_in(OWNER, owner, client=_client())
    idmint.console.sign_in(OWNER, reset.password, client=_client())


def test_deleting_an_account_ends_its_sessions(idmint: Idmint, owner: str) -> None:
    created = idmint.console.create_account("ann@example.com")
    assert created.password is not None
    secret, _ = idmint.console.sign_in("ann@example.com", created.password, client=_client())
    idmint.console.delete("ann@example.com")
    assert idmint.console.session(secret) is None
    with pytest.raises(AccountNotFoundError):
        idmint.console.get("ann@example.com")
    with pytest.raises(AccountNotFoundError):
        idmint.console.delete("ann@example.com")


def test_the_csrf_token_is_the_sessions_own(idmint: Idmint, owner: str) -> None:
    secret, signed_in = idmint.console.sign_in(OWNER, owner, client=_client())
    _, other = idmint.console.sign_in(OWNER, owner, client=_client())
    assert idmint.console.check_csrf(signed_in, signed_in.csrf_token)
    live = idmint.console.session(secret)
    assert live is not None
    assert live.csrf_token == signed_in.csrf_token
    assert idmint.console.check_csrf(live.session, signed_in.csrf_token)
    assert not idmint.console.check_csrf(signed_in, other.csrf_token)
    assert not idmint.console.check_csrf(signed_in, "")
    assert not idmint.console.check_csrf(signed_in, None)
    token = signed_in.csrf_token
    flipped = token[:-1] + ("1" if token[-1] == "0" else "0")  # one character changed
    assert not idmint.console.check_csrf(signed_in, flipped)


# --- roles --------------------------------------------------------------------------------------

# (role, workspace, action) -> allowed; "mine" is the workspace of the member's membership.
MATRIX = [
    ("owner", "mine", "read", True),
    ("owner", "mine", "write", True),
    ("owner", "other", "write", True),
    ("owner", None, "accounts", True),
    ("admin", "mine", "read", True),
    ("admin", "mine", "write", True),
    ("admin", "other", "read", False),
    ("admin", "other", "write", False),
    ("admin", "mine", "accounts", False),
    ("viewer", "mine", "read", True),
    ("viewer", "mine", "write", False),
    ("viewer", "other", "read", False),
    ("viewer", "mine", "accounts", False),
    ("none", "mine", "read", False),
]


@pytest.mark.parametrize(("role", "where", "action", "allowed"), MATRIX)
def test_roles(
    idmint: Idmint,
    tenant: InitResult,
    other_tenant: InitResult,
    role: str,
    where: str | None,
    action: Any,
    allowed: bool,
) -> None:
    mine, other = tenant.workspace.id, other_tenant.workspace.id
    if role == "owner":
        created = idmint.console.create_account("who@example.com", "owner")
    else:
        memberships = {} if role == "none" else {mine: role}
        created = idmint.console.create_account("who@example.com", memberships=memberships)
    assert created.password is not None
    workspace_id = {"mine": mine, "other": other, None: None}[where]
    assert idmint.console.can(created.account, workspace_id, action) is allowed
    _, signed_in = idmint.console.sign_in("who@example.com", created.password, client=_client())
    assert idmint.console.can(signed_in, workspace_id, action) is allowed
    seen = {workspace.id for workspace in idmint.console.workspaces(signed_in)}
    expected = {"owner": {mine, other}, "none": set()}.get(role, {mine})
    assert seen == expected


def test_memberships_are_set_changed_and_removed(
    idmint: Idmint, tenant: InitResult, owner: str
) -> None:
    workspace_id = tenant.workspace.id
    idmint.console.create_account("ann@example.com")
    idmint.console.set_membership("ann@example.com", workspace_id, "viewer")
    idmint.console.set_membership("ann@example.com", workspace_id, "admin")
    assert idmint.console.memberships("ann@example.com") == {workspace_id: "admin"}
    assert idmint.console.remove_membership("ann@example.com", workspace_id)
    assert not idmint.console.remove_membership("ann@example.com", workspace_id)
    assert idmint.console.memberships("ann@example.com") == {}
    with pytest.raises(WorkspaceNotFoundError):
        idmint.console.set_membership("ann@example.com", "ws_nope", "viewer")
    with pytest.raises(InvalidArgumentError):
        idmint.console.set_membership("ann@example.com", workspace_id, "owner")


# --- audit and secrets ----------------------------------------------------------------------------


def test_console_actions_are_audited_with_the_accounts_actor(
    idmint: Idmint, tenant: InitResult, owner: str
) -> None:
    _, signed_in = idmint.console.sign_in(OWNER, owner, client="192.0.2.7")
    actor = idmint.console.actor(signed_in.account)
    assert actor == f"console:{OWNER}"
    idmint.console.create_account(
        "ann@example.com", memberships={tenant.workspace.id: "viewer"}, actor=actor
    )
    idmint.console.reset_password("ann@example.com", actor=actor)
    idmint.console.delete("ann@example.com", actor=actor)
    events = {(row.action, row.actor, row.subject) for row in audit_rows(idmint)}
    assert {
        ("console.sign_in", actor, None),
        ("console.account.create", actor, "ann@example.com"),
        ("console.membership.set", actor, "ann@example.com"),
        ("console.account.password_reset", actor, "ann@example.com"),
        ("console.account.delete", actor, "ann@example.com"),
        ("console.account.create", "cli", OWNER),
    } <= events


def test_no_password_session_secret_or_csrf_token_is_stored_in_clear(
    idmint: Idmint, store: Store, owner: str
) -> None:
    chosen = "a chosen password, long"
    idmint.console.create_account("ann@example.com", password=chosen)
    secret, signed_in = idmint.console.sign_in(OWNER, owner, client=_client())
    reset = idmint.console.reset_password("ann@example.com")
    assert reset.password is not None
    _, ann = idmint.console.sign_in("ann@example.com", reset.password, client=_client())
    with pytest.raises(SignInFailedError):
        idmint.console.sign_in(OWNER, "a wrong guess here", client=_client())
    text = _all_rows_text(store)
    assert "$argon2id$" in text  # the rows are there
    assert signed_in.session.id in text
    for leaked in (owner, chosen, reset.password, secret, signed_in.csrf_token, ann.csrf_token):
        assert leaked not in text
    assert "a wrong guess here" not in text


def test_accounts_persist_across_instances(
    settings: Settings, store: Store, clock: FrozenClock, tmp_path: Path
) -> None:
    first = _fast(Idmint(settings, store, MASTER_KEY, clock=clock))
    created = first.console.create_account(OWNER, "owner")
    assert created.password is not None
    secret, _ = first.console.sign_in(OWNER, created.password, client=_client())
    other_settings = Settings(data_dir=tmp_path, public_url=PUBLIC_URL)
    second = _fast(Idmint(other_settings, store, MASTER_KEY, clock=clock))
    assert second.console.session(secret) is not None  # server-side: any instance
    assert second.console.sign_out(secret)
    assert first.console.session(secret) is None
