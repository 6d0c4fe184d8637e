"""The one error envelope, made by one function, installed as the app's error handlers.

    {"error": {"message": "Auth token not found.", "status": "INVALID_ARGUMENT",
               "code": "auth_token_not_found"}}

Every failure — idmint's own errors, request validation, unknown routes, oversized bodies,
and anything unexpected — leaves through :func:`error_response`, so clients parse one shape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from idmint.jose.errors import (
    CredentialError,
    IdmintError,
    InvalidArgumentError,
    InvalidEmailError,
    MethodNotAllowedError,
    NotFoundError,
    RequestTooLargeError,
)

__all__ = [
    "error_response",
    "failure_response",
    "install_error_handlers",
    "invalid_body",
    "validation_error",
]

logger = logging.getLogger("idmint.api")


def error_response(error: IdmintError, *, headers: dict[str, str] | None = None) -> Response:
    """The envelope for ``error``, with its HTTP status."""
    body = orjson.dumps({"error": error.to_dict()})
    response = Response(body, status_code=error.http_status, media_type="application/json")
    if headers:
        response.headers.update(headers)
    if isinstance(error, CredentialError) and error.http_status == 401:
        response.headers.setdefault("WWW-Authenticate", 'Basic realm="idmint"')
    return response


def failure_response(exc: Exception) -> Response:
    """The envelope for any failure: an :class:`IdmintError` as it is, anything else as the
    500 ``internal`` error, logged with its traceback (the front and FastAPI's handlers)."""
    if isinstance(exc, IdmintError):
        return error_response(exc)
    logger.error("unexpected error", exc_info=exc)
    return error_response(IdmintError("An internal error occurred."))


def _field(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_error(exc: RequestValidationError) -> InvalidArgumentError:
    """FastAPI's validation failure, as :func:`invalid_body`."""
    return invalid_body(exc.errors())


def invalid_body(errors: Sequence[Any]) -> InvalidArgumentError:
    """The first validation problem, as an INVALID_ARGUMENT that names the field."""
    if not errors:  # pragma: no cover - pydantic always reports at least one
        return InvalidArgumentError("The request is not valid.")
    first = errors[0]
    kind = first.get("type", "")
    if kind == "json_invalid":
        return InvalidArgumentError("The request body is not valid JSON.", field="body")
    field = _field(tuple(first.get("loc", ())))
    if kind == "missing":
        return InvalidArgumentError(f"{field} is required.", field=field)
    if kind == "string_too_short" and first.get("input") == "":
        return InvalidArgumentError(f"{field} must not be empty.", field=field)
    if kind == "extra_forbidden":
        return InvalidArgumentError(f"{field} is not a known field.", field=field)
    if kind == "invalid_email":
        return InvalidEmailError(f"{field} is not a valid email address.", field=field)
    if kind == "string_pattern_mismatch":
        return InvalidArgumentError(
            f"{field} must be printable text with at least one visible character.", field=field
        )
    if kind == "model_attributes_type" or (kind == "dict_type" and field == "body"):
        return InvalidArgumentError("The request body must be a JSON object.", field=field)
    return InvalidArgumentError(f"{field}: {first.get('msg', 'is not valid')}.", field=field)


def _allowed_methods(routes: Iterable[Any], path: str) -> set[str]:
    # Starlette answers 405 from the first route whose path matches, naming only its methods;
    # a path served by several routes (GET and POST apart) needs them all in Allow.
    allowed: set[str] = set()
    for route in routes:
        regex, methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and methods and regex.match(path):
            allowed |= set(methods)
    return allowed


def install_error_handlers(app: FastAPI, routes: Iterable[Any] = ()) -> None:
    """Route every failure through :func:`error_response`.

    :param routes: the API's routes, to name every allowed method in a 405's ``Allow``.
    """
    routes = list(routes)

    async def on_validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
        return error_response(validation_error(exc))

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for it only
        if exc.status_code == 404:
            return error_response(NotFoundError("No such route."))
        if exc.status_code == 405:
            allowed = _allowed_methods(routes, request.url.path)
            return error_response(
                MethodNotAllowedError("This route does not take that method."),
                headers={"Allow": ", ".join(sorted(allowed))}
                if allowed
                else dict(exc.headers or {}),
            )
        if exc.status_code == 413:
            return error_response(RequestTooLargeError("The request body is too large."))
        error = InvalidArgumentError(str(exc.detail))
        return error_response(error)

    async def on_failure(_request: Request, exc: Exception) -> Response:
        return failure_response(exc)

    app.add_exception_handler(IdmintError, on_failure)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_failure)
