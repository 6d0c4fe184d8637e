"""Signing keys: generation, loading, states, and encryption at rest.

A :class:`SigningKey` is one private key pinned to one algorithm, named by its RFC 7638
thumbprint, in one lifecycle :class:`KeyState`.  The key object is parsed once when the
:class:`SigningKey` is made; the precomputed JWS header segment is reused for every token.

Private keys leave memory only encrypted: :meth:`SigningKey.encrypt` seals the PKCS#8 form with
AES-256-GCM under a :class:`MasterKey`, binding the ciphertext to the key's kid and algorithm.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from idmint.jose._b64 import b64decode, b64encode
from idmint.jose.algorithms import Algorithm, PrivateKey, get_algorithm
from idmint.jose.errors import InvalidKeyError, KeyDecryptionError
from idmint.jose.jwk import VerificationKey, thumbprint

__all__ = ["DEFAULT_ALGORITHM", "KeyState", "MasterKey", "SigningKey", "generate_private_key"]

DEFAULT_ALGORITHM: Final = "ES256"
_ENVELOPE_PREFIX: Final = "idmint-key-v1"


class KeyState(StrEnum):
    """Where a signing key is in its life.

    ``next`` is published but does not sign yet (so verifiers learn it first); ``active`` signs;
    ``retiring`` no longer signs but is published and verifies until its tokens expire;
    ``retired`` is gone.
    """

    NEXT = "next"
    ACTIVE = "active"
    RETIRING = "retiring"
    RETIRED = "retired"

    @property
    def published(self) -> bool:
        """Whether keys in this state appear in the JWKS and verify tokens."""
        return self is not KeyState.RETIRED


def generate_private_key(alg: str = DEFAULT_ALGORITHM, *, rsa_bits: int = 2048) -> PrivateKey:
    """A fresh private key for ``alg`` (EdDSA, ES256/384/512, RS*/PS* with ``rsa_bits``)."""
    algorithm = _algorithm(alg)
    if algorithm.kty == "OKP":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm.kty == "EC":
        curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
        return ec.generate_private_key(curve[algorithm.name])
    if rsa_bits < 2048:
        raise InvalidKeyError("RSA keys must have at least 2048 bits.")
    return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)


def _algorithm(alg: str | Algorithm) -> Algorithm:
    if isinstance(alg, Algorithm):
        return alg
    try:
        return get_algorithm(alg)
    except KeyError:
        raise InvalidKeyError(f"Unsupported signing algorithm {alg!r}.") from None


@dataclass(frozen=True, eq=False)
class SigningKey:
    """A private key, its algorithm, kid and state.

    :param private_key: a ``cryptography`` private key that fits ``alg``.
    :param alg: the one algorithm this key signs with.
    :param kid: defaults to the RFC 7638 thumbprint of the public key.
    :param state: the lifecycle state.
    :param created_at: POSIX seconds, for the record.
    """

    private_key: PrivateKey
    alg: Algorithm
    kid: str
    state: KeyState = KeyState.ACTIVE
    created_at: float = 0.0
    public: VerificationKey = field(init=False, repr=False)
    header_segment: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.alg.accepts(self.private_key):
            raise InvalidKeyError(f"The key does not fit the algorithm {self.alg.name}.")
        object.__setattr__(
            self, "public", VerificationKey(self.kid, self.alg, self.private_key.public_key())
        )
        header = {"alg": self.alg.name, "typ": "JWT", "kid": self.kid}
        object.__setattr__(
            self,
            "header_segment",
            b64encode(json.dumps(header, separators=(",", ":")).encode()).encode(),
        )

    @classmethod
    def create(
        cls,
        private_key: PrivateKey,
        alg: str | Algorithm = DEFAULT_ALGORITHM,
        *,
        kid: str | None = None,
        state: KeyState = KeyState.ACTIVE,
        created_at: float = 0.0,
    ) -> SigningKey:
        """A signing key for an existing private key; the kid defaults to its thumbprint."""
        algorithm = _algorithm(alg)
        return cls(
            private_key,
            algorithm,
            kid or thumbprint(private_key.public_key()),
            state,
            created_at,
        )

    @classmethod
    def generate(
        cls,
        alg: str = DEFAULT_ALGORITHM,
        *,
        state: KeyState = KeyState.ACTIVE,
        rsa_bits: int = 2048,
        created_at: float = 0.0,
    ) -> SigningKey:
        """A signing key with a freshly generated private key."""
        return cls.create(
            generate_private_key(alg, rsa_bits=rsa_bits), alg, state=state, created_at=created_at
        )

    @classmethod
    def from_pem(
        cls, pem: bytes, alg: str = DEFAULT_ALGORITHM, *, password: bytes | None = None
    ) -> SigningKey:
        """Load a PEM private key (PKCS#8 or traditional) for ``alg``.

        :raises InvalidKeyError: when the PEM does not hold a private key that fits ``alg``.
        """
        try:
            key = serialization.load_pem_private_key(pem, password=password)
        except (ValueError, TypeError) as exc:
            raise InvalidKeyError(f"Not a usable PEM private key: {exc}") from exc
        if not isinstance(
            key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
        ):
            raise InvalidKeyError("Only EC, Ed25519 and RSA private keys are supported.")
        return cls.create(key, alg)

    def sign(self, data: bytes) -> bytes:
        """Sign bytes with this key's algorithm."""
        return self.alg.sign(self.private_key, data)

    def with_state(self, state: KeyState) -> SigningKey:
        """The same key in another state (the key object is shared, not re-parsed)."""
        return SigningKey(self.private_key, self.alg, self.kid, state, self.created_at)

    def to_jwk(self) -> dict[str, str]:
        """The public JWK of this key (never the private part)."""
        return self.public.to_jwk()

    def encrypt(self, master_key: MasterKey) -> str:
        """The private key sealed under ``master_key``, as text to store."""
        pkcs8 = self.private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return master_key.encrypt(pkcs8, self._aad(self.kid, self.alg.name))

    @classmethod
    def decrypt(
        cls,
        sealed: str,
        master_key: MasterKey,
        *,
        alg: str,
        kid: str,
        state: KeyState = KeyState.ACTIVE,
        created_at: float = 0.0,
    ) -> SigningKey:
        """Open a key sealed by :meth:`encrypt`; the kid and alg must be the ones it was sealed with.

        :raises KeyDecryptionError: on the wrong master key, a tampered envelope or another kid.
        """
        pkcs8 = master_key.decrypt(sealed, cls._aad(kid, alg))
        key = serialization.load_der_private_key(pkcs8, password=None)
        if not isinstance(
            key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
        ):
            raise KeyDecryptionError("The sealed key is of an unsupported type.")
        return cls(key, _algorithm(alg), kid, state, created_at)

    @staticmethod
    def _aad(kid: str, alg: str) -> bytes:
        return f"idmint signing key\x00{kid}\x00{alg}".encode()

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, alg={self.alg.name}, state={self.state.value})"


class MasterKey:
    """The 256-bit key that seals private signing keys at rest (AES-256-GCM).

    Its ``id`` (derived from the key, safe to show) travels in every envelope, so that a
    deployment can tell which master key sealed what.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise InvalidKeyError("A master key is exactly 32 bytes.")
        self._aead = AESGCM(key)
        self.id = b64encode(hashlib.sha256(b"idmint master key id\x00" + key).digest()[:9])
        self._key = key

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(os.urandom(32))

    @classmethod
    def from_text(cls, text: str) -> MasterKey:
        """Load a master key written by :meth:`to_text` (base64url of 32 bytes)."""
        try:
            return cls(b64decode(text.strip()))
        except ValueError as exc:
            raise InvalidKeyError(f"Not a master key: {exc}") from exc

    def to_text(self) -> str:
        """The key as base64url text, for a 0600 file or a secret store."""
        return b64encode(self._key)

    def encrypt(self, plaintext: bytes, aad: bytes) -> str:
        """Seal ``plaintext`` bound to ``aad``: ``idmint-key-v1.<master id>.<nonce>.<ciphertext>``."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext, aad)
        return ".".join((_ENVELOPE_PREFIX, self.id, b64encode(nonce), b64encode(sealed)))

    @staticmethod
    def id_of_sealer(envelope: str) -> str | None:
        """The ``id`` of the master key that sealed ``envelope`` (None when it is not one)."""
        parts = envelope.split(".")
        return parts[1] if len(parts) == 4 and parts[0] == _ENVELOPE_PREFIX else None

    def decrypt(self, envelope: str, aad: bytes) -> bytes:
        """Open an envelope made by :meth:`encrypt` with the same ``aad``.

        :raises KeyDecryptionError: on another master key, a malformed or tampered envelope.
        """
        parts = envelope.split(".")
        if len(parts) != 4 or parts[0] != _ENVELOPE_PREFIX:
            raise KeyDecryptionError("Not an idmint key envelope.")
        if parts[1] != self.id:
            raise KeyDecryptionError(
                f"The key was sealed under master key {parts[1]}, not {self.id}."
            )
        try:
            return self._aead.decrypt(b64decode(parts[2]), b64decode(parts[3]), aad)
        except (InvalidTag, ValueError) as exc:
            raise KeyDecryptionError(
                "The sealed key does not open: tampered or bound to another key."
            ) from exc

    def __repr__(self) -> str:
        return f"MasterKey(id={self.id!r})"
