"""Throttled guessing and the mint quota: the counters (in memory, in a shared Redis, in memory
again when Redis is gone) and what the service does with them.

The counters' windows are the ``limits`` library's, on the wall clock, so the tests that wait
for one to clear use windows of a second or two.
"""

from __future__ import annotations

import logging
import socket
import time
import uuid

import pytest
import redis

from idmint import FrozenClock
from idmint.jose.errors import (
    AuthTokenNotFoundError,
    AuthTokenRevokedError,
    AuthTokenScopeError,
    RateLimitedError,
)
from idmint.service import Idmint, InitResult
from idmint.service.throttle import Throttle
from idmint.settings import Settings
from idmint.store import Store

from .conftest import MASTER_KEY, audit_rows

REDIS_URL = "redis://127.0.0.1:6379/15"


def _address() -> str:
    """An address no other test (or earlier run sharing Redis) has counted."""
    return f"198.51.100.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def shared_redis() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:  # pragma: no cover - CI starts Redis (.ci/run)
        raise AssertionError(f"Redis on 127.0.0.1:6379 is needed: {exc}") from exc
    return REDIS_URL


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- the counters -------------------------------------------------------------------------


def test_an_address_is_blocked_once_past_its_limit_and_only_it() -> None:
    throttle = Throttle(per_address="3/minute", per_api_key="1000/minute")
    attacker, bystander = _address(), _address()
    blocks = [throttle.failed(attacker, "pk_x") for _ in range(5)]
    # Three failures are the limit: the third starts the block (one event), so what comes
    # next is refused; later failures (counted on another instance) start nothing new.
    assert [len(b) for b in blocks] == [0, 0, 1, 0, 0]
    [block] = blocks[2]
    assert (block.scope, block.value) == ("address", attacker)
    retry = throttle.retry_after(attacker, "pk_other")
    assert retry is not None
    assert 1 <= retry <= 60
    assert throttle.retry_after(bystander, "pk_other") is None
    assert throttle.blocked(attacker, "pk_x") == (retry, None)


def test_an_api_key_is_blocked_by_failures_from_every_address() -> None:
    throttle = Throttle(per_address="1000/minute", per_api_key="5/minute")
    for _ in range(4):
        throttle.failed(_address(), "pk_target")
    assert throttle.blocked(_address(), "pk_target") == (None, None)
    throttle.failed(_address(), "pk_target")
    by_address, by_key = throttle.blocked(_address(), "pk_target")
    assert by_address is None
    assert by_key is not None
    assert by_key <= 60
    assert throttle.blocked(_address(), "pk_other") == (None, None)


def test_the_block_ends_with_the_window() -> None:
    throttle = Throttle(per_address="2/second", per_api_key="1000/minute")
    address = _address()
    for _ in range(2):
        throttle.failed(address, None)
    assert throttle.retry_after(address, None) == 1
    time.sleep(1.2)
    assert throttle.retry_after(address, None) is None
    assert throttle.failed(address, None) == []  # a fresh window


def test_redis_shares_the_counters_between_instances(shared_redis: str) -> None:
    first = Throttle(per_address="10/minute", per_api_key="1000/minute", redis_url=shared_redis)
    second = Throttle(per_address="10/minute", per_api_key="1000/minute", redis_url=shared_redis)
    address = _address()
    for _ in range(4):
        first.failed(address, None)
        second.failed(address, None)
    # Eight failures, spread over both: each has seen four, the shared counter eight.
    assert first.retry_after(address, None) is None
    assert second.retry_after(address, None) is None
    second.failed(address, None)
    assert len(second.failed(address, None)) == 1  # the tenth, wherever it lands
    assert second.retry_after(address, None) is not None
    # The other instance learns of the block at its next failure, not a request later.
    assert len(first.failed(address, None)) == 1
    assert first.retry_after(address, None) is not None


def test_an_unreachable_redis_counts_in_memory_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    throttle = Throttle(per_address="3/minute", per_api_key="1000/minute", redis_url=url)
    address = _address()
    with caplog.at_level(logging.ERROR, logger="idmint.throttle"):
        started = time.monotonic()
        blocks = [throttle.failed(address, None) for _ in range(3)]
        elapsed = time.monotonic() - started
    # Never fails open: the limit holds, counted in memory.
    assert [len(b) for b in blocks] == [0, 0, 1]
    assert throttle.retry_after(address, None) is not None
    errors = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(errors) == 1, [r.getMessage() for r in caplog.records]
    assert "IDMINT_REDIS_URL" in errors[0].getMessage()
    # Redis is not asked again for a while: one connection attempt, not one per failure.
    assert elapsed < 2.0


