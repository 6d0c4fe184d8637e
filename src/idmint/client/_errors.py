"""The one error envelope turned back into the :mod:`idmint.jose.errors` class the server raised.

For an answer that is not a success:

1. the envelope's ``code`` names a class of :func:`idmint.jose.errors.error_classes`: that class;
2. an unknown code (a newer server): the nearest family by the code's shape (``token_*`` is a
   :class:`TokenError`, ``key_*`` a :class:`SigningKeyError`, ``auth_token_*``,
   ``credentials_*`` and ``api_key_*`` a :class:`CredentialError`, ``*_not_found`` a
   :class:`NotFoundError`, ``*_exists`` a :class:`ConflictError`, ``*_mismatch`` an
   :class:`IdentityMismatchError`), else by HTTP status (``_BY_STATUS``), else
   :class:`IdmintError`; the instance keeps the server's ``code``;
3. no envelope at all (a proxy's HTML page): by HTTP status, with the class's own code.

Either way ``.http_status``, ``.status`` and ``.message`` are the answer's, and ``field`` and
``expired_at`` are filled when the envelope carries ``field`` and ``expiredAt``.  A request
that gets no answer is :class:`UnavailableError` (:func:`transport_error`).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import httpx

from idmint.client._models import parse_time
from idmint.jose.errors import (
    ConflictError,
    CredentialError,
    IdentifyError,
    IdentityMismatchError,
    IdmintError,
    InvalidArgumentError,
    MethodNotAllowedError,
    NotFoundError,
    RequestTooLargeError,
    SigningKeyError,
    TokenError,
    UnavailableError,
    UnsupportedMediaTypeError,
    error_classes,
)

__all__ = [
    "ERROR_CLASSES",
    "error_class_for",
    "error_from_answer",
    "error_from_response",
    "transport_error",
]

#: Every code of the error tree, to its class.
ERROR_CLASSES: Final[Mapping[str, type[IdmintError]]] = MappingProxyType(
    {cls.code: cls for cls in error_classes()}
)
_BY_PREFIX: Final[tuple[tuple[str, type[IdmintError]], ...]] = (
    ("token_", TokenError),
    ("key_", SigningKeyError),
    ("auth_token_", CredentialError),
    ("credentials_", CredentialError),
    ("api_key_", CredentialError),
)
_BY_SUFFIX: Final[tuple[tuple[str, type[IdmintError]], ...]] = (
    ("_not_found", NotFoundError),
    ("_exists", ConflictError),
    ("_mismatch", IdentityMismatchError),
)
_BY_STATUS: Final[Mapping[int, type[IdmintError]]] = MappingProxyType(
    {
        400: InvalidArgumentError,
        401: CredentialError,
        403: IdentifyError,
        404: NotFoundError,
        405: MethodNotAllowedError,
        409: ConflictError,
        413: RequestTooLargeError,
        415: UnsupportedMediaTypeError,
        502: UnavailableError,
        503: UnavailableError,
        504: UnavailableError,
    }
)


def error_class_for(code: str | None, http_status: int) -> type[IdmintError]:
    """The class for an answer's ``code``; for an unknown one, the nearest (see the module)."""
    if code is not None:
        if code in ERROR_CLASSES:
            return ERROR_CLASSES[code]
        for prefix, cls in _BY_PREFIX:
            if code.startswith(prefix):
                return cls
        for suffix, cls in _BY_SUFFIX:
            if code.endswith(suffix):
                return cls
    return _BY_STATUS.get(http_status, IdmintError)


def _instantiate(
    cls: type[IdmintError], message: str, context: Mapping[str, object]
) -> IdmintError:
    # Constructors differ (TokenExpiredError requires expired_at, ...): pass what the envelope
    # carries and None for required context it does not (with a message given, no constructor
    # formats it).  A constructor that still refuses gets the root's, attributes set after.
    kwargs: dict[str, object] = {}
    for name, parameter in inspect.signature(cls).parameters.items():
        if parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        if name in context:
            kwargs[name] = context[name]
        elif parameter.default is inspect.Parameter.empty:
            kwargs[name] = None
    try:
        return cls(message, **kwargs)
    except (TypeError, ValueError, AttributeError):
        error = cls.__new__(cls)
        IdmintError.__init__(error, message)
        vars(error).update(kwargs)
        return error


def error_from_answer(http_status: int, body: object) -> IdmintError:
    """The exception for an error answer: its HTTP status and parsed JSON body (or ``None``)."""
    envelope = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(envelope, Mapping):
        envelope = {}
    code = envelope.get("code") if isinstance(envelope.get("code"), str) else None
    cls = error_class_for(code, http_status)
    message = envelope.get("message")
    if not isinstance(message, str) or not message:
        message = f"The server answered HTTP {http_status} without an idmint error envelope."
    context: dict[str, object] = {}
    if isinstance(envelope.get("field"), str):
        context["field"] = envelope["field"]
    if isinstance(envelope.get("expiredAt"), str):
        with contextlib.suppress(ValueError):  # an unreadable time leaves expired_at None
            context["expired_at"] = parse_time(envelope["expiredAt"])
    error = _instantiate(cls, message, context)
    # Instance attributes shadow the class's where the answer says otherwise (an unknown code,
    # a status that a newer server changed), so that the exception describes the answer.
    attributes = vars(error)
    attributes.update(context)
    if code is not None and code != cls.code:
        attributes["code"] = code
    if http_status != cls.http_status:
        attributes["http_status"] = http_status
    status = envelope.get("status")
    if isinstance(status, str) and status and status != cls.status:
        attributes["status"] = status
    return error


def error_from_response(response: httpx.Response) -> IdmintError:
    """The exception for an ``httpx`` error answer (see :func:`error_from_answer`)."""
    try:
        body: object = response.json()
    except ValueError:
        body = None
    return error_from_answer(response.status_code, body)


def transport_error(method: str, url: str, exc: Exception) -> UnavailableError:
    """The error for a request that got no answer (refused, reset, timed out, bad TLS, ...).
    Raise it ``from exc``."""
    return UnavailableError(f"idmint did not answer {method} {url}: {type(exc).__name__}: {exc}")
