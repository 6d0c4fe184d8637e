"""A workspace's key ring: exactly one active key signs; next, active and retiring keys verify.

Like itsdangerous's list of secret keys (newest signs, all verify), but with explicit states,
so that a new key is published before it signs and an old one keeps verifying after it stops.
"""

from __future__ import annotations

from collections.abc import Iterable

from idmint.jose.errors import InvalidKeyError, NoActiveKeyError, RetiredKeyError, UnknownKeyError
from idmint.jose.jwk import JWKSet, VerificationKey
from idmint.jose.keys import KeyState, SigningKey

__all__ = ["KeyRing"]


class KeyRing:
    """The signing keys of one issuer.

    :param keys: the keys in any state; retired ones are remembered by kid only.
    :param retired: kids of keys already gone (their private part need not be loaded).
    :raises NoActiveKeyError: when no key is active.
    :raises InvalidKeyError: when several keys are active or a kid repeats.
    """

    def __init__(self, keys: Iterable[SigningKey], *, retired: Iterable[str] = ()) -> None:
        published: dict[str, SigningKey] = {}
        retired = set(retired)
        active: list[SigningKey] = []
        for key in keys:
            if key.kid in published or key.kid in retired:
                raise InvalidKeyError(f"The key ring repeats kid {key.kid!r}.")
            if key.state is KeyState.RETIRED:
                retired.add(key.kid)
                continue
            published[key.kid] = key
            if key.state is KeyState.ACTIVE:
                active.append(key)
        if not active:
            raise NoActiveKeyError("The key ring has no active key.")
        if len(active) > 1:
            raise InvalidKeyError("A key ring has exactly one active key.")
        self._active = active[0]
        self._published = published
        self._retired = frozenset(retired)
        self._public = JWKSet((key.public for key in published.values()), retired=retired)
        self._jwks = self._public.to_dict()

    @property
    def active(self) -> SigningKey:
        """The one key that signs."""
        return self._active

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        """The published keys (next, active, retiring)."""
        return tuple(self._published.values())

    @property
    def retired_kids(self) -> frozenset[str]:
        return self._retired

    def resolve(self, kid: str | None) -> VerificationKey:
        """The verification key for ``kid`` if it is published (idmint tokens always name one).

        :raises RetiredKeyError: when ``kid`` belonged to a retired key.
        :raises UnknownKeyError: when it never belonged to this ring.
        """
        if kid is None:
            raise UnknownKeyError("The token names no key (no 'kid' header).", kid=None)
        key = self._published.get(kid)
        if key is not None:
            return key.public
        if kid in self._retired:
            raise RetiredKeyError(kid=kid)
        raise UnknownKeyError(kid=kid)

    def public_keys(self) -> JWKSet:
        """The published public keys as a :class:`JWKSet`."""
        return self._public

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWKS document: public members, kid, alg and use of every published key.

        A fresh copy each time, so a caller cannot alter what the ring publishes.
        """
        return {"keys": [dict(jwk) for jwk in self._jwks["keys"]]}

    def __repr__(self) -> str:
        states = ", ".join(f"{k.kid[:8]}:{k.state.value}" for k in self._published.values())
        return f"KeyRing({states})"
