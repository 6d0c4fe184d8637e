"""Helpers shared by the route modules: JSON responses, the service, documented error
statuses, and the mark of a route that the fast path answers."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from fastapi import Request
from starlette.responses import Response

from idmint.api.schemas import ErrorEnvelope
from idmint.service import Idmint

__all__ = [
    "FAST_HANDLER",
    "FastGet",
    "FastPost",
    "TrustedProxies",
    "client_address",
    "client_of",
    "errors",
    "fast_route",
    "json_response",
    "service_of",
]

_DESCRIPTIONS = {
    400: "INVALID_ARGUMENT: a field is missing, empty, malformed or unknown.",
    401: "UNAUTHENTICATED: credentials or token missing or not valid.",
    403: "PERMISSION_DENIED: the credentials may not do this, or the identity does not match.",
    404: "NOT_FOUND: no such workspace, user or record.",
    405: "The route does not take this method.",
    409: "FAILED_PRECONDITION: the record already exists.",
    413: "The request body is too large.",
    429: "RESOURCE_EXHAUSTED: too many failed credential checks from this address or with "
    "this API key, or the workspace's mint quota is used up; Retry-After says when to retry.",
    503: "UNAVAILABLE: the store cannot be reached.",
}

#: A fast POST handler: (service, request body, request headers, client address) -> the
#: answer's JSON value.
FastPost = Callable[[Idmint, bytes, dict[bytes, bytes], str | None], Awaitable[dict[str, Any]]]
#: A fast GET handler: (service, the route's one path parameter) -> (body, extra headers).
FastGet = Callable[[Idmint, str], tuple[bytes, list[tuple[bytes, bytes]]]]
#: The attribute of a route's endpoint that holds its fast handler.
FAST_HANDLER = "fast_handler"

E = TypeVar("E", bound=Callable[..., Any])


def fast_route(handler: FastPost | FastGet) -> Callable[[E], E]:
    """Mark a route's endpoint as answered by the fast path with ``handler`` (put it under
    the ``@router`` decorator).  The fast path finds its routes through these marks, so the
    paths it serves are the ones the OpenAPI document declares."""

    def mark(endpoint: E) -> E:
        setattr(endpoint, FAST_HANDLER, handler)
        return endpoint

    return mark


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses (always with 400, 413 and 503)."""
    wanted = sorted({400, 413, 503, *statuses})
    return {
        status: {"model": ErrorEnvelope, "description": _DESCRIPTIONS[status]} for status in wanted
    }


def json_response(
    body: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body), status_code=status_code, media_type="application/json", headers=headers
    )


class TrustedProxies:
    """The peers whose ``X-Forwarded-For`` is believed (``IDMINT_TRUSTED_PROXIES``)."""

    def __init__(self, entries: list[str]) -> None:
        self._networks = [ipaddress.ip_network(entry, strict=False) for entry in entries]

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, address: str) -> bool:
        try:
            parsed = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(parsed in network for network in self._networks)


def client_address(scope: Any, trusted: TrustedProxies) -> str | None:
    """The address a request came from: the socket's peer, or, when that peer is a trusted
    proxy, the nearest address in ``X-Forwarded-For`` that is not one (a client can write
    anything at the left of the header; only what trusted proxies appended counts)."""
    peer = scope.get("client")
    address: str | None = str(peer[0]) if peer else None
    if address is None or not trusted or not trusted.trusts(address):
        return address
    forwarded: list[str] = [
        value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for"
    ]
    hops = [hop.strip() for value in forwarded for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not trusted.trusts(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return hop[:64]
        address = str(hop)
    return address


def client_of(request: Request) -> str | None:
    """:func:`client_address` of a FastAPI request (the app keeps its trusted proxies)."""
    trusted: TrustedProxies = request.app.state.trusted_proxies
    return client_address(request.scope, trusted)


def service_of(request: Request) -> Idmint:
    """The application's :class:`~idmint.service.Idmint`."""
    service: Idmint = request.app.state.service
    return service
