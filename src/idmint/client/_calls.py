"""A :class:`Call` is one operation of the API: the request to send and how to read its
answer; the readers here turn the server's JSON into the client's models, and
:func:`checked_url` refuses a base URL idmint cannot be at."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Generic, TypeVar
from urllib.parse import quote

import httpx

from idmint import __version__
from idmint.client._errors import error_from_response
from idmint.client._models import (
    AuditEvent,
    AuditPage,
    AuthTokenInfo,
    CreatedWorkspace,
    GeneratedToken,
    User,
    UserPage,
    Workspace,
    parse_time,
)
from idmint.jose.errors import IdmintError, InvalidArgumentError

__all__ = [
    "UNSET",
    "USER_AGENT",
    "Call",
    "Unset",
    "as_seconds",
    "checked_url",
    "iso_time",
    "read_access_token",
    "read_audit_page",
    "read_created_auth_token",
    "read_created_workspace",
    "read_generated",
    "read_nothing",
    "read_object",
    "read_user_page",
    "segment",
]


class Unset(enum.Enum):
    """The type of :data:`UNSET`."""

    UNSET = "UNSET"


#: "Leave as it is", where ``None`` means "clear it" (the update calls).
UNSET: Final = Unset.UNSET

T = TypeVar("T")

USER_AGENT: Final = f"idmint-python/{__version__}"


def read_object(response: httpx.Response) -> Mapping[str, Any]:
    body = response.json()
    if not isinstance(body, Mapping):
        raise ValueError("the answer is not a JSON object")
    return body


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One API operation: the request, and how to read its successful answer."""

    method: str
    url: str
    parse: Callable[[httpx.Response], T] = field(repr=False)
    # Bodies and headers carry secrets (authToken, Authorization): never in a repr or a log.
    json: Any = field(default=None, repr=False)
    params: Mapping[str, str | int] | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    def finish(self, response: httpx.Response) -> T:
        """The parsed answer.

        :raises IdmintError: the class the server's envelope names; the root class (code
            ``internal``) for a success answer that the client cannot read.
        """
        if not response.is_success:
            raise error_from_response(response)
        try:
            return self.parse(response)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise IdmintError(
                f"Unexpected answer to {self.method} {self.url}: {type(exc).__name__}: {exc}"
            ) from exc


def segment(value: str) -> str:
    return quote(value, safe="")


def as_seconds(value: int | timedelta) -> int:
    return int(value.total_seconds()) if isinstance(value, timedelta) else value


def iso_time(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    # Naive times are UTC, as the server reads them.
    return value.isoformat(timespec="seconds") + "Z"


def read_generated(response: httpx.Response) -> GeneratedToken:
    data = read_object(response)["result"]["data"]
    token = data["token"]
    if not isinstance(token, str):
        raise ValueError("the answer's token is not a string")
    expires_at = parse_time(data["expiresAt"]) if "expiresAt" in data else None
    expires_in = data.get("expiresIn")
    if expires_in is not None and (isinstance(expires_in, bool) or not isinstance(expires_in, int)):
        raise ValueError("expiresIn is not an integer")
    return GeneratedToken.from_token(token, expires_in=expires_in, expires_at=expires_at)


def read_access_token(response: httpx.Response) -> GeneratedToken:
    body = read_object(response)
    token, expires_in = body["access_token"], body["expires_in"]
    if (
        not isinstance(token, str)
        or isinstance(expires_in, bool)
        or not isinstance(expires_in, int)
    ):
        raise ValueError("access_token or expires_in has the wrong type")
    return GeneratedToken.from_token(token, expires_in=expires_in)


def read_user_page(response: httpx.Response) -> UserPage:
    body = read_object(response)
    next_after = body.get("next")
    return UserPage(
        users=tuple(User.from_json(u) for u in body["users"]),
        next=None if next_after is None else str(next_after),
    )


def read_audit_page(response: httpx.Response) -> AuditPage:
    body = read_object(response)
    next_before = body.get("next")
    return AuditPage(
        events=tuple(AuditEvent.from_json(e) for e in body["events"]),
        next=None if next_before is None else int(next_before),
    )


def read_created_workspace(response: httpx.Response) -> CreatedWorkspace:
    body = read_object(response)
    return CreatedWorkspace(
        workspace=Workspace.from_json(body["workspace"]),
        auth_token=AuthTokenInfo.from_json(body["authToken"]),
        secret=str(body["secret"]),
    )


def read_created_auth_token(response: httpx.Response) -> tuple[AuthTokenInfo, str]:
    body = read_object(response)
    return AuthTokenInfo.from_json(body["authToken"]), str(body["secret"])


def checked_url(url: str, *, what: str = "The base URL") -> str:
    """``url`` without a trailing slash, once it is an http(s) URL with a host.

    :raises InvalidArgumentError: otherwise, saying what is wrong (a URL without a scheme
        would otherwise surface as the server being unavailable).
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        found = (
            "the URL has no scheme"
            if not parts.scheme or not parts.netloc
            else f"its scheme is {parts.scheme!r}"
        )
        raise InvalidArgumentError(
            f"{what} must be an http:// or https:// URL such as https://idmint.example.com; "
            f"{url[:200]!r}: {found}."
        )
    return url.rstrip("/")


def read_nothing(_response: httpx.Response) -> None:
    return None
