"""The key ring: one active key signs, published keys verify, retired keys are gone."""

from __future__ import annotations

import pytest

from idmint import (
    InvalidKeyError,
    KeyRing,
    KeyState,
    NoActiveKeyError,
    RetiredKeyError,
    SigningKey,
    UnknownKeyError,
)


@pytest.fixture(scope="module")
def keys() -> dict[KeyState, SigningKey]:
    return {state: SigningKey.generate("ES256", state=state) for state in KeyState}


def test_ring_needs_exactly_one_active_key(keys: dict[KeyState, SigningKey]) -> None:
    with pytest.raises(NoActiveKeyError):
        KeyRing([keys[KeyState.NEXT]])
    second = SigningKey.generate("EdDSA")
    with pytest.raises(InvalidKeyError, match="exactly one active"):
        KeyRing([keys[KeyState.ACTIVE], second])


def test_ring_refuses_repeated_kid(keys: dict[KeyState, SigningKey]) -> None:
    active = keys[KeyState.ACTIVE]
    with pytest.raises(InvalidKeyError, match="repeats kid"):
        KeyRing([active, active.with_state(KeyState.RETIRING)])


def test_published_keys_verify_and_retired_keys_fail_clearly(
    keys: dict[KeyState, SigningKey],
) -> None:
    ring = KeyRing(keys.values())
    assert ring.active is keys[KeyState.ACTIVE]
    for state in (KeyState.NEXT, KeyState.ACTIVE, KeyState.RETIRING):
        assert ring.resolve(keys[state].kid) is keys[state].public
    with pytest.raises(RetiredKeyError) as raised:
        ring.resolve(keys[KeyState.RETIRED].kid)
    assert raised.value.code == "token_key_retired"
    with pytest.raises(UnknownKeyError) as unknown:
        ring.resolve("never-seen")
    assert unknown.value.code == "token_unknown_kid"
    with pytest.raises(UnknownKeyError):
        ring.resolve(None)


def test_jwks_publishes_next_active_retiring_only(keys: dict[KeyState, SigningKey]) -> None:
    jwks = KeyRing(keys.values()).jwks()
    kids = [jwk["kid"] for jwk in jwks["keys"]]
    assert sorted(kids) == sorted(keys[s].kid for s in KeyState if s is not KeyState.RETIRED)
    assert len(set(kids)) == len(kids)
    for jwk in jwks["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & jwk.keys()
        assert jwk["use"] == "sig"
