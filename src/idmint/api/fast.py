"""The fast path: the first code every request meets, which answers the hot routes itself.

Every request passes one header scan here, which answers browser preflights and adds CORS
headers (identify, sign-out, the SDK), refuses bodies over ``IDMINT_MAX_BODY_BYTES`` (413)
and bodies declared as anything but JSON (415; the console's form posts excepted).  The routes that carry the load — both mints,
identify and the JWKS — are then answered here, without the framework's routing, dependency
injection and thread-pool hop.  Which routes those are comes from their FastAPI declarations
(the endpoints marked with :func:`~idmint.api._common.fast_route`), the same declarations the
OpenAPI document is made of, so the two cannot name different paths.  Everything else goes on
to FastAPI, its body parsed here first by the same parser (:func:`~idmint.api.bodies.read_json`):
a bad one is refused here, a good one handed down.

Mint and identify run on the event loop: with credentials and key rings cached they touch
memory only, but for a cache refill, and then wait, without holding a thread, until group
commit has committed their writes (acknowledged means stored).  Mint by email does too when
the user's email is cached; a look-up that reads the store runs in the thread pool.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from fastapi import HTTPException
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idmint.api._common import (
    FAST_HANDLER,
    FastGet,
    FastPost,
    TrustedProxies,
    client_address,
)
from idmint.api.bodies import PARSED_BODY, read_json
from idmint.api.errors import (
    RequestTooLargeError,
    UnsupportedMediaTypeError,
    error_response,
    failure_response,
)
from idmint.jose.errors import InvalidArgumentError
from idmint.service import Idmint

__all__ = ["BROWSER_PATHS", "FastPath"]


BROWSER_PATHS = frozenset({"/v1/identify", "/v1/sign-out"})
_SDK_PREFIX = "/sdk/"  # the SDK, at its stable and its content-hashed URL
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_JSON = (b"content-type", b"application/json")
#: Where bodies are HTML forms (the console), read by their own routes within a smaller limit.
FORM_PREFIX = "/console/"

Headers = list[tuple[bytes, bytes]]


def _fast_routes(
    routes: Iterable[Any],
) -> tuple[dict[str, FastPost], list[tuple[str, str, FastGet]]]:
    """The marked routes: POST handlers by path, and GET handlers by the prefix and suffix
    around their one path parameter (``/w/{api_key}/.well-known/jwks.json``)."""
    posts: dict[str, FastPost] = {}
    gets: list[tuple[str, str, FastGet]] = []
    for route in routes:
        handler = getattr(getattr(route, "endpoint", None), FAST_HANDLER, None)
        if handler is None or not isinstance(route, APIRoute):
            continue
        methods = route.methods or set()
        if "POST" in methods:
            posts[route.path] = handler
        elif "GET" in methods:
            prefix, _, rest = route.path.partition("{")
            _name, _, suffix = rest.partition("}")
            assert "{" not in suffix, route.path  # noqa: S101 - one path parameter at most
            gets.append((prefix, suffix, handler))
    return posts, gets


class _TooLarge(Exception):
    pass


class FastPath:
    """The ASGI app in front of FastAPI (see the module's docstring).

    :param app: FastAPI, for everything the fast path does not answer.
    :param routes: the API's routes; those marked with ``fast_route`` are answered here.
    :param limit: the largest request body accepted, in bytes.
    :param serve_hot_routes: answer the hot routes here (the default); ``False`` hands them
        to their FastAPI declarations too, which answer them alike (the tests compare both).
    """

    def __init__(
        self,
        app: ASGIApp,
        routes: Iterable[Any],
        *,
        limit: int,
        serve_hot_routes: bool = True,
        hsts: bool = False,
        trusted_proxies: TrustedProxies | None = None,
    ) -> None:
        self.app = app
        self.posts, self.gets = _fast_routes(routes)
        # On every answer (see _secured); HSTS only when the public URL is https.
        self.security_headers: Headers = [(b"x-content-type-options", b"nosniff")]
        if hsts:
            self.security_headers.append(
                (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
            )
        self.limit = limit
        self.serve_hot_routes = serve_hot_routes
        self.trusted_proxies = trusted_proxies or TrustedProxies([])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        headers: dict[bytes, bytes] = dict(scope["headers"])
        send = _secured(send, self.security_headers)

        browser = path in BROWSER_PATHS or path.startswith(_SDK_PREFIX)
        origin = headers.get(b"origin") if browser else None
        if origin is not None:
            cors = [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]
            if method == "OPTIONS":
                await _preflight(send, cors)
                return
            send = _with_headers(send, cors)

        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._too_large(scope, receive, send)
            return
        if path.startswith(FORM_PREFIX):  # the console's pages post forms, not JSON
            await self.app(scope, self._limited(receive), send)
            return
        if method in _BODY_METHODS and not _json_or_no_body(headers, length):
            error = UnsupportedMediaTypeError(
                "Send the body as JSON, with Content-Type: application/json."
            )
            await error_response(error)(scope, receive, send)
            return

        if self.serve_hot_routes:
            if method == "POST":
                handler = self.posts.get(path)
                if handler is not None:
                    await self._serve(handler, scope, receive, send, headers)
                    return
            elif method == "GET":
                for prefix, suffix, getter in self.gets:
                    if path.startswith(prefix) and path.endswith(suffix):
                        value = path[len(prefix) : len(path) - len(suffix)]
                        if value and "/" not in value:
                            await self._get(getter, value, scope, receive, send)
                            return

        if method in _BODY_METHODS:
            await self._forward(scope, receive, send)
            return
        await self.app(scope, self._limited(receive), send)

    async def _serve(
        self,
        handler: FastPost,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[bytes, bytes],
    ) -> None:
        body = await self._body(scope, receive, send)
        if body is None:
            return
        try:
            client = client_address(scope, self.trusted_proxies)
            content = orjson.dumps(await handler(_service(scope), body, headers, client))
        except Exception as exc:  # every failure leaves as the envelope, encoding included
            await failure_response(exc)(scope, receive, send)
            return
        await _send_ok(send, content)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand a request that may carry a body to FastAPI, the body parsed as the hot routes
        parse theirs: the routes read the value from the scope (``bodies.BodyRoute``)."""
        body = await self._body(scope, receive, send)
        if body is None:
            return
        if body:  # an empty body is FastAPI's to answer: required, or not read at all
            try:
                scope[PARSED_BODY] = read_json(body)
            except InvalidArgumentError as exc:
                await error_response(exc)(scope, receive, send)
                return
        await self.app(scope, _replay(body, receive), send)

    async def _get(
        self, getter: FastGet, value: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        try:
            content, extra = getter(_service(scope), value)
        except Exception as exc:  # every failure leaves as the envelope
            await failure_response(exc)(scope, receive, send)
            return
        await _send_ok(send, content, extra)

    async def _body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The whole request body; None when the request is over already (the client went
        away, or the body was too large, answered 413 here)."""
        try:
            return await self._read(receive)
        except _TooLarge:
            await self._too_large(scope, receive, send)
            return None

    async def _read(self, receive: Receive) -> bytes | None:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > self.limit:
                raise _TooLarge
            return body
        chunks = [body]
        size = len(body)
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _limited(self, receive: Receive) -> Receive:
        received = 0
        limit = self.limit

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # A FastAPI HTTPException, which its body reader re-raises as it is (413).
                    raise HTTPException(status_code=413)
            return message

        return limited_receive

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = RequestTooLargeError(f"The request body exceeds {self.limit} bytes.")
        await error_response(error)(scope, receive, send)


def _service(scope: Scope) -> Idmint:
    service: Idmint = scope["app"].state.service
    return service


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for an app below, which reads ``body`` (read here already) first."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # the disconnect, when it comes

    return replay


def _json_or_no_body(headers: dict[bytes, bytes], length: bytes | None) -> bool:
    content_type = headers.get(b"content-type")
    has_body = (length is not None and length != b"0") or b"transfer-encoding" in headers
    if content_type is None and not has_body:
        return True
    media = (content_type or b"").split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


async def _send_ok(send: Send, content: bytes, extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """A 200 answer with a JSON body."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [_JSON, (b"content-length", str(len(content)).encode()), *extra],
        }
    )
    await send({"type": "http.response.body", "body": content})


async def _preflight(send: Send, cors: Headers) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 204,
            "headers": [
                *cors,
                (b"access-control-allow-methods", b"GET, POST"),
                (b"access-control-allow-headers", b"content-type"),
                (b"access-control-max-age", b"600"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


_NO_STORE = (b"cache-control", b"no-store")


def _secured(send: Send, security: Headers) -> Send:
    """``send`` with the headers every answer carries: ``nosniff`` (and HSTS, see FastPath),
    and ``Cache-Control: no-store`` unless the answer says how to cache it: mints carry tokens,
    admin answers secrets and personal data, and no cache between may keep them."""

    async def send_secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), *security]
            if not any(name.lower() == b"cache-control" for name, _ in headers):
                headers.append(_NO_STORE)
            message = {**message, "headers": headers}
        await send(message)

    return send_secured


def _with_headers(send: Send, extra: Headers) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return send_with_headers
