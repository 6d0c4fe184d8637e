"""The front of the ASGI app: the first code every request meets, which serves the hot routes
itself.

Every request passes one header scan here, which answers browser preflights and adds CORS
headers (identify, sign-out, the SDK), refuses bodies over ``IDMINT_MAX_BODY_BYTES`` (413)
and bodies declared as anything but JSON (415).  The routes that carry the load — both mint
shapes, identify and the JWKS — are then answered here, without the framework's routing,
dependency injection and thread-pool hop; their FastAPI declarations stay in the route
modules, which share the same answer functions, for the OpenAPI document.  Everything else
goes on to FastAPI, its body parsed here first by the same parser
(:func:`~idmint.api.bodies.read_json`): a bad one is refused here, a good one handed down.

Mint and identify run on the event loop: with credentials and key rings cached they touch
memory only, but for a cache refill, and then wait, without holding a thread, until group
commit has committed their writes (acknowledged means stored).  Mint by email does too when
the user's email is cached; a look-up that reads the store runs in the thread pool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import orjson
from fastapi import HTTPException
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idmint.api import compat, identify, jwks
from idmint.api.bodies import PARSED_BODY, read_json
from idmint.api.errors import (
    RequestTooLargeError,
    UnsupportedMediaTypeError,
    error_response,
    failure_response,
    invalid_body,
)
from idmint.api.schemas import IdentifyRequest, MintRequest, TokenForEmailRequest
from idmint.jose.errors import InvalidArgumentError
from idmint.service import Idmint

__all__ = ["BROWSER_PATHS", "Front", "parse_body"]


BROWSER_PATHS = frozenset({"/v1/identify", "/v1/sign-out", "/sdk/idmint.js"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_JWKS_SUFFIX = "/.well-known/jwks.json"
_JSON = (b"content-type", b"application/json")

Headers = list[tuple[bytes, bytes]]
M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], body: bytes) -> M:
    """The request body as ``model``, read by :func:`~idmint.api.bodies.read_json` and
    validated as FastAPI validates a body parameter.

    :raises InvalidArgumentError: the body is missing or not read (see ``read_json``), or the
        envelope FastAPI's validation errors become.
    """
    if not body:
        raise InvalidArgumentError("body is required.", field="body")
    data = read_json(body)
    try:
        return model.model_validate(data, from_attributes=True)
    except ValidationError as exc:
        raise invalid_body(exc.errors()) from None


# The hot routes: each answers 200 with the JSON of what it returns, or raises.


async def _mint(idmint: Idmint, body: bytes, _headers: dict[bytes, bytes]) -> dict[str, Any]:
    pending = compat.start_mint(idmint, parse_body(MintRequest, body))
    return compat.mint_reply(await pending.confirmed())


async def _token_for_email(
    idmint: Idmint, body: bytes, headers: dict[bytes, bytes]
) -> dict[str, Any]:
    username = parse_body(TokenForEmailRequest, body).username
    header = headers.get(b"authorization")
    api_key, secret = compat.parse_key_pair(None if header is None else header.decode("latin-1"))
    if idmint.users.cached_by_email(api_key, username):  # no store read: stay on the loop
        pending = compat.start_email(idmint, api_key, secret, username)
    else:
        pending = await run_in_threadpool(compat.start_email, idmint, api_key, secret, username)
    minted, _user = await pending.confirmed()
    return compat.email_reply(minted)


async def _identify(idmint: Idmint, body: bytes, headers: dict[bytes, bytes]) -> dict[str, Any]:
    origin = headers.get(b"origin")
    pending = identify.start_identify(
        idmint,
        parse_body(IdentifyRequest, body),
        None if origin is None else origin.decode("latin-1"),
    )
    return identify.identify_reply(idmint, await pending.confirmed())


Handler = Callable[[Idmint, bytes, dict[bytes, bytes]], Awaitable[dict[str, Any]]]
_POSTS: dict[str, Handler] = {
    "/v1/auth/token/get": _mint,
    "/api/v1/tokens": _token_for_email,
    "/v1/identify": _identify,
}


class _TooLarge(Exception):
    pass


class Front:
    """The ASGI app in front of FastAPI (see the module's docstring).

    :param limit: the largest request body accepted, in bytes.
    :param serve_hot_routes: answer the hot routes here (the default); ``False`` hands them
        to their FastAPI declarations too, which answer them alike (the tests compare both).
    """

    def __init__(self, app: ASGIApp, *, limit: int, serve_hot_routes: bool = True) -> None:
        self.app = app
        self.limit = limit
        self.serve_hot_routes = serve_hot_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        headers: dict[bytes, bytes] = dict(scope["headers"])

        origin = headers.get(b"origin") if path in BROWSER_PATHS else None
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
        if method in _BODY_METHODS and not _json_or_no_body(headers, length):
            error = UnsupportedMediaTypeError(
                "Send the body as JSON, with Content-Type: application/json."
            )
            await error_response(error)(scope, receive, send)
            return

        if method == "POST":
            handler = _POSTS.get(path) if self.serve_hot_routes else None
            if handler is not None:
                await self._serve(handler, scope, receive, send, headers)
                return
        elif method == "GET" and path.startswith("/w/") and path.endswith(_JWKS_SUFFIX):
            api_key = path[3 : -len(_JWKS_SUFFIX)]
            if api_key and "/" not in api_key and self.serve_hot_routes:
                await self._jwks(scope, receive, send, api_key)
                return

        if method in _BODY_METHODS:
            await self._forward(scope, receive, send)
            return
        await self.app(scope, self._limited(receive), send)

    async def _serve(
        self,
        handler: Handler,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[bytes, bytes],
    ) -> None:
        body = await self._body(scope, receive, send)
        if body is None:
            return
        try:
            content = orjson.dumps(await handler(_service(scope), body, headers))
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

    async def _jwks(self, scope: Scope, receive: Receive, send: Send, api_key: str) -> None:
        try:
            idmint = _service(scope)
            content = jwks.jwks_answer(idmint, api_key)
        except Exception as exc:  # every failure leaves as the envelope
            await failure_response(exc)(scope, receive, send)
            return
        await _send_ok(send, content, [(b"cache-control", jwks.cache_control(idmint).encode())])

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
    idmint: Idmint = scope["app"].state.idmint
    return idmint


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


def _with_headers(send: Send, extra: Headers) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return send_with_headers