def test_quota() -> None:
    throttle = Throttle(per_address="3/minute", per_api_key="3/minute")
    workspace = uuid.uuid4().hex
    assert [throttle.within_quota("3/minute", workspace) for _ in range(3)] == [None] * 3
    retry = throttle.within_quota("3/minute", workspace)
    assert retry is not None
    assert 1 <= retry <= 60
    assert throttle.within_quota("3/minute", uuid.uuid4().hex) is None


# --- what the service does with them -------------------------------------------------------


@pytest.fixture
def guarded(settings: Settings, store: Store, clock: FrozenClock, tenant: InitResult) -> Idmint:
    """The service over the same store with a throttle of small limits."""
    small = settings.model_copy(
        update={"throttle_per_address": "5/minute", "throttle_per_api_key": "8/minute"}
    )
    return Idmint(small, store, MASTER_KEY, clock=clock)


def test_a_blocked_address_is_refused_even_with_good_credentials(
    guarded: Idmint, tenant: InitResult
) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    attacker = _address()
    for n in range(5):
        with pytest.raises(AuthTokenNotFoundError):
            guarded.tokens.mint(api_key, f"sk_guess{n}", "u", client=attacker)
    with pytest.raises(RateLimitedError) as caught:
        guarded.tokens.mint(api_key, "sk_guess-more", "u", client=attacker)
    assert caught.value.retry_after is not None
    with pytest.raises(RateLimitedError):
        guarded.tokens.mint(api_key, secret, "u", client=attacker)
    # Another address with the right credentials is not slowed.
    assert guarded.tokens.mint(api_key, secret, "u", client=_address()).token


def test_a_blocked_api_key_spares_the_backend_whose_token_is_in_use(
    guarded: Idmint, tenant: InitResult, clock: FrozenClock
) -> None:
    # API keys are public: an attacker can exhaust one's limit from many addresses. The
    # backend, whose token this instance holds as valid, goes on minting; the attacker's
    # guesses are refused without a store read.
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    backend = _address()
    guarded.tokens.mint(api_key, secret, "u", client=backend)
    for n in range(8):
        with pytest.raises(AuthTokenNotFoundError):
            guarded.tokens.mint(api_key, f"sk_guess{n}", "u", client=_address())
    with pytest.raises(RateLimitedError):
        guarded.tokens.mint(api_key, "sk_guess-more", "u", client=_address())
    assert guarded.tokens.mint(api_key, secret, "u", client=backend).token
    assert guarded.tokens.mint(api_key, secret, "u", client=_address()).token
    # ... for as long as it keeps minting: well past the credential cache's few seconds.
    clock.advance(1800)
    assert guarded.tokens.mint(api_key, secret, "u", client=backend).token
    # A token never seen here is refused like the guesses, until the window clears.
    other = guarded.workspaces.create_auth_token(api_key, "second", actor="cli").secret
    with pytest.raises(RateLimitedError):
        guarded.tokens.mint(api_key, other, "u", client=backend)


def test_a_revoked_token_is_no_guess_and_blocks_nobody(guarded: Idmint, tenant: InitResult) -> None:
    # A worker not yet switched to the new token keeps sending the revoked one: audited each
    # time, never counted, so the other workers on its host go on minting.
    api_key = tenant.workspace.api_key
    stale = guarded.workspaces.create_auth_token(api_key, "old", actor="cli")
    new = guarded.workspaces.create_auth_token(api_key, "new", actor="cli")
    guarded.workspaces.revoke_auth_token(api_key, stale.record.id, actor="cli")
    host = _address()
    for _ in range(20):
        with pytest.raises(AuthTokenRevokedError):
            guarded.tokens.mint(api_key, stale.secret, "u", client=host)
    assert guarded.throttle.blocked(host, api_key) == (None, None)
    assert guarded.tokens.mint(api_key, new.secret, "u", client=host).token
    guarded.audit.flush()
    revoked = [r for r in audit_rows(guarded) if r.reason_code == "auth_token_revoked"]
    assert len(revoked) == 20


