"""The one error envelope turned back into the :mod:`idmint.jose.errors` class the server raised.

For an answer that is not a success:

1. the envelope's ``code`` names a class of :func:`idmint.jose.errors.error_classes`: that class;
2. an unknown code (a newer server, or one of the few errors only HTTP has, such as
   ``request_too_large``): the nearest family by the code's shape (``token_*`` is a
   :class:`TokenError`, ``key_*`` a :class:`SigningKeyError`, ``auth_token_*``,
   ``credentials_*`` and ``api_key_*`` a :class:`CredentialError`, ``*_not_found`` a
   :class:`NotFoundError`, ``*_exists`` a :class:`ConflictError`, ``*_mismatch`` an
   :class:`IdentityMismatchError`), else by HTTP status (``_BY_STATUS``), else
   :class:`IdmintError`; the instance keeps the server's ``code``;
3. no envelope at all (a proxy's HTML page): by HTTP status, with the class's own code.

The class is built as ``cls(message, **context)`` from the envelope's context members
(``field``, ``claim``, ``kid``, ``expiredAt``, ...: each class lists the names it takes in
``context_names``).  The error also carries the answer's ``http_status`` and ``status`` (the
envelope's status word) as attributes.  A request that gets no answer is
:class:`UnavailableError` (:func:`transport_error`).
"""

from __future__ import annotations

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
    NotFoundError,
    SigningKeyError,
    TokenError,
    UnavailableError,
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
        405: InvalidArgumentError,
        409: ConflictError,
        413: InvalidArgumentError,
        415: InvalidArgumentError,
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


# The envelope's members that are times, parsed back into datetimes.
_TIMES: Final = frozenset({"expired_at", "not_before", "issued_at"})


def _snake(name: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name)


def _context(cls: type[IdmintError], envelope: Mapping[str, object]) -> dict[str, object]:
    """The envelope's members that ``cls`` takes as context, by their Python names."""
    context: dict[str, object] = {}
    for member, value in envelope.items():
        name = _snake(member)
        if name not in cls.context_names or value is None:
            continue
        if name in _TIMES:
            if not isinstance(value, str):
                continue
            try:
                value = parse_time(value)
            except ValueError:  # an unreadable time leaves it None
                continue
        context[name] = value
    return context


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
    try:
        error = cls(message, **_context(cls, envelope))
    except (TypeError, ValueError):  # context of an unexpected type: the message alone
        error = cls(message)
    # The answer's code (an unknown one stays on the instance), HTTP status and status word.
    attributes = vars(error)
    if code is not None and code != cls.code:
        attributes["code"] = code
    attributes["http_status"] = http_status
    status = envelope.get("status")
    attributes["status"] = status if isinstance(status, str) and status else None
    return error


def error_from_response(response: httpx.Response) -> IdmintError:
    """The exception for an ``httpx`` error answer (see :func:`error_from_answer`)."""
    try:
        body: object = response.json()
    except ValueError:
        body = None
    return error_from_answer(response.status_code, body)


def transport_error(method: str, url: str, exc: Exception) -> UnavailableError:
    """The error for a request that got no answer (refused, reset, timed out, bad TLS, ...),
    with ``http_status`` 503 and ``status`` ``UNAVAILABLE``, as a gateway would answer.  Raise
    it ``from exc``."""
    error = UnavailableError(f"idmint did not answer {method} {url}: {type(exc).__name__}: {exc}")
    vars(error).update(http_status=503, status="UNAVAILABLE")
    return error
