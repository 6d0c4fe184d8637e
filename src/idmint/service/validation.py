"""Semantic checks on identifiers and emails that the HTTP schemas cannot express."""

from __future__ import annotations

import re
from typing import Final

from idmint.jose.errors import InvalidArgumentError, InvalidEmailError

__all__ = ["MAX_ID_LENGTH", "check_email", "check_id"]

MAX_ID_LENGTH: Final = 256
# Deliberately plain: one @, no spaces, a dot in the domain. Deliverability is the app's concern.
_EMAIL: Final = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+")


def check_id(value: object, field: str) -> str:
    """A non-empty identifier of at most 256 characters without control characters."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"{field} is required.", field=field)
    if len(value) > MAX_ID_LENGTH or any(ord(char) < 32 or char == "\x7f" for char in value):
        raise InvalidArgumentError(
            f"{field} must be at most {MAX_ID_LENGTH} printable characters.", field=field
        )
    return value


def check_email(value: object, field: str = "email") -> str:
    """A plausible email address of at most 320 characters."""
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{field} is required.", field=field)
    if len(value) > 320 or not _EMAIL.fullmatch(value):
        raise InvalidEmailError(f"{field} is not a valid email address.", field=field)
    return value