def test_successes_are_never_counted(guarded: Idmint, tenant: InitResult) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    backend = _address()
    for _ in range(50):
        guarded.tokens.mint(api_key, secret, "u", client=backend)
    assert guarded.throttle.retry_after(backend, api_key) is None


def test_each_block_is_one_audit_event_and_failures_are_aggregated(
    guarded: Idmint, tenant: InitResult
) -> None:
    api_key = tenant.workspace.api_key
    attacker = _address()
    for n in range(40):
        with pytest.raises((AuthTokenNotFoundError, RateLimitedError)):
            guarded.tokens.mint(api_key, f"sk_guess{n}", "u", client=attacker)
    guarded.audit.flush()
    rows = [r for r in audit_rows(guarded) if r.outcome == "failure"]
    blocks = [r for r in rows if r.action == "throttle.block"]
    assert [(b.subject, b.client_address) for b in blocks] == [(f"address:{attacker}", attacker)]
    [failures] = [r for r in rows if r.reason_code == "auth_token_not_found"]
    # Five failures were checked; the 35 refused as blocked cost nothing but memory.
    assert failures.detail["count"] == 5
    assert failures.detail["firstAddress"] == failures.detail["lastAddress"] == attacker
    assert failures.client_address == attacker
    assert len(rows) == 2


def test_the_mint_quota_refuses_past_it_and_is_off_by_default(
    guarded: Idmint, tenant: InitResult
) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    for _ in range(10):
        guarded.tokens.mint(api_key, secret, "u", client=_address())
    guarded.workspaces.update_settings(api_key, actor="cli", mint_rate_limit="3/minute")
    for _ in range(3):
        guarded.tokens.mint(api_key, secret, "u", client=_address())
    with pytest.raises(RateLimitedError) as caught:
        guarded.tokens.mint(api_key, secret, "u", client=_address())
    assert "quota" in caught.value.message
    with pytest.raises(RateLimitedError):
        guarded.tokens.mint_for_email(api_key, secret, "nobody@example.com", client=None)
    guarded.workspaces.update_settings(api_key, actor="cli", mint_rate_limit="off")
    assert guarded.tokens.mint(api_key, secret, "u", client=_address()).token


# --- scopes ---------------------------------------------------------------------------------


def test_scopes_decide_what_a_token_may_do(idmint: Idmint) -> None:
    created = idmint.init_workspace("Shop")
    api_key = created.workspace.api_key
    assert created.auth_token.record.scopes == "mint"
    admin = idmint.workspaces.create_auth_token(api_key, "ops", actor="cli", scopes=["admin"])
    with pytest.raises(AuthTokenScopeError) as caught:
        idmint.tokens.mint(api_key, admin.secret, "u")
    assert caught.value.scope == "mint"
    with pytest.raises(AuthTokenScopeError):
        idmint.workspaces.authenticate(api_key, created.auth_token.secret, scope="admin")
    _, credential = idmint.workspaces.authenticate(api_key, admin.secret, scope="admin")
    assert credential.actor == f"auth_token:{admin.record.id}"


def test_the_memory_of_blocks_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("idmint.service.throttle.MAX_BLOCKED", 5)
    throttle = Throttle(per_address="1/minute", per_api_key="1000/minute")
    addresses = [_address() for _ in range(8)]
    for address in addresses:
        throttle.failed(address, None)
    assert len(throttle._blocked) == 5
    # The newest blocks are kept; the oldest went first.
    assert [throttle.retry_after(a, None) is not None for a in addresses] == [False] * 3 + [
        True
    ] * 5


def test_expired_counters_leave_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    # An attacker spreading failures over many addresses must not grow memory for good.
    monkeypatch.setattr("idmint.service.throttle.PRUNE_SECONDS", 0.0)
    throttle = Throttle(per_address="5/second", per_api_key="1000/second")
    for _ in range(300):
        throttle.failed(_address(), None)
    events = throttle._memory_storage.events
    assert len(events) >= 300
    time.sleep(1.3)  # the hits expire; limits' own timer empties their lists
    throttle.failed(_address(), None)
    assert len(events) <= 2
