"""Signing-key rotation, a full cycle on the injected clock: pre-publish -> active ->
retiring -> retired, with a verifier that holds a stale copy of the JWKS."""

from __future__ import annotations

from pathlib import Path

import pytest

from idmint import FrozenClock, JWKSet, RetiredKeyError, TokenVerifier, UnknownKeyError
from idmint.jose.tokens import MintedToken
from idmint.service import Idmint, InitResult
from idmint.settings import Settings
from idmint.store import Store

from .conftest import MASTER_KEY

DAY = 86400


def _mint(idmint: Idmint, tenant: InitResult, lifetime: int | None = None) -> MintedToken:
    return idmint.tokens.mint(
        tenant.workspace.api_key,
        tenant.auth_token.secret,
        "user-1",
        organization_id="org-1",
        expires_in=lifetime,
    )


def _states(idmint: Idmint, tenant: InitResult) -> dict[str, str]:
    return {row.kid: row.state for row in idmint.keys.keys(tenant.workspace)}


def _jwks(idmint: Idmint, tenant: InitResult) -> dict[str, object]:
    return idmint.keys.for_workspace(tenant.workspace).ring.jwks()


def _offline_verifier(
    jwks: dict[str, object], idmint: Idmint, tenant: InitResult, clock: FrozenClock
) -> TokenVerifier:
    """What another service holds: a JWKS copy fetched at some moment, never refreshed."""
    return TokenVerifier(
        JWKSet.from_dict(jwks),
        issuer=idmint.settings.issuer_for(tenant.workspace.api_key),
        audience=tenant.workspace.api_key,
        clock=clock,
    )


def test_full_rotation_cycle_with_a_stale_jwks(
    idmint: Idmint, tenant: InitResult, clock: FrozenClock
) -> None:
    settings = idmint.settings
    old_kid = idmint.keys.for_workspace(tenant.workspace).ring.active.kid
    before = _mint(idmint, tenant)  # 48 h token signed by the old key

    # 1. Pre-publish: the next key is in the JWKS at once, but does not sign.
    new = idmint.keys.rotate(tenant.workspace, actor="test")
    assert _states(idmint, tenant) == {old_kid: "active", new.kid: "next"}
    assert {key["kid"] for key in _jwks(idmint, tenant)["keys"]} == {old_kid, new.kid}  # type: ignore[index]
    assert _mint(idmint, tenant).kid == old_kid
    assert idmint.keys.rotate(tenant.workspace, actor="test").kid == new.kid  # idempotent

    # The stalest JWKS copy a well-behaved verifier can hold at promotion time was fetched
    # max-age before it: still after the next key was published, since pre-publish > max-age.
    clock.advance(settings.key_prepublish_seconds - settings.jwks_max_age_seconds)
    stale = _offline_verifier(_jwks(idmint, tenant), idmint, tenant, clock)
    assert idmint.keys.maintain(tenant.workspace) == []  # not due yet
    clock.advance(settings.jwks_max_age_seconds)

    # 2. Promotion: the new key signs, the old one is retiring and still verifies.
    assert idmint.keys.maintain(tenant.workspace) == [f"activated {new.kid}"]
    assert _states(idmint, tenant) == {old_kid: "retiring", new.kid: "active"}
    after = _mint(idmint, tenant)
    assert after.kid == new.kid
    stale.verify(after.token)  # the cached copy already knew the new key
    stale.verify(before.token)
    idmint.tokens.verify(tenant.workspace.api_key, before.token)
    idmint.tokens.identify(
        tenant.workspace.api_key, {"userId": "user-1", "organizationId": "org-1"}, before.token
    )

    # 3. Retiring until every token the old key signed has expired (the longest lifetime).
    clock.advance(30 * DAY)
    assert idmint.keys.maintain(tenant.workspace) == []
    assert old_kid in {key["kid"] for key in _jwks(idmint, tenant)["keys"]}  # type: ignore[index]
    clock.advance(settings.leeway_seconds)

    # 4. Retired: gone from the JWKS, its private part erased, its tokens fail clearly.
    assert idmint.keys.maintain(tenant.workspace) == [f"retired {old_kid}"]
    assert _states(idmint, tenant) == {old_kid: "retired", new.kid: "active"}
    assert {key["kid"] for key in _jwks(idmint, tenant)["keys"]} == {new.kid}  # type: ignore[index]
    row = next(r for r in idmint.keys.keys(tenant.workspace) if r.kid == old_kid)
    assert row.sealed_private_key == ""
    with pytest.raises(RetiredKeyError) as raised:
        idmint.tokens.verify(tenant.workspace.api_key, before.token)
    assert raised.value.code == "token_key_retired"
    fresh = _offline_verifier(_jwks(idmint, tenant), idmint, tenant, clock)
    with pytest.raises(UnknownKeyError):
        fresh.verify(before.token)
    idmint.tokens.verify(tenant.workspace.api_key, _mint(idmint, tenant).token)


def test_rotation_steps_are_audited(idmint: Idmint, tenant: InitResult, clock: FrozenClock) -> None:
    new = idmint.keys.rotate(tenant.workspace, actor="admin")
    clock.advance(idmint.settings.key_prepublish_seconds)
    idmint.keys.maintain(tenant.workspace)
    clock.advance(31 * DAY)
    idmint.keys.maintain(tenant.workspace)
    idmint.audit.flush()
    steps = [
        (event.detail.get("step"), event.subject)
        for event in reversed(idmint.store.audit_events(tenant.workspace.id, action="key.rotate"))
    ]
    assert steps[:2] == [("published", new.kid), ("activated", new.kid)]
    assert steps[2][0] == "retired"


def test_emergency_rotation_promotes_at_once(idmint: Idmint, tenant: InitResult) -> None:
    old_kid = idmint.keys.for_workspace(tenant.workspace).ring.active.kid
    new = idmint.keys.rotate(tenant.workspace, actor="test", alg="EdDSA", now=True)
    assert new.state == "active"
    assert new.alg == "EdDSA"
    assert _states(idmint, tenant)[old_kid] == "retiring"
    assert _mint(idmint, tenant).kid == new.kid


def test_scheduled_rotation(tmp_path: Path, store: Store, clock: FrozenClock) -> None:
    settings = Settings(data_dir=tmp_path, key_rotation_days=90)
    idmint = Idmint(settings, store, MASTER_KEY, clock=clock)
    tenant = idmint.init_workspace("Acme")
    assert idmint.keys.maintain(tenant.workspace) == []
    clock.advance(90 * DAY)
    done = idmint.keys.maintain(tenant.workspace)
    assert len(done) == 1
    assert done[0].startswith("published ")
    clock.advance(settings.key_prepublish_seconds)
    assert idmint.keys.maintain(tenant.workspace)[0].startswith("activated ")


def test_prepublish_must_outlast_jwks_caches() -> None:
    with pytest.raises(ValueError, match="key_prepublish_seconds"):
        Settings(key_prepublish_seconds=300, jwks_max_age_seconds=300)
