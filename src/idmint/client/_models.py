"""The answers of the idmint API as small typed records.

Each record has a ``from_json`` that reads the API's camelCase object; times become aware UTC
datetimes.  Members the server adds later are ignored, so a newer server does not break an
older client.
"""

from __future__ import annotations

import binascii
import json
from base64 import urlsafe_b64decode
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "AuditEvent",
    "AuditPage",
    "AuthTokenInfo",
    "CreatedWorkspace",
    "GeneratedToken",
    "Revocation",
    "Session",
    "SigningKeyInfo",
    "User",
    "UserPage",
    "Workspace",
    "parse_time",
]

Json = Mapping[str, Any]


def parse_time(value: object) -> datetime:
    """An API time (ISO 8601, ``Z`` for UTC) as an aware datetime.

    :raises ValueError: for anything else.
    """
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 time, got {value!r}")
    when = datetime.fromisoformat(value)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _optional_time(value: object) -> datetime | None:
    return None if value is None else parse_time(value)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected a boolean, got {value!r}")
    return value


def _object(value: object) -> Json:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a JSON object, got {value!r}")
    return value


def unverified_claims(token: str) -> Json:
    """The claims of a compact JWS, read without verifying it (to report its expiry only)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


@dataclass(frozen=True, slots=True)
class GeneratedToken:
    """A freshly minted user token.

    :ivar token: the compact JWT; pass it to the client's ``identify()``.  Left out of ``repr``
        because it is a bearer credential until it expires.
    :ivar expires_in: its lifetime in seconds.
    :ivar expires_at: when it expires (aware, UTC).
    """

    token: str = field(repr=False)
    expires_in: int
    expires_at: datetime

    @classmethod
    def from_token(
        cls, token: str, *, expires_in: int | None = None, expires_at: datetime | None = None
    ) -> GeneratedToken:
        """Fill what the answer leaves out from the token's own ``iat`` and ``exp``."""
        claims = unverified_claims(token)
        exp, iat = claims.get("exp"), claims.get("iat")
        if expires_at is None:
            if not isinstance(exp, int | float) or isinstance(exp, bool):
                raise ValueError("the answer gives no expiry and the token has no exp")
            expires_at = datetime.fromtimestamp(exp, UTC)
        if expires_in is None:
            if not isinstance(iat, int | float) or isinstance(iat, bool):
                raise ValueError("the answer gives no lifetime and the token has no iat")
            expires_in = int(expires_at.timestamp() - iat)
        return cls(token=token, expires_in=expires_in, expires_at=expires_at)


@dataclass(frozen=True, slots=True)
class Workspace:
    """A workspace and its settings (``GET /admin/v1/workspaces/{api_key}``)."""

    id: str
    api_key: str
    name: str
    issuer: str
    require_jwt: bool
    token_ttl_seconds: int
    min_ttl_seconds: int
    max_ttl_seconds: int
    auto_create_users: bool
    allowed_domains: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    mint_rate_limit: str | None = None

    @classmethod
    def from_json(cls, data: Json) -> Workspace:
        return cls(
            id=_text(data["id"]),
            api_key=_text(data["apiKey"]),
            name=_text(data["name"]),
            issuer=_text(data["issuer"]),
            require_jwt=_bool(data["requireJwt"]),
            token_ttl_seconds=_int(data["tokenTtlSeconds"]),
            min_ttl_seconds=_int(data["minTtlSeconds"]),
            max_ttl_seconds=_int(data["maxTtlSeconds"]),
            auto_create_users=_bool(data["autoCreateUsers"]),
            allowed_domains=tuple(_text(d) for d in data["allowedDomains"]),
            created_at=parse_time(data["createdAt"]),
            updated_at=parse_time(data["updatedAt"]),
            mint_rate_limit=_optional_text(data.get("mintRateLimit")),
        )


@dataclass(frozen=True, slots=True)
class AuthTokenInfo:
    """An auth token as the admin API shows it: never its secret."""

    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None
    scopes: tuple[str, ...] = ("mint", "admin")

    @property
    def over_privileged(self) -> bool:
        """Whether it has both scopes (a backend that mints needs only ``mint``)."""
        return {"mint", "admin"} <= set(self.scopes)

    @classmethod
    def from_json(cls, data: Json) -> AuthTokenInfo:
        return cls(
            id=_text(data["id"]),
            name=_text(data["name"]),
            prefix=_text(data["prefix"]),
            created_at=parse_time(data["createdAt"]),
            last_used_at=_optional_time(data.get("lastUsedAt")),
            revoked_at=_optional_time(data.get("revokedAt")),
            expires_at=_optional_time(data.get("expiresAt")),
            scopes=tuple(_text(s) for s in data.get("scopes", ("mint", "admin"))),
        )


