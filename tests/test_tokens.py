"""Minting and verifying user tokens end to end in the library."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest

from conftest import AUDIENCE, ISSUER, NOW
from idmint import (
    FrozenClock,
    InvalidLifetimeError,
    KeyRing,
    KeyState,
    LifetimeBounds,
    SigningKey,
    TokenExpiredError,
    TokenMinter,
    TokenVerifier,
    mint,
    verify,
)
from idmint.api.errors import status_of
from idmint.jose._b64 import b64decode

ALGS = ["EdDSA", "ES256", "RS256", "PS256"]


def _decode(part: str) -> dict[str, object]:
    return json.loads(b64decode(part))  # type: ignore[no-any-return]


@pytest.mark.parametrize("alg", ALGS)
def test_minted_token_has_header_and_claims(
    alg: str, key_factory: Callable[[str], SigningKey], clock: FrozenClock
) -> None:
    key = key_factory(alg)
    minted = TokenMinter(KeyRing([key]), issuer=ISSUER, audience=AUDIENCE, clock=clock).mint(
        "user-1", organization_id="org-1", email="ann@example.com", is_admin=True
    )
    header_part, payload_part, _ = minted.token.split(".")
    assert _decode(header_part) == {"alg": alg, "typ": "JWT", "kid": key.kid}
    assert _decode(payload_part) == {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": int(NOW),
        "nbf": int(NOW),
        "exp": int(NOW) + 48 * 3600,
        "jti": minted.jti,
        "isAdmin": True,
        "organizationId": "org-1",
        "email": "ann@example.com",
    }
    assert minted.expires_in == 48 * 3600
    assert minted.kid == key.kid
    verified = verify(minted.token, KeyRing([key]), issuer=ISSUER, audience=AUDIENCE, clock=clock)
    assert verified.claims.subject == "user-1"
    assert verified.claims.is_admin is True


def test_jti_carries_128_random_bits(ring: KeyRing) -> None:
    minter = TokenMinter(ring, issuer=ISSUER, audience=AUDIENCE)
    jtis = {minter.mint("u").jti for _ in range(200)}
    assert len(jtis) == 200
    assert all(len(b64decode(jti)) == 16 for jti in jtis)


def test_optional_claims_are_omitted_when_not_given(ring: KeyRing) -> None:
    claims = TokenMinter(ring, issuer=ISSUER, audience=AUDIENCE).mint("u").claims
    assert "organizationId" not in claims
    assert "email" not in claims
    assert claims["isAdmin"] is False


def test_requested_lifetime_within_bounds(ring: KeyRing, clock: FrozenClock) -> None:
    minter = TokenMinter(ring, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    assert minter.mint("u", lifetime=3).expires_in == 3
    assert minter.mint("u", lifetime=timedelta(hours=1)).expires_in == 3600
    for bad in (0, -5, 7 * 86400 + 1):
        with pytest.raises(InvalidLifetimeError) as raised:
            minter.mint("u", lifetime=bad)
        assert status_of(raised.value)[1] == "INVALID_ARGUMENT"


def test_lifetime_bounds_are_configurable_and_sane() -> None:
    bounds = LifetimeBounds(minimum=timedelta(minutes=5), maximum=timedelta(hours=1))
    assert bounds.check(600) == 600
    with pytest.raises(InvalidLifetimeError):
        bounds.check(60)
    with pytest.raises(ValueError, match="Lifetime bounds"):
        LifetimeBounds(minimum=timedelta(hours=2), maximum=timedelta(hours=1))
    with pytest.raises(ValueError, match="Lifetime bounds"):
        LifetimeBounds(maximum=timedelta(days=31))
    with pytest.raises(InvalidLifetimeError):
        TokenMinter(SigningKey.generate(), issuer=ISSUER, audience=AUDIENCE, lifetime=10**9)


def test_token_expires_at_exp_plus_leeway(ring: KeyRing, clock: FrozenClock) -> None:
    minted = mint(ring.active, "u", issuer=ISSUER, audience=AUDIENCE, lifetime=60, clock=clock)
    verifier = TokenVerifier(ring, issuer=ISSUER, audience=AUDIENCE, clock=clock, leeway=10)
    clock.advance(69)
    verifier.verify(minted.token)
    clock.advance(1)
    with pytest.raises(TokenExpiredError):
        verifier.verify(minted.token)


def test_rotation_keeps_old_tokens_verifying(clock: FrozenClock) -> None:
    old = SigningKey.generate("ES256")
    new = SigningKey.generate("EdDSA", state=KeyState.NEXT)
    before = TokenMinter(KeyRing([old, new]), issuer=ISSUER, audience=AUDIENCE, clock=clock)
    old_token = before.mint("u").token
    rotated = KeyRing([old.with_state(KeyState.RETIRING), new.with_state(KeyState.ACTIVE)])
    new_token = TokenMinter(rotated, issuer=ISSUER, audience=AUDIENCE, clock=clock).mint("u")
    assert new_token.kid == new.kid
    verifier = TokenVerifier(rotated, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    verifier.verify(old_token)
    verifier.verify(new_token.token)
    # A verifier holding only the JWKS (as any other service would) agrees.
    from idmint import JWKSet

    offline = TokenVerifier(
        JWKSet.from_dict(rotated.jwks()), issuer=ISSUER, audience=AUDIENCE, clock=clock
    )
    offline.verify(old_token)
    offline.verify(new_token.token)
