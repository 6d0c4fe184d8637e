"""Which web origins may call identify for a workspace (its allowed domains).

A pattern is a host name (``app.example.com``), optionally with a port
(``localhost:5173``), or a wildcard for subdomains (``*.example.com``: ``a.example.com`` and
``b.a.example.com``, not ``example.com`` itself).  An empty list allows every origin: the token
is what proves who the user is; the list limits which sites may use the API key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

from idmint.errors import InvalidArgumentError

__all__ = ["check_patterns", "origin_allowed"]

_PATTERN: Final = re.compile(
    r"(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?"
)


def check_patterns(patterns: Iterable[str]) -> list[str]:
    """The patterns, lower-cased and checked.

    :raises InvalidArgumentError: naming the first pattern that is not a host, host:port or
        ``*.`` + host.
    """
    checked = []
    for index, raw in enumerate(patterns):
        pattern = raw.strip().lower()
        if not _PATTERN.fullmatch(pattern):
            raise InvalidArgumentError(
                f"{raw!r} is not a domain pattern (app.example.com, *.example.com, localhost:5173).",
                field=f"allowedDomains.{index}",
            )
        checked.append(pattern)
    return checked


def origin_allowed(origin: str, patterns: Iterable[str]) -> bool:
    """Whether the browser ``Origin`` header value matches one of the patterns."""
    patterns = list(patterns)
    if not patterns:
        return True
    parts = urlsplit(origin.strip().lower())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host = parts.hostname
    with_port = f"{host}:{parts.port}" if parts.port else host
    for pattern in patterns:
        if pattern.startswith("*."):
            suffix = pattern[1:]  # ".example.com" (with any port in the pattern)
            target = with_port if ":" in pattern else host
            if target.endswith(suffix) and len(target) > len(suffix):
                return True
        elif pattern in (host, with_port):
            return True
    return False