@dataclass(frozen=True, slots=True)
class CreatedWorkspace:
    """A new workspace with its first auth token; ``secret`` is shown this once."""

    workspace: Workspace
    auth_token: AuthTokenInfo
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class User:
    """A user of the workspace: the trusted attributes, and apart from them the profile that
    identify stored (``profile``: untrusted, as the user's client sent it; never in a token).

    ``email_shared``: the email is shared with other users from before emails were unique.
    """

    user_id: str
    organization_id: str | None
    email: str | None
    email_shared: bool
    is_admin: bool
    created_at: datetime
    updated_at: datetime
    profile: Mapping[str, Any]
    profile_updated_at: datetime | None

    @classmethod
    def from_json(cls, data: Json) -> User:
        profiled = data.get("profileUpdatedAt")
        return cls(
            user_id=_text(data["userId"]),
            organization_id=_optional_text(data.get("organizationId")),
            email=_optional_text(data.get("email")),
            email_shared=_bool(data.get("emailShared", False)),
            is_admin=_bool(data["isAdmin"]),
            created_at=parse_time(data["createdAt"]),
            updated_at=parse_time(data["updatedAt"]),
            profile=_object(data.get("profile") or {}),
            profile_updated_at=None if profiled is None else parse_time(profiled),
        )


@dataclass(frozen=True, slots=True)
class UserPage:
    """One page of users; pass ``next`` as ``after`` for the following page (``None``: last)."""

    users: tuple[User, ...]
    next: str | None


@dataclass(frozen=True, slots=True)
class Revocation:
    """An entry of the denylist: a ``jti``, or a user's or organization's tokens until a time."""

    id: int
    kind: str
    value: str
    issued_before: datetime | None
    expires_at: datetime
    created_at: datetime
    reason: str | None

    @classmethod
    def from_json(cls, data: Json) -> Revocation:
        return cls(
            id=_int(data["id"]),
            kind=_text(data["kind"]),
            value=_text(data["value"]),
            issued_before=_optional_time(data.get("issuedBefore")),
            expires_at=parse_time(data["expiresAt"]),
            created_at=parse_time(data["createdAt"]),
            reason=_optional_text(data.get("reason")),
        )


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audit event: who did what, when, with which outcome and reason code."""

    id: int
    at: datetime
    actor: str
    action: str
    outcome: str
    reason_code: str | None
    subject: str | None
    detail: Mapping[str, Any]
    client_address: str | None = None

    @classmethod
    def from_json(cls, data: Json) -> AuditEvent:
        return cls(
            id=_int(data["id"]),
            at=parse_time(data["at"]),
            actor=_text(data["actor"]),
            action=_text(data["action"]),
            outcome=_text(data["outcome"]),
            reason_code=_optional_text(data.get("reasonCode")),
            subject=_optional_text(data.get("subject")),
            detail=_object(data.get("detail") or {}),
            client_address=_optional_text(data.get("clientAddress")),
        )


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of audit events, newest first; pass ``next`` as ``before`` for older ones."""

    events: tuple[AuditEvent, ...]
    next: int | None


@dataclass(frozen=True, slots=True)
class SigningKeyInfo:
    """A signing key and where it is in its life (``next``, ``active``, ``retiring``,
    ``retired``); never its private part."""

    kid: str
    alg: str
    state: str
    created_at: datetime
    activated_at: datetime | None
    retiring_at: datetime | None
    retired_at: datetime | None
    promotes_at: datetime | None
    retires_at: datetime | None

    @classmethod
    def from_json(cls, data: Json) -> SigningKeyInfo:
        return cls(
            kid=_text(data["kid"]),
            alg=_text(data["alg"]),
            state=_text(data["state"]),
            created_at=parse_time(data["createdAt"]),
            activated_at=_optional_time(data.get("activatedAt")),
            retiring_at=_optional_time(data.get("retiringAt")),
            retired_at=_optional_time(data.get("retiredAt")),
            promotes_at=_optional_time(data.get("promotesAt")),
            retires_at=_optional_time(data.get("retiresAt")),
        )


@dataclass(frozen=True, slots=True)
class Session:
    """What identify answers: a session for the user, bound to the token's expiry.

    ``verified`` is false (and ``mode`` is ``"development"``) only when the workspace does not
    require a JWT and none was given.
    """

    id: str
    user: Mapping[str, Any]
    organization_id: str | None
    is_admin: bool
    expires_at: datetime
    verified: bool
    mode: str

    @classmethod
    def from_json(cls, data: Json) -> Session:
        return cls(
            id=_text(data["id"]),
            user=_object(data["user"]),
            organization_id=_optional_text(data.get("organizationId")),
            is_admin=_bool(data["isAdmin"]),
            expires_at=parse_time(data["expiresAt"]),
            verified=_bool(data["verified"]),
            mode=_text(data["mode"]),
        )
