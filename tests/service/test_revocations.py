"""Revocation: by jti, or a user's or organization's tokens issued before now."""

from __future__ import annotations

from typing import Any

import pytest

from idmint import FrozenClock
from idmint.jose.errors import TokenRevokedError
from idmint.jose.tokens import MintedToken
from idmint.service import Idmint, InitResult

from .conftest import MASTER_KEY

ANN = {"userId": "user-1", "organizationId": "org-1", "email": "ann@example.com"}
BOB = {"userId": "user-2", "organizationId": "org-2", "email": "bob@example.com"}


def _mint(idmint: Idmint, tenant: InitResult, user: dict[str, Any]) -> MintedToken:
    return idmint.tokens.mint(
        tenant.workspace.api_key,
        tenant.auth_token.secret,
        user["userId"],
        organization_id=user["organizationId"],
        email=user["email"],
    )


def _identify(idmint: Idmint, tenant: InitResult, user: dict[str, Any], token: str) -> None:
    idmint.tokens.identify(tenant.workspace.api_key, user, token)


def test_revoke_by_jti(idmint: Idmint, tenant: InitResult) -> None:
    first, second = _mint(idmint, tenant, ANN), _mint(idmint, tenant, ANN)
    idmint.revocations.add(tenant.workspace, "jti", first.jti, expires_at=first.expires_at)
    with pytest.raises(TokenRevokedError) as info:
        _identify(idmint, tenant, ANN, first.token)
    assert info.value.code == "token_revoked"
    with pytest.raises(TokenRevokedError):
        idmint.tokens.verify(tenant.workspace.api_key, first.token)
    _identify(idmint, tenant, ANN, second.token)  # another token of the same user


def test_revoke_user_tokens_issued_before_now(
    idmint: Idmint, tenant: InitResult, clock: FrozenClock
) -> None:
    old = _mint(idmint, tenant, ANN)
    bobs = _mint(idmint, tenant, BOB)
    clock.advance(10)
    idmint.revocations.add(tenant.workspace, "user", "user-1", reason="compromised")
    with pytest.raises(TokenRevokedError):
        _identify(idmint, tenant, ANN, old.token)
    _identify(idmint, tenant, BOB, bobs.token)

    clock.advance(1)
    _identify(idmint, tenant, ANN, _mint(idmint, tenant, ANN).token)  # issued afterwards


def test_revoke_organization_tokens_issued_before_now(
    idmint: Idmint, tenant: InitResult, clock: FrozenClock
) -> None:
    old = _mint(idmint, tenant, ANN)
    bobs = _mint(idmint, tenant, BOB)
    clock.advance(10)
    idmint.revocations.add(tenant.workspace, "organization", "org-1")
    with pytest.raises(TokenRevokedError):
        _identify(idmint, tenant, ANN, old.token)
    _identify(idmint, tenant, BOB, bobs.token)

    clock.advance(1)
    _identify(idmint, tenant, ANN, _mint(idmint, tenant, ANN).token)


@pytest.mark.parametrize(("kind", "value"), [("user", "user-1"), ("organization", "org-1")])
def test_revocation_covers_a_token_minted_at_the_same_instant(
    idmint: Idmint, tenant: InitResult, kind: str, value: str
) -> None:
    # Minted, then revoked: the revocation names every token that exists when it is made,
    # even when the clock did not tick in between (iat has whole-second resolution).
    minted = _mint(idmint, tenant, ANN)
    idmint.revocations.add(tenant.workspace, kind, value)
    with pytest.raises(TokenRevokedError):
        _identify(idmint, tenant, ANN, minted.token)


def test_revocation_applies_at_once_despite_the_cached_denylist(
    idmint: Idmint, tenant: InitResult
) -> None:
    minted = _mint(idmint, tenant, ANN)
    _identify(idmint, tenant, ANN, minted.token)  # caches the (empty) denylist
    idmint.revocations.add(tenant.workspace, "jti", minted.jti, expires_at=minted.expires_at)
    with pytest.raises(TokenRevokedError):
        _identify(idmint, tenant, ANN, minted.token)


def test_revocations_are_per_workspace(
    idmint: Idmint, tenant: InitResult, other_tenant: InitResult, clock: FrozenClock
) -> None:
    mine = _mint(idmint, tenant, ANN)
    theirs = _mint(idmint, other_tenant, ANN)
    clock.advance(1)
    idmint.revocations.add(other_tenant.workspace, "user", "user-1")
    _identify(idmint, tenant, ANN, mine.token)
    with pytest.raises(TokenRevokedError):
        _identify(idmint, other_tenant, ANN, theirs.token)


def test_another_instance_sees_a_revocation_after_the_cache_bound(
    idmint: Idmint, tenant: InitResult, clock: FrozenClock
) -> None:
    # A second service over the same store stands for another instance behind the balancer.
    other = Idmint(idmint.settings, idmint.store, MASTER_KEY, clock=clock)
    minted = _mint(idmint, tenant, ANN)
    _identify(other, tenant, ANN, minted.token)  # caches its denylist
    idmint.revocations.add(tenant.workspace, "jti", minted.jti, expires_at=minted.expires_at)
    clock.advance(idmint.settings.credential_cache_seconds)
    with pytest.raises(TokenRevokedError):
        _identify(other, tenant, ANN, minted.token)


def test_revocation_entries_expire(idmint: Idmint, tenant: InitResult, clock: FrozenClock) -> None:
    minted = _mint(idmint, tenant, ANN)
    row = idmint.revocations.add(tenant.workspace, "jti", minted.jti, expires_at=minted.expires_at)
    leeway = idmint.settings.leeway_seconds
    # The token verifies until exp + leeway: its entry must outlive it by as much.
    assert row.expires_at == minted.expires_at + leeway
    user_row = idmint.revocations.add(tenant.workspace, "user", "user-1")
    assert user_row.expires_at == clock.now() + 30 * 24 * 3600 + leeway
    assert user_row.issued_before == clock.now()
    assert row.issued_before is None

    clock.set(minted.expires_at + leeway - 1)
    assert len(idmint.store.revocations(tenant.workspace.id, clock.now())) == 2
    clock.set(minted.expires_at + leeway)
    assert [r.kind for r in idmint.store.revocations(tenant.workspace.id, clock.now())] == ["user"]
    assert idmint.store.purge_revocations(clock.now()) == 1
