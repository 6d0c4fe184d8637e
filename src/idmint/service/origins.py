"""Which web origins may call identify for a workspace (its allowed domains).

A pattern is ``[scheme://]host[:port]``:

- the host is a name (``app.example.com``), an IPv4 address, a bracketed IPv6 address
  (``[::1]``), or a wildcard for subdomains (``*.example.com``: ``a.example.com`` and
  ``b.a.example.com``, not ``example.com`` itself);
- without a port it matches every port, with one (``app.example.com:8443``) only that port
  (an origin without a port has its scheme's default, 443 or 80);
- without a scheme it matches ``https://`` origins only, except for the loopback hosts
  ``localhost``, ``127.0.0.1`` and ``[::1]``, which match ``http://`` and ``https://`` (a
  dev server); ``http://`` must be asked for (``http://intranet.example.com``,
  ``http://*.example.com``), and a scheme given matches that scheme only.

An empty list allows every origin: the token is what proves who the user is; the list limits
which sites may use the API key.  With a list, an ``Origin`` that is not exactly what a browser
sends for a web page (``http://`` or ``https://``, a host, a port from 1 to 65535 if any: so
not ``null``, ``file://``, a path, a user name or a port out of range) matches no pattern and
is refused.
With an empty list a malformed ``Origin`` is allowed like any other: refusing it would protect
nothing, since the header is only what the client says and one that can send a malformed value
can send none (a request without ``Origin`` is not checked), while it would break the
non-http origins (``capacitor://localhost``, ``null`` from a sandboxed frame) that work today.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from idmint.jose.errors import InvalidArgumentError

__all__ = ["check_patterns", "origin_allowed"]

_NAME: Final = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*"
# A name, or a bracketed IPv6 address that ipaddress checks.  The port is at most 5 digits here
# and range-checked after, so that int() only ever sees short strings.
_HOST_PORT: Final = rf"(?P<host>{_NAME}|\[[0-9a-f:.]+\])(:(?P<port>\d{{1,5}}))?"
_ORIGIN: Final = re.compile(rf"(?P<scheme>https?)://{_HOST_PORT}", re.ASCII)
_PATTERN: Final = re.compile(rf"((?P<scheme>https?)://)?(?P<wildcard>\*\.)?{_HOST_PORT}", re.ASCII)
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_LOOPBACK: Final = frozenset({"localhost", "127.0.0.1", "[::1]"})


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int  # the scheme's default when the origin names none


@dataclass(frozen=True, slots=True)
class _Pattern:
    scheme: str | None
    wildcard: bool
    host: str
    port: int | None

    def __str__(self) -> str:
        scheme = "" if self.scheme is None else f"{self.scheme}://"
        port = "" if self.port is None else f":{self.port}"
        return f"{scheme}{'*.' if self.wildcard else ''}{self.host}{port}"

    def matches(self, origin: _Origin) -> bool:
        if self.scheme is not None:
            scheme_ok = origin.scheme == self.scheme
        else:
            # Plain http is for a dev server on this machine; anywhere else it must be asked for.
            loopback = self.host in _LOOPBACK and not self.wildcard
            scheme_ok = origin.scheme == "https" or (loopback and origin.scheme == "http")
        if not scheme_ok or (self.port is not None and self.port != origin.port):
            return False
        if self.wildcard:
            return origin.host.endswith("." + self.host)
        return origin.host == self.host


def _host(text: str) -> str | None:
    """The host as browsers spell it (an IPv6 address compressed), or None if it is not one."""
    if not text.startswith("["):
        return text
    try:
        return f"[{ipaddress.IPv6Address(text[1:-1]).compressed}]"
    except ValueError:
        return None


def _port(text: str | None) -> int | None:
    """The port, None when absent, 0 when out of range (no origin has port 0)."""
    if text is None:
        return None
    port = int(text)
    return port if port <= 65535 else 0


def _ascii_lower(text: str) -> str:
    # Only ASCII is lowered: str.lower() turns some other letters into ASCII ones (the Kelvin
    # sign into "k"), which would let a name that is not the pattern's match it.
    return text.strip().lower() if text.isascii() else ""


def _parse_origin(text: str) -> _Origin | None:
    found = _ORIGIN.fullmatch(_ascii_lower(text))
    if found is None:
        return None
    scheme, host, port = found["scheme"], _host(found["host"]), _port(found["port"])
    if host is None or port == 0:
        return None
    return _Origin(scheme, host, _DEFAULT_PORTS[scheme] if port is None else port)


@functools.lru_cache(maxsize=4096)  # the same few patterns are matched on every identify
def _parse_pattern(text: str) -> _Pattern | None:
    found = _PATTERN.fullmatch(_ascii_lower(text))
    if found is None:
        return None
    wildcard, host, port = found["wildcard"] is not None, _host(found["host"]), _port(found["port"])
    if host is None or port == 0 or (wildcard and host.startswith("[")):
        return None
    return _Pattern(found["scheme"], wildcard, host, port)


def check_patterns(patterns: Iterable[str]) -> list[str]:
    """The patterns, checked and normalised: lower-cased, ports without leading zeros, IPv6
    addresses compressed.

    :raises InvalidArgumentError: naming (``allowedDomains.<index>``) the first pattern that
        is not ``[http://|https://][*.]host[:port]``.
    """
    checked = []
    for index, raw in enumerate(patterns):
        parsed = _parse_pattern(raw)
        if parsed is None:
            raise InvalidArgumentError(
                f"{raw!r} is not a domain pattern (app.example.com, *.example.com,"
                " http://intranet.example.com, localhost:5173).",
                field=f"allowedDomains.{index}",
            )
        checked.append(str(parsed))
    return checked


def origin_allowed(origin: str, patterns: Iterable[str]) -> bool:
    """Whether the browser ``Origin`` header value matches one of the patterns.

    Any string at all may be passed: one that is not an origin matches no pattern.
    """
    patterns = list(patterns)
    if not patterns:
        return True
    parsed = _parse_origin(origin)
    if parsed is None:
        return False
    for text in patterns:
        pattern = _parse_pattern(text)
        # A stored pattern that no longer parses (say a port out of range that an older
        # check let through) matches nothing rather than failing every request.
        if pattern is not None and pattern.matches(parsed):
            return True
    return False
