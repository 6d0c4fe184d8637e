"""Request bodies: the one JSON parser of the API, for the fast path's routes and for FastAPI's.

:func:`read_json` turns a body into the value that validation sees, under one set of rules:

- the body is UTF-8 (RFC 8259 §8.1); anything else is a 400 naming ``body``.  One leading
  byte order mark is ignored, as §8.1 allows and as the API always did;
- every string, object keys included, at any depth, is Unicode text: no lone surrogate
  (U+D800-U+DFFF, which only a ``\\uXXXX`` escape can carry in valid UTF-8) and no
  non-character (U+FDD0-U+FDEF and U+nFFFE, U+nFFFF of every plane).  A lone surrogate has
  no UTF-8 form, so no store or encoder takes it; a non-character is for a program's own
  use, not for interchange, and no name or id holds one.  Neither gets past parsing: a 400
  naming the field;
- numbers are exact: an integer is a Python ``int`` of any size, and ``NaN``/``Infinity``
  reach validation, which refuses them naming the field.

Fields are named as validation names them, a dotted path (``data.userProperties.email``),
an array item by its index (``user.tags.0``).  A bad object key is named by the path of its
object followed by the key, its refused characters written as JSON escapes
(``user.nick\\ud800``): the key itself cannot travel in the JSON answer.

The fast path parses every body once, and hands the value to FastAPI in the request's scope;
the routes read it through :class:`BodyRoute` instead of parsing the body again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any, TypeAlias, TypeVar

import orjson
from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from idmint.api.errors import invalid_body
from idmint.jose.errors import InvalidArgumentError

__all__ = ["PARSED_BODY", "BodyRequest", "BodyRoute", "parse_body", "read_json"]

M = TypeVar("M", bound=BaseModel)

PARSED_BODY = "idmint.body"  # the scope key of the fast path's parse

# Lone surrogates and non-characters, in a decoded string; and those of the BMP alone, a
# faster search (a character class tests characters beyond the BMP one item at a time).
_REFUSED = re.compile(
    "[\ud800-\udfff\ufdd0-\ufdef"
    + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17))
    + "]"
)
_REFUSED_IN_BMP = re.compile("[\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
# What can carry a refused character in valid UTF-8: a \u escape whose first hex digit is d
# (a surrogate, or half of a pair that may name U+nFFFE) or f (U+FDD0-U+FDEF, U+FFFE,
# U+FFFF), or the UTF-8 forms of U+FDD0-U+FDEF (EF B7 ..) and U+nFFFE, U+nFFFF (.. BF BE,
# .. BF BF).
_BACKSLASH = ord("\\")
_ESCAPES = (b"\\ud", b"\\uD", b"\\uf", b"\\uF")
_NON_CHARACTERS = (b"\xef\xb7", b"\xbf\xbe", b"\xbf\xbf")
# orjson reads an integer beyond 64 bits as a float; such a literal has at least 19 digits.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19


def read_json(body: bytes) -> Any:
    """The JSON value of a request body, under the rules of the module's docstring.

    :param body: the body as received (not empty: the caller says what a missing body means).
    :raises InvalidArgumentError: the body is not UTF-8 or not JSON (``field`` ``body``), or a
        string or key holds a lone surrogate or a non-character (``field`` names it).
    """
    if _LONG_NUMBER not in body.translate(_DIGITS_AS_ZERO):  # orjson reads it exactly
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            pass  # not JSON, or JSON that only the standard parser takes (NaN): see below
        else:
            # orjson refuses invalid UTF-8 (and lone surrogates), so a refused character can
            # only come from a \u escape or a non-character's UTF-8 form: most bodies show in
            # their bytes that none is there, and are not walked.
            if _may_hold_refused(body):
                _check_text(value)
            return value
    try:
        text = body.decode("utf-8")  # strict: no overlong forms, no encoded surrogates
    except UnicodeDecodeError:
        raise InvalidArgumentError("The request body is not valid UTF-8.", field="body") from None
    try:
        value = json.loads(text.removeprefix("\ufeff"))
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        raise InvalidArgumentError("The request body is not valid JSON.", field="body") from None
    _check_text(value)
    return value


def _may_hold_refused(body: bytes) -> bool:
    """Whether the value of ``body``, valid UTF-8, may hold a refused character."""
    # Cheapest first: a byte is found with memchr, a longer needle costs a search.  Most
    # bodies have no backslash and are ASCII.
    if _BACKSLASH in body and any(escape in body for escape in _ESCAPES):
        return True
    return not body.isascii() and any(form in body for form in _NON_CHARACTERS)


# A value being checked: (value, the entry of the object or array that holds it, its key or
# index there); the path is built from these links only for the answer to a bad one.
_Entry: TypeAlias = tuple[Any, "_Entry | None", str | int | None]


def _check_text(value: Any) -> None:
    """Refuse the first string or key, in document order, that holds a refused character."""
    # A loop, not recursion: the standard parser nests as deep as the interpreter allows.
    pending: list[_Entry] = [(value, None, None)]
    while pending:
        entry = pending.pop()
        item, _, key = entry
        if isinstance(key, str) and not _is_text(key):
            field = _name(entry, bad_key=True)
            raise InvalidArgumentError(
                f"The key {field} contains a lone surrogate or a Unicode non-character.",
                field=field,
            )
        if isinstance(item, str):
            if not _is_text(item):
                field = _name(entry)
                raise InvalidArgumentError(
                    f"{field} contains a lone surrogate or a Unicode non-character.", field=field
                )
        elif isinstance(item, dict):
            pending.extend(reversed([(child, entry, name) for name, child in item.items()]))
        elif isinstance(item, list):
            pending.extend(reversed([(child, entry, index) for index, child in enumerate(item)]))


def _is_text(text: str) -> bool:
    """Whether ``text`` holds no refused character (cheapest test first)."""
    if text.isascii():
        return True
    if _REFUSED_IN_BMP.search(text):
        return False
    return max(text) <= "\uffff" or _REFUSED.search(text) is None


def _name(entry: _Entry, *, bad_key: bool = False) -> str:
    """The field of ``entry``, as api.errors names a validation error's location."""
    parts: list[str] = []
    link: _Entry | None = entry
    while link is not None and link[1] is not None:
        parts.append(str(link[2]))
        link = link[1]
    if bad_key:
        parts[0] = _REFUSED.sub(_escape, parts[0])
    return ".".join(reversed(parts)) or "body"


def _escape(match: re.Match[str]) -> str:
    return json.dumps(match.group())[1:-1]  # \ud800; U+1FFFE as its pair, \ud83f\udffe


class BodyRequest(Request):
    """A request whose :meth:`json` is the fast path's parse of the body (FastAPI calls it for a
    JSON body), so that the routes see exactly what the hot routes see."""

    async def json(self) -> Any:
        if PARSED_BODY in self.scope:
            return self.scope[PARSED_BODY]
        # Called without the fast path (``app.framework`` directly): the same rules, though
        # FastAPI turns the refusal into its plain 400 without a field.
        return read_json(await self.body())


class BodyRoute(APIRoute):
    """The route class of every router: its handler reads the body as a
    :class:`BodyRequest` (FastAPI's documented way to change how a route reads requests)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def body_route_handler(request: Request) -> Response:
            return await handler(BodyRequest(request.scope, request.receive))

        return body_route_handler


def parse_body(model: type[M], body: bytes) -> M:
    """The request body as ``model``, read by :func:`read_json` and validated as FastAPI
    validates a body parameter (the fast path's routes use it).

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
