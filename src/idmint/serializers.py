"""Service results as the wire's JSON: one place, used by the HTTP API and by the CLI's
``--json`` (and later the console), so that both speak exactly the same shapes.

Times are ISO 8601 UTC with a ``Z``; names are camelCase, as the API has always answered.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from idmint.jose.errors import IdmintError

__all__ = ["error_fields", "iso"]

# A context value the caller sent (an origin, a kid, an issuer) is echoed back at most this long.
MAX_CONTEXT_CHARS: Final = 256


def iso(timestamp: float | None) -> str | None:
    """POSIX seconds as ISO 8601 UTC with a ``Z`` (None stays None)."""
    if timestamp is None:
        return None
    return _iso(timestamp)


@lru_cache(maxsize=256)  # every mint in the same second answers the same expiry
def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _wire(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, str) and len(value) > MAX_CONTEXT_CHARS:
        return value[:MAX_CONTEXT_CHARS]
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return [item[:MAX_CONTEXT_CHARS] for item in value[:10]]  # an audience array
    return repr(value)[:MAX_CONTEXT_CHARS]  # anything else (a kid that is an object) as text


def error_fields(error: IdmintError) -> dict[str, Any]:
    """An error's message, code and context (``claim``, ``kid``, ``expiredAt``, ...), as the
    error envelope carries them (the API adds the status word)."""
    fields: dict[str, Any] = {"message": error.message, "code": error.code}
    for name, value in error.context.items():
        fields[_camel(name)] = _wire(value)
    return fields
