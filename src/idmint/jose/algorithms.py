"""The JWS signature algorithms idmint speaks, over ``cryptography``.

Each :class:`Algorithm` is made once and keeps its hash and padding objects, so signing and
verifying build nothing per call.  The set is deliberately asymmetric-only: HMAC ("HS256") and
"none" are not algorithms here, so no key can ever be used as an HMAC secret (the classic
RS256/HS256 key-confusion attack has nothing to confuse).

| name   | key                     | signature form                      |
|--------|-------------------------|-------------------------------------|
| EdDSA  | Ed25519                 | 64 bytes                            |
| ES256  | EC P-256                | r || s, 32 bytes each (RFC 7518 §3.4) |
| ES384  | EC P-384                | r || s, 48 bytes each               |
| ES512  | EC P-521                | r || s, 66 bytes each               |
| RS256, RS384, RS512 | RSA >= 2048 bits | RSASSA-PKCS1-v1_5, modulus length |
| PS256, PS384, PS512 | RSA >= 2048 bits | RSASSA-PSS, MGF1, salt = hash length |
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Final, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

__all__ = ["ALGORITHMS", "Algorithm", "PrivateKey", "PublicKey", "get_algorithm"]

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey

MIN_RSA_BITS: Final = 2048


class Algorithm(ABC):
    """One JWS algorithm: which keys it takes, how it signs and verifies."""

    name: str
    kty: ClassVar[str]
    crv: str | None = None

    @abstractmethod
    def sign(self, key: PrivateKey, data: bytes) -> bytes:
        """Sign ``data`` with a private key of this algorithm's type."""

    @abstractmethod
    def verify(self, key: PublicKey, data: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is a valid signature of ``data``; never raises on bad input."""

    @abstractmethod
    def accepts(self, key: PrivateKey | PublicKey) -> bool:
        """Whether ``key`` is of the type and size this algorithm uses."""

    def __repr__(self) -> str:
        return f"<Algorithm {self.name}>"


class _ECDSA(Algorithm):
    kty = "EC"

    def __init__(self, name: str, crv: str, curve: ec.EllipticCurve, hash_: hashes.HashAlgorithm):
        self.name = name
        self.crv = crv
        self.curve = curve
        self.size = (curve.key_size + 7) // 8
        self._ecdsa = ec.ECDSA(hash_)

    def sign(self, key: PrivateKey, data: bytes) -> bytes:
        # The key's type was checked once, when its SigningKey was made (accepts()).
        key = cast(ec.EllipticCurvePrivateKey, key)
        r, s = decode_dss_signature(key.sign(data, self._ecdsa))
        return r.to_bytes(self.size, "big") + s.to_bytes(self.size, "big")

    def verify(self, key: PublicKey, data: bytes, signature: bytes) -> bool:
        # JWS fixes the form to r || s of exactly twice the curve size (RFC 7518 §3.4): a DER
        # signature, a truncated one or one with extra bytes is refused before any arithmetic.
        if len(signature) != 2 * self.size or not isinstance(key, ec.EllipticCurvePublicKey):
            return False
        r = int.from_bytes(signature[: self.size], "big")
        s = int.from_bytes(signature[self.size :], "big")
        if r == 0 or s == 0:
            return False
        try:
            key.verify(encode_dss_signature(r, s), data, self._ecdsa)
        except InvalidSignature:
            return False
        return True

    def accepts(self, key: PrivateKey | PublicKey) -> bool:
        return (
            isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey)
            and key.curve.name == self.curve.name
        )


class _EdDSA(Algorithm):
    kty = "OKP"

    def __init__(self) -> None:
        self.name = "EdDSA"
        self.crv = "Ed25519"

    def sign(self, key: PrivateKey, data: bytes) -> bytes:
        # The key's type was checked once, when its SigningKey was made (accepts()).
        key = cast(ed25519.Ed25519PrivateKey, key)
        return key.sign(data)

    def verify(self, key: PublicKey, data: bytes, signature: bytes) -> bool:
        if len(signature) != 64 or not isinstance(key, ed25519.Ed25519PublicKey):
            return False
        try:
            key.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def accepts(self, key: PrivateKey | PublicKey) -> bool:
        return isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey)


class _RSA(Algorithm):
    kty = "RSA"

    def __init__(self, name: str, hash_: hashes.HashAlgorithm, *, pss: bool) -> None:
        self.name = name
        self._hash = hash_
        self._padding: padding.AsymmetricPadding = (
            # RFC 7518 §3.5: the salt is as long as the hash output.
            padding.PSS(mgf=padding.MGF1(hash_), salt_length=hash_.digest_size)
            if pss
            else padding.PKCS1v15()
        )

    def sign(self, key: PrivateKey, data: bytes) -> bytes:
        # The key's type was checked once, when its SigningKey was made (accepts()).
        key = cast(rsa.RSAPrivateKey, key)
        return key.sign(data, self._padding, self._hash)

    def verify(self, key: PublicKey, data: bytes, signature: bytes) -> bool:
        if not isinstance(key, rsa.RSAPublicKey):
            return False
        # The signature is exactly as long as the modulus (RFC 8017 §8.2.2 step 1).
        if len(signature) != (key.key_size + 7) // 8:
            return False
        try:
            key.verify(signature, data, self._padding, self._hash)
        except InvalidSignature:
            return False
        return True

    def accepts(self, key: PrivateKey | PublicKey) -> bool:
        return (
            isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS
        )


ALGORITHMS: Final[dict[str, Algorithm]] = {
    alg.name: alg
    for alg in (
        _EdDSA(),
        _ECDSA("ES256", "P-256", ec.SECP256R1(), hashes.SHA256()),
        _ECDSA("ES384", "P-384", ec.SECP384R1(), hashes.SHA384()),
        _ECDSA("ES512", "P-521", ec.SECP521R1(), hashes.SHA512()),
        _RSA("RS256", hashes.SHA256(), pss=False),
        _RSA("RS384", hashes.SHA384(), pss=False),
        _RSA("RS512", hashes.SHA512(), pss=False),
        _RSA("PS256", hashes.SHA256(), pss=True),
        _RSA("PS384", hashes.SHA384(), pss=True),
        _RSA("PS512", hashes.SHA512(), pss=True),
    )
}


def get_algorithm(name: object) -> Algorithm:
    """The algorithm called ``name``.

    :raises KeyError: when idmint does not implement it (HMAC and "none" never are).
    """
    if not isinstance(name, str) or name not in ALGORITHMS:
        raise KeyError(name)
    return ALGORITHMS[name]
