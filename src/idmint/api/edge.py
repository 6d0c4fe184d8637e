"""The HTTP edge: uvicorn's httptools protocol with the limits a public server needs.

uvicorn bounds neither the size nor the number of request headers when it parses with
httptools, gives a client all the time it likes to send them or a body, and keeps every
connection it accepts.  :class:`EdgeProtocol` (``idmint serve`` runs uvicorn with it) adds,
from the settings:

- ``IDMINT_MAX_HEADER_BYTES`` and ``IDMINT_MAX_HEADERS``: a request line and headers larger,
  or more header lines, are answered 431 and the connection closed.  The bytes are counted as
  they arrive, so a 64 MiB header costs at most the limit and one read in memory;
- ``IDMINT_HEADER_TIMEOUT_SECONDS``: from a connection's start, or a request's first byte,
  to its last header; ``IDMINT_BODY_TIMEOUT_SECONDS``: from there to the body's last byte.
  A client slower than either (slowloris) is answered 408 and closed;
- ``IDMINT_MAX_CONNECTIONS``: a connection past it is answered 503 with ``Retry-After`` and
  closed at once, before any byte of it is parsed;
- ``IDMINT_KEEP_ALIVE_SECONDS`` is uvicorn's own ``timeout_keep_alive``.

Each refusal is the one error envelope, as every other answer of idmint.
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from idmint.api.errors import (
    HeadersTooLargeError,
    RequestTimeoutError,
    ServerBusyError,
    envelope,
    status_of,
)
from idmint.jose.errors import IdmintError
from idmint.settings import Settings

__all__ = ["EdgeLimits", "EdgeProtocol", "edge_limits"]

# A refused connection's further bytes are read and dropped for at most this long, or this
# many bytes, before it is closed.
LINGER_SECONDS = 1.0
LINGER_BYTES = 1 << 20
_REASONS = {
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


class EdgeLimits:
    """The edge's limits, from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.header_bytes = settings.max_header_bytes
        self.headers = settings.max_headers
        self.header_timeout = settings.header_timeout_seconds
        self.body_timeout = settings.body_timeout_seconds
        self.connections = settings.max_connections


@cache
def edge_limits() -> EdgeLimits:
    """The limits of this process's settings (uvicorn makes one protocol per connection, and
    its workers build their settings from the environment)."""
    return EdgeLimits(Settings())


def _refusal(error: IdmintError, extra: tuple[tuple[bytes, bytes], ...] = ()) -> bytes:
    status = status_of(error)[0]
    body = orjson.dumps(envelope(error))
    head = [
        b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
        b"content-type: application/json\r\n",
        b"cache-control: no-store\r\n",
        b"x-content-type-options: nosniff\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n",
        *(name + b": " + value + b"\r\n" for name, value in extra),
        b"\r\n",
    ]
    return b"".join(head) + body


class EdgeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, bounded (see the module docstring)."""

    limits: EdgeLimits | None = None  # tests set one; by default the settings' (edge_limits)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = self.limits or edge_limits()
        self._head_bytes = 0  # bytes of the current request's line and headers so far
        self._header_lines = 0
        self._in_head = True  # between a request's first byte and its last header
        self._timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._lingered = 0  # bytes dropped since the refusal

    # --- the connection ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._limits.connections:
            self._refuse(
                ServerBusyError(
                    "This server has all the connections it takes; try again in a moment."
                ),
                ((b"retry-after", b"1"),),
            )
            return
        # A client that connects and sends nothing gets the header timeout too.
        self._arm(self._limits.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            self._lingered += len(data)
            if self._lingered > LINGER_BYTES:
                self._close()
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._refused:
            return
        if self._in_head and self._head_bytes > self._limits.header_bytes:
            self._refuse(
                HeadersTooLargeError(
                    f"The request line and headers exceed {self._limits.header_bytes} bytes."
                )
            )
        elif self._header_lines > self._limits.headers:
            self._refuse(
                HeadersTooLargeError(
                    f"The request carries more than {self._limits.headers} header lines."
                )
            )

    # --- parser callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_lines = 0
        if not self._in_head:  # a keep-alive connection's next request: count from here
            self._in_head = True
            self._head_bytes = 0
            self._arm(self._limits.header_timeout, self._head_timed_out)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_lines += 1
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._arm(self._limits.body_timeout, self._body_timed_out)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    # --- refusals ------------------------------------------------------------------------

    def _head_timed_out(self) -> None:
        self._timer = None
        if self._in_head and self._head_bytes == 0 and self.cycle is None:
            # Connected and silent: nothing to answer, just close.
            self._close()
            return
        self._refuse(
            RequestTimeoutError(
                f"The request's headers did not arrive within {self._limits.header_timeout:g} s."
            )
        )

    def _body_timed_out(self) -> None:
        self._timer = None
        if self.cycle is not None and self.cycle.response_started:
            self._close()  # the answer is under way: only the connection can go
            return
        if self.cycle is not None:
            self.cycle.disconnected = True  # the app sees the client gone
        self._refuse(
            RequestTimeoutError(
                f"The request's body did not arrive within {self._limits.body_timeout:g} s."
            )
        )

    def _refuse(self, error: IdmintError, extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        """Answer ``error`` and close, lingering: what the client still sends is read and
        dropped for a moment or a mebibyte (closing with unread bytes resets the connection,
        and the client could lose the answer), then the connection goes."""
        self._refused = True
        self._disarm()
        if self.transport.is_closing():
            return
        self.transport.write(_refusal(error, extra))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._timer = self.loop.call_later(LINGER_SECONDS, self._close)

    def _close(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.close()

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
