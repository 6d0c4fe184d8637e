"""Public keys as JWK (RFC 7517/7518), thumbprints (RFC 7638) and JWK sets.

Import is strict, because a JWK set is what a verifier trusts: a set is refused whole when any
member is symmetric, carries private material, is meant for encryption, names an algorithm
that does not fit its key, is weak (RSA under 2048 bits, exponent 1, the ROCA fingerprint),
is not a point on its curve, or repeats a kid.  Export writes public members only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final, Protocol

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from idmint.jose._b64 import b64decode, b64encode, uint_decode, uint_encode
from idmint.jose.algorithms import MIN_RSA_BITS, Algorithm, PublicKey, get_algorithm
from idmint.jose.errors import InvalidKeyError, RetiredKeyError, UnknownKeyError

__all__ = ["JWKSet", "KeyResolver", "VerificationKey", "import_jwk", "public_jwk", "thumbprint"]

_CURVES: Final[dict[str, ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}
_CURVE_NAMES: Final = {curve.name: crv for crv, curve in _CURVES.items()}
_DEFAULT_ALG_FOR_CRV: Final = {
    "P-256": "ES256",
    "P-384": "ES384",
    "P-521": "ES512",
    "Ed25519": "EdDSA",
}
# Members that only a private (or symmetric) JWK has.
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_MAX_KEYS_IN_SET: Final = 100


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key pinned to one algorithm, as a verifier holds it."""

    kid: str
    alg: Algorithm
    public_key: PublicKey

    def verify(self, data: bytes, signature: bytes) -> bool:
        """Whether ``signature`` signs ``data`` under this key and its algorithm."""
        return self.alg.verify(self.public_key, data, signature)

    def to_jwk(self) -> dict[str, str]:
        """The public JWK: key members, ``kid``, ``alg`` and ``use: "sig"``; nothing private."""
        return public_jwk(self.public_key, alg=self.alg.name, kid=self.kid)


class KeyResolver(Protocol):
    """Finds the verification key for a token's ``kid``."""

    def resolve(self, kid: str | None) -> VerificationKey:
        """The key for ``kid`` (``None`` when the token names none), or raise
        :class:`UnknownKeyError` / :class:`RetiredKeyError`."""
        ...


def _key_members(public_key: PublicKey) -> dict[str, str]:
    """The members that define a public key, as RFC 7638 lists them per key type."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        numbers = public_key.public_numbers()
        size = (public_key.curve.key_size + 7) // 8
        return {
            "crv": _CURVE_NAMES[public_key.curve.name],
            "kty": "EC",
            "x": uint_encode(numbers.x, size),
            "y": uint_encode(numbers.y, size),
        }
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return {"crv": "Ed25519", "kty": "OKP", "x": b64encode(public_key.public_bytes_raw())}
    numbers_rsa = public_key.public_numbers()
    return {"e": uint_encode(numbers_rsa.e), "kty": "RSA", "n": uint_encode(numbers_rsa.n)}


def thumbprint(public_key: PublicKey) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public key, base64url: idmint's ``kid``."""
    canonical = json.dumps(_key_members(public_key), sort_keys=True, separators=(",", ":"))
    return b64encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def public_jwk(public_key: PublicKey, *, alg: str, kid: str) -> dict[str, str]:
    """A public key as a signature JWK with its ``kid`` and ``alg``."""
    return {**_key_members(public_key), "kid": kid, "alg": alg, "use": "sig"}


@cache
def _roca_generator_subgroups() -> tuple[tuple[int, frozenset[int]], ...]:
    # ROCA (CVE-2017-15361): Infineon's RSA primes have the form k*M + (65537^a mod M), so the
    # modulus modulo each small prime p lies in the subgroup that 65537 generates mod p.  A random
    # modulus fails that test for some p almost surely (Nemec et al., CCS 2017, the fingerprint).
    primes = [p for p in range(3, 168) if all(p % d for d in range(2, int(p**0.5) + 1))]
    subgroups = []
    for p in primes:
        members, x = set(), 1
        while x not in members:
            members.add(x)
            x = (x * 65537) % p
        subgroups.append((p, frozenset(members)))
    return tuple(subgroups)


def has_roca_fingerprint(modulus: int) -> bool:
    """Whether an RSA modulus has the ROCA fingerprint of a weak Infineon key."""
    return all(modulus % p in members for p, members in _roca_generator_subgroups())


def _text(jwk: Mapping[str, Any], name: str) -> str:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise InvalidKeyError(f"JWK member {name!r} must be a string.")
    return value


