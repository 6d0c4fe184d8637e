"""The one error envelope, made by one function, installed as the app's error handlers.

    {"error": {"message": "Auth token not found.", "status": "INVALID_ARGUMENT",
               "code": "auth_token_not_found"}}

The core's errors know nothing of HTTP: this module maps each error class to its HTTP status
and the gRPC-style status word of the envelope (:data:`STATUSES`, looked up along the class's
ancestry), and holds the errors only HTTP has (:class:`RequestTooLargeError`,
:class:`UnsupportedMediaTypeError`, :class:`MethodNotAllowedError`).  Every failure — idmint's
own errors, request validation, unknown routes, oversized bodies, and anything unexpected —
leaves through :func:`error_response`, so clients parse one shape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, Final

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from idmint.jose import errors as core
from idmint.jose.errors import (
    CredentialError,
    IdmintError,
    InvalidArgumentError,
    InvalidEmailError,
    NotFoundError,
)
from idmint.serializers import error_fields

__all__ = [
    "BASIC_CHALLENGE",
    "BEARER_CHALLENGE",
    "STATUSES",
    "Challenge",
    "HeadersTooLargeError",
    "MethodNotAllowedError",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "ServerBusyError",
    "UnsupportedMediaTypeError",
    "challenged",
    "envelope",
    "error_response",
    "failure_response",
    "http_error_classes",
    "install_error_handlers",
    "invalid_body",
    "status_of",
    "validation_error",
]

logger = logging.getLogger("idmint.api")


class RequestTooLargeError(InvalidArgumentError):
    """Raised when a request body exceeds the configured size."""

    code = "request_too_large"


class UnsupportedMediaTypeError(InvalidArgumentError):
    """Raised when a request body is not JSON."""

    code = "unsupported_media_type"


class MethodNotAllowedError(IdmintError):
    """Raised when a route does not take the request's method."""

    code = "method_not_allowed"


class HeadersTooLargeError(InvalidArgumentError):
    """Raised when a request's line and headers are larger, or its header lines more, than
    the edge takes."""

    code = "request_headers_too_large"


class RequestTimeoutError(InvalidArgumentError):
    """Raised when a client takes longer than the edge allows to send a request's headers or
    body."""

    code = "request_timeout"


class ServerBusyError(core.UnavailableError):
    """Raised when a worker already holds as many connections as it takes."""

    code = "server_busy"


def http_error_classes() -> list[type[IdmintError]]:
    """The error classes only HTTP has (beside the core's :func:`~idmint.jose.errors.error_classes`)."""
    return [
        RequestTooLargeError,
        UnsupportedMediaTypeError,
        MethodNotAllowedError,
        HeadersTooLargeError,
        RequestTimeoutError,
        ServerBusyError,
    ]


_INVALID: Final = (400, "INVALID_ARGUMENT")
_UNAUTHENTICATED: Final = (401, "UNAUTHENTICATED")
_DENIED: Final = (403, "PERMISSION_DENIED")
_UNAVAILABLE: Final = (503, "UNAVAILABLE")

#: Each class's HTTP status and status word; a class not named takes its nearest ancestor's.
STATUSES: Final[Mapping[type[IdmintError], tuple[int, str]]] = MappingProxyType(
    {
        IdmintError: (500, "INTERNAL"),
        core.TokenError: _UNAUTHENTICATED,
        core.InvalidKeyError: _INVALID,
        core.NoActiveKeyError: _UNAVAILABLE,
        core.InvalidLifetimeError: _INVALID,
        InvalidArgumentError: _INVALID,
        RequestTooLargeError: (413, "INVALID_ARGUMENT"),
        UnsupportedMediaTypeError: (415, "INVALID_ARGUMENT"),
        CredentialError: _UNAUTHENTICATED,
        core.ApiKeyNotFoundError: _INVALID,
        core.AuthTokenNotFoundError: _INVALID,
        core.AuthTokenRevokedError: _DENIED,
        core.AuthTokenExpiredError: _DENIED,
        core.AuthTokenWrongWorkspaceError: _DENIED,
        core.AdminRequiredError: _DENIED,
        core.AuthTokenScopeError: _DENIED,
        core.ScopeExceededError: _DENIED,
        core.RateLimitedError: (429, "RESOURCE_EXHAUSTED"),
        NotFoundError: (404, "NOT_FOUND"),
        core.ConflictError: (409, "FAILED_PRECONDITION"),
        core.IdentifyError: _DENIED,
        core.JwtRequiredError: _UNAUTHENTICATED,
        MethodNotAllowedError: (405, "INVALID_ARGUMENT"),
        HeadersTooLargeError: (431, "INVALID_ARGUMENT"),
        RequestTimeoutError: (408, "INVALID_ARGUMENT"),
        core.UnavailableError: _UNAVAILABLE,
    }
)


