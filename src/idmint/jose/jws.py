"""Compact JWS (RFC 7515) signing and strict verification.

Verification follows RFC 8725: the token is size-checked before anything is decoded; every
segment must be canonical base64url; the header must be a JSON object without duplicate
members; key-carrying headers (``jku``, ``x5u``, ``jwk``, ``x5c``) are refused, never fetched;
any ``crit`` extension is refused because idmint implements none; and the algorithm is the
one pinned to the key that ``kid`` selects, never the one the header asks for:

    "Libraries MUST enable the caller to specify a supported set of algorithms and MUST NOT
    use any other algorithms when performing cryptographic operations." (RFC 8725 §3.1)

The header's ``alg`` must merely equal the key's algorithm; "none" in any letter case and
HMAC names are rejected because no key has them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final

from idmint.jose._b64 import b64decode, b64encode_bytes
from idmint.jose.errors import (
    AlgorithmMismatchError,
    ForbiddenHeaderError,
    InvalidSignatureError,
    InvalidTokenTypeError,
    MalformedTokenError,
    TokenTooLargeError,
    UnknownKeyError,
    UnsecuredTokenError,
    UnsupportedCriticalError,
)
from idmint.jose.jwk import KeyResolver, VerificationKey
from idmint.jose.keys import SigningKey

__all__ = ["JWSLimits", "VerifiedJWS", "load_json_object", "sign_compact", "verify_compact"]

# Headers that carry or point at key material: trusting them lets the token choose its own key.
# "b64" (RFC 7797) changes what is signed and is only legal with "crit", which we refuse anyway.
_FORBIDDEN_HEADERS: Final = ("jku", "x5u", "jwk", "x5c", "b64")
_ACCEPTED_TYPES: Final = frozenset({"jwt", "application/jwt"})


@dataclass(frozen=True, slots=True)
class JWSLimits:
    """Size caps, in characters of the encoded token, checked before any decoding."""

    token: int = 8192
    header: int = 1024
    payload: int = 6144


DEFAULT_LIMITS: Final = JWSLimits()


@dataclass(frozen=True, slots=True)
class VerifiedJWS:
    """A JWS whose signature verified: its header, raw payload and the key that verified it."""

    header: Mapping[str, Any]
    payload: bytes
    key: VerificationKey


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER: Final = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


def load_json_object(data: bytes, what: str) -> dict[str, Any]:
    """Parse strict UTF-8 JSON that must be an object without duplicate member names.

    :raises MalformedTokenError: naming ``what`` when it is anything else.
    """
    try:
        value = _DECODER.decode(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedTokenError(f"The token's {what} is not valid JSON: {exc}.") from None
    if not isinstance(value, dict):
        raise MalformedTokenError(f"The token's {what} is not a JSON object.")
    return value


def _decode_segment(segment: str, what: str) -> bytes:
    try:
        return b64decode(segment)
    except ValueError as exc:
        raise MalformedTokenError(
            f"The token's {what} is not canonical base64url: {exc}."
        ) from None


@lru_cache(maxsize=512)
def _parse_header(segment: str) -> Mapping[str, Any]:
    # Every token signed by one key has the same header segment, so parsing it once per key
    # takes JSON work off the hot path. Only successful parses are cached.
    header = load_json_object(_decode_segment(segment, "header"), "header")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise MalformedTokenError("The token header has no 'alg'.")
    if alg.lower() == "none":
        raise UnsecuredTokenError("Unsecured tokens (alg 'none') are never accepted.")
    for name in _FORBIDDEN_HEADERS:
        if name in header:
            raise ForbiddenHeaderError(header=name)
    if "crit" in header:
        raise UnsupportedCriticalError(
            f"The token requires extensions idmint does not implement: {header['crit']!r}."
        )
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPES):
        raise InvalidTokenTypeError(f"The token's typ {typ!r} is not JWT.")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise UnknownKeyError("The token's kid is not a string.", kid=kid)
    return MappingProxyType(header)


def verify_compact(
    token: object, keys: KeyResolver, *, limits: JWSLimits = DEFAULT_LIMITS
) -> VerifiedJWS:
    """Verify a compact JWS and return its header and payload bytes.

    The payload is not interpreted here: claims are checked separately (:mod:`idmint.jose.claims`).

    :param keys: resolves the header's ``kid`` to a key pinned to one algorithm.
    :raises TokenError: a subclass naming exactly what is wrong.
    """
    if isinstance(token, str | bytes) and len(token) > limits.token:
        raise TokenTooLargeError(part="token", limit=limits.token)
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedTokenError("A token is ASCII text.") from None
    if not isinstance(token, str):
        raise MalformedTokenError("A token is a string.")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedTokenError("A compact JWS has exactly three dot-separated parts.")
    header_segment, payload_segment, signature_segment = parts
    if len(header_segment) > limits.header:
        raise TokenTooLargeError(part="header", limit=limits.header)
    if len(payload_segment) > limits.payload:
        raise TokenTooLargeError(part="payload", limit=limits.payload)
    header = _parse_header(header_segment)
    key = keys.resolve(header.get("kid"))
    if header["alg"] != key.alg.name:
        raise AlgorithmMismatchError(alg=header["alg"], expected=key.alg.name)
    payload = _decode_segment(payload_segment, "payload")
    signature = _decode_segment(signature_segment, "signature")
    signing_input = token[: len(header_segment) + 1 + len(payload_segment)].encode("ascii")
    if not key.verify(signing_input, signature):
        raise InvalidSignatureError("The token's signature does not verify.")
    return VerifiedJWS(header, payload, key)


def sign_compact(key: SigningKey, payload: bytes) -> str:
    """A compact JWS of ``payload`` with the key's precomputed ``alg``/``typ``/``kid`` header."""
    signing_input = key.header_segment + b"." + b64encode_bytes(payload)
    return (signing_input + b"." + b64encode_bytes(key.sign(signing_input))).decode("ascii")