def _public_key_from_members(jwk: Mapping[str, Any]) -> PublicKey:
    kty = jwk.get("kty")
    try:
        if kty == "EC":
            crv = _text(jwk, "crv")
            if crv not in _CURVES:
                raise InvalidKeyError(f"Unsupported EC curve {crv!r}.")
            curve = _CURVES[crv]
            size = (curve.key_size + 7) // 8
            x = uint_decode(_text(jwk, "x"), fixed_length=size)
            y = uint_decode(_text(jwk, "y"), fixed_length=size)
            # public_key() checks that (x, y) is a point on the curve.
            return ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
        if kty == "OKP":
            if jwk.get("crv") != "Ed25519":
                raise InvalidKeyError(f"Unsupported OKP curve {jwk.get('crv')!r}.")
            raw = b64decode(_text(jwk, "x"))
            if len(raw) != 32:
                raise InvalidKeyError("An Ed25519 key is 32 bytes.")
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
        if kty == "RSA":
            n = uint_decode(_text(jwk, "n"))
            e = uint_decode(_text(jwk, "e"))
            if n.bit_length() < MIN_RSA_BITS:
                raise InvalidKeyError(f"RSA keys must have at least {MIN_RSA_BITS} bits.")
            if e < 3 or e % 2 == 0:
                raise InvalidKeyError("The RSA public exponent must be odd and at least 3.")
            if has_roca_fingerprint(n):
                raise InvalidKeyError("The RSA key has the ROCA fingerprint (CVE-2017-15361).")
            return rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError as exc:
        raise InvalidKeyError(f"Malformed {kty} key: {exc}.") from exc
    if kty == "oct":
        raise InvalidKeyError(
            "Symmetric (oct) keys are never accepted: idmint signs asymmetrically."
        )
    raise InvalidKeyError(f"Unsupported key type {kty!r}.")


def import_jwk(jwk: object, *, alg: str | None = None) -> VerificationKey:
    """A verification key from a public signature JWK.

    :param alg: pin this algorithm; the JWK's own ``alg``, when present, must agree.  Without
        either, EC and OKP keys take their curve's algorithm and RSA keys are refused (RS256 or
        PS256 would be a guess).
    :raises InvalidKeyError: for anything but a sound public signature key.
    """
    if not isinstance(jwk, Mapping):
        raise InvalidKeyError("A JWK must be a JSON object.")
    if present := sorted(_PRIVATE_MEMBERS & jwk.keys()):
        raise InvalidKeyError(f"The JWK carries private or symmetric members {present}.")
    if "use" in jwk and jwk["use"] != "sig":
        raise InvalidKeyError(f"The JWK is for use {jwk['use']!r}, not signatures.")
    if "key_ops" in jwk:
        ops = jwk["key_ops"]
        if not isinstance(ops, list) or "verify" not in ops:
            raise InvalidKeyError("The JWK's key_ops do not include 'verify'.")
    declared = jwk.get("alg")
    if declared is not None and alg is not None and declared != alg:
        raise InvalidKeyError(f"The JWK is for {declared!r}, not {alg!r}.")
    name = alg or declared or _DEFAULT_ALG_FOR_CRV.get(str(jwk.get("crv")))
    if name is None:
        raise InvalidKeyError("The JWK names no algorithm, and its key type has no default.")
    try:
        algorithm = get_algorithm(name)
    except KeyError:
        raise InvalidKeyError(f"Unsupported algorithm {name!r}.") from None
    public_key = _public_key_from_members(jwk)
    if algorithm.kty != jwk.get("kty") or not algorithm.accepts(public_key):
        raise InvalidKeyError(f"The key does not fit the algorithm {algorithm.name}.")
    kid = jwk.get("kid")
    if kid is None:
        kid = thumbprint(public_key)
    elif not isinstance(kid, str) or not kid:
        raise InvalidKeyError("The JWK's kid must be a non-empty string.")
    return VerificationKey(kid=kid, alg=algorithm, public_key=public_key)


class JWKSet:
    """A set of verification keys by kid, as a verifier that fetched a JWKS holds it.

    :param keys: the keys; kids must be unique.
    :param retired: kids known to be retired, so that their tokens fail with a clearer code.
    """

    def __init__(self, keys: Iterable[VerificationKey], *, retired: Iterable[str] = ()) -> None:
        self._keys: dict[str, VerificationKey] = {}
        for key in keys:
            if key.kid in self._keys:
                raise InvalidKeyError(f"The key set repeats kid {key.kid!r}.")
            self._keys[key.kid] = key
        self._retired = frozenset(retired) - self._keys.keys()

    @classmethod
    def from_dict(cls, jwks: object) -> JWKSet:
        """Import a JWK set document (``{"keys": [...]}``), refusing it whole on any bad member.

        :raises InvalidKeyError: naming the first offending member.
        """
        if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
            raise InvalidKeyError('A JWK set is an object with a "keys" array.')
        members = jwks["keys"]
        if len(members) > _MAX_KEYS_IN_SET:
            raise InvalidKeyError(f"A JWK set may hold at most {_MAX_KEYS_IN_SET} keys.")
        keys = []
        for index, member in enumerate(members):
            try:
                keys.append(import_jwk(member))
            except InvalidKeyError as exc:
                raise InvalidKeyError(f"keys[{index}]: {exc.message}") from exc
        return cls(keys)

    def to_dict(self) -> dict[str, list[dict[str, str]]]:
        """The public JWK set document."""
        return {"keys": [key.to_jwk() for key in self._keys.values()]}

    def resolve(self, kid: str | None) -> VerificationKey:
        """The key named ``kid``; a token without kid resolves only in a one-key set."""
        if kid is None:
            if len(self._keys) == 1:
                return next(iter(self._keys.values()))
            raise UnknownKeyError("The token names no key (no 'kid' header).", kid=None)
        try:
            return self._keys[kid]
        except KeyError:
            if kid in self._retired:
                raise RetiredKeyError(kid=kid) from None
            raise UnknownKeyError(kid=kid) from None

    def __iter__(self) -> Iterator[VerificationKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys
