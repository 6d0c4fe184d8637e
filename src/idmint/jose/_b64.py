"""Strict base64url without padding (RFC 7515 §2), as JWS needs it.

Python's decoder silently skips characters outside the alphabet and ignores non-zero trailing
bits, so two different strings can decode to the same bytes.  A token must have exactly one
spelling: :func:`b64decode` accepts only the canonical one.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["b64decode", "b64encode", "b64encode_bytes", "uint_decode", "uint_encode"]

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
_VALUES = {
    char: value
    for value, char in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64encode_bytes(data: bytes) -> bytes:
    """Encode bytes as unpadded base64url bytes (the hot-path form: no str round trip)."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


def b64encode(data: bytes) -> str:
    """Encode bytes as unpadded base64url text."""
    return b64encode_bytes(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Decode canonical unpadded base64url text.

    :raises ValueError: on padding, characters outside the alphabet, an impossible length or
        non-zero unused bits in the last character.
    """
    if not _ALPHABET.fullmatch(text):
        raise ValueError("not base64url: characters outside the alphabet or padding")
    remainder = len(text) % 4
    if remainder == 1:
        raise ValueError("not base64url: impossible length")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:  # pragma: no cover - the checks above leave nothing to fail
        raise ValueError("not base64url") from exc
    # The unused low bits of the last character must be zero: 4 bits when 2 characters carry the
    # last byte, 2 bits when 3 do.  Otherwise two spellings would decode to the same bytes.
    if remainder and _VALUES[text[-1]] & (0b1111 if remainder == 2 else 0b11):
        raise ValueError("not canonical base64url: non-zero unused bits")
    return data


def uint_encode(value: int, length: int | None = None) -> str:
    """Encode a non-negative integer as a JWK Base64urlUInt (RFC 7518 §2)."""
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return b64encode(value.to_bytes(size, "big"))


def uint_decode(text: str, *, fixed_length: int | None = None) -> int:
    """Decode a JWK Base64urlUInt, refusing non-minimal encodings.

    :param fixed_length: the exact byte length required (EC coordinates), instead of minimal.
    :raises ValueError: on bad base64url, an empty value or a leading zero octet.
    """
    data = b64decode(text)
    if not data:
        raise ValueError("empty integer")
    if fixed_length is not None:
        if len(data) != fixed_length:
            raise ValueError(f"expected {fixed_length} octets, got {len(data)}")
    elif len(data) > 1 and data[0] == 0:
        raise ValueError("integer has a leading zero octet")
    return int.from_bytes(data, "big")