def status_of(error: IdmintError | type[IdmintError]) -> tuple[int, str]:
    """The HTTP status and status word of an error (or error class)."""
    cls = error if isinstance(error, type) else type(error)
    for ancestor in cls.__mro__:
        status = STATUSES.get(ancestor)
        if status is not None:
            return status
    return STATUSES[IdmintError]


def envelope(error: IdmintError) -> dict[str, Any]:
    """The body of the error envelope: ``{"error": {message, status, code, ...context}}``."""
    fields = error_fields(error)
    return {"error": {"message": fields.pop("message"), "status": status_of(error)[1], **fields}}


BASIC_CHALLENGE: Final = 'Basic realm="idmint", charset="UTF-8"'
BEARER_CHALLENGE: Final = 'Bearer realm="idmint"'


class Challenge(Exception):
    """A credential failure on a route whose credentials come in the ``Authorization``
    header: answered 401 with ``WWW-Authenticate`` (RFC 7235), the error's own code kept."""

    def __init__(self, error: IdmintError, challenge: str) -> None:
        super().__init__(error.message)
        self.error = error
        self.challenge = challenge


@contextmanager
def challenged(challenge: str) -> Iterator[None]:
    """Turn a missing or wrong credential raised inside into a :class:`Challenge`.  A valid
    credential that may not act here (a scope it lacks, another workspace's token) stays 403."""
    try:
        yield
    except (
        core.AuthTokenScopeError,
        core.ScopeExceededError,
        core.AdminRequiredError,
        core.AuthTokenWrongWorkspaceError,
    ):
        raise
    except CredentialError as exc:
        raise Challenge(exc, challenge) from exc
    except InvalidArgumentError as exc:
        if exc.field != "Authorization":
            raise
        raise Challenge(exc, challenge) from exc


def error_response(
    error: IdmintError,
    *,
    headers: dict[str, str] | None = None,
    challenge: str | None = None,
) -> Response:
    """The envelope for ``error``, with its HTTP status (401 and ``WWW-Authenticate`` with a
    ``challenge``; ``Retry-After`` with ``rate_limited``)."""
    http_status, word = status_of(error)
    body = envelope(error)
    if challenge is not None:
        http_status, word = 401, "UNAUTHENTICATED"
        body["error"]["status"] = word
    response = Response(orjson.dumps(body), status_code=http_status, media_type="application/json")
    if headers:
        response.headers.update(headers)
    if challenge is not None:
        response.headers["WWW-Authenticate"] = challenge
    elif isinstance(error, CredentialError) and http_status == 401:
        response.headers.setdefault("WWW-Authenticate", 'Basic realm="idmint"')
    if isinstance(error, core.RateLimitedError) and error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def failure_response(exc: Exception) -> Response:
    """The envelope for any failure: an :class:`IdmintError` as it is (a :class:`Challenge`
    as 401), anything else as the 500 ``internal`` error, logged with its traceback (the fast
    path and FastAPI's handlers)."""
    if isinstance(exc, Challenge):
        return error_response(exc.error, challenge=exc.challenge)
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
    app.add_exception_handler(Challenge, on_failure)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_failure)
