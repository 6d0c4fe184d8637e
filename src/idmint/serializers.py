"""Service results as the wire's JSON: one place, used by the HTTP API and by the CLI's
``--json`` (and later the console), so that both speak exactly the same shapes.

Times are ISO 8601 UTC with a ``Z``; names are camelCase, as the API has always answered.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from idmint.jose.errors import IdmintError, InvalidArgumentError
from idmint.jose.tokens import MintedToken
from idmint.service import (
    AuditEvent,
    AuthToken,
    IdentifiedSession,
    Revocation,
    SigningKeyRow,
    User,
    UserProfile,
    Workspace,
)

__all__ = [
    "audit_event_json",
    "auth_token_json",
    "error_fields",
    "identify_json",
    "iso",
    "jwks_uri",
    "mint_by_email_json",
    "mint_by_user_id_json",
    "parse_iso",
    "revocation_json",
    "signing_key_json",
    "user_json",
    "workspace_json",
]

# A context value the caller sent (an origin, a kid, an issuer) is echoed back at most this long.
MAX_CONTEXT_CHARS: Final = 256


def iso(timestamp: float | None) -> str | None:
    """POSIX seconds as ISO 8601 UTC with a ``Z`` (None stays None)."""
    if timestamp is None:
        return None
    return _iso(timestamp)


@lru_cache(maxsize=256)  # every mint in the same second answers the same expiry
def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str, *, field: str) -> float:
    """A time the wire gives as ISO 8601 (UTC when it names no zone), as POSIX seconds.

    :raises InvalidArgumentError: naming ``field``, for anything else.
    """
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except (ValueError, OverflowError):
        raise InvalidArgumentError(
            f"{field} must be an ISO 8601 time such as 2027-01-31T12:00:00Z, not {text[:64]!r}.",
            field=field,
        ) from None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _wire(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, str) and len(value) > MAX_CONTEXT_CHARS:
        return value[:MAX_CONTEXT_CHARS]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return str(value)[:MAX_CONTEXT_CHARS]  # JSON writers stop at 64 bits: as text
    if isinstance(value, float) and value != value:  # NaN is no JSON value
        return None
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return [item[:MAX_CONTEXT_CHARS] for item in value[:10]]  # an audience array
    return repr(value)[:MAX_CONTEXT_CHARS]  # anything else (a kid that is an object) as text


def error_fields(error: IdmintError) -> dict[str, Any]:
    """An error's message, code and context (``claim``, ``kid``, ``expiredAt``, ...), as the
    error envelope carries them (the API adds the status word)."""
    fields: dict[str, Any] = {"message": error.message, "code": error.code}
    for name, value in error.context.items():
        fields[_camel(name)] = _wire(value)
    return fields


def jwks_uri(issuer: str) -> str:
    """Where an issuer's public keys are published."""
    return f"{issuer}/.well-known/jwks.json"


def workspace_json(workspace: Workspace, issuer: str) -> dict[str, Any]:
    """A workspace and its settings (``issuer``: the one its tokens carry)."""
    return {
        "id": workspace.id,
        "apiKey": workspace.api_key,
        "name": workspace.name,
        "issuer": issuer,
        "jwksUri": jwks_uri(issuer),
        "requireJwt": workspace.require_jwt,
        "tokenTtlSeconds": workspace.token_ttl_seconds,
        "minTtlSeconds": workspace.min_ttl_seconds,
        "maxTtlSeconds": workspace.max_ttl_seconds,
        "autoCreateUsers": workspace.auto_create_users,
        "allowedDomains": list(workspace.allowed_domains or []),
        "mintRateLimit": workspace.mint_rate_limit,
        "createdAt": iso(workspace.created_at),
        "updatedAt": iso(workspace.updated_at),
    }


def auth_token_json(token: AuthToken) -> dict[str, Any]:
    """An auth token's record: never its secret (shown once, when it is created)."""
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "createdAt": iso(token.created_at),
        "lastUsedAt": iso(token.last_used_at),
        "revokedAt": iso(token.revoked_at),
        "expiresAt": iso(token.expires_at),
        "scopes": token.scopes.split(),
        "overPrivileged": set(token.scopes.split()) >= {"mint", "admin"},
    }


def user_json(user: User, profile: UserProfile | None) -> dict[str, Any]:
    """A user: the trusted attributes, and apart the untrusted profile identify stored."""
    return {
        "userId": user.user_id,
        "organizationId": user.organization_id,
        "email": user.email,
        "emailShared": user.email_conflict is not None,
        "isAdmin": user.is_admin,
        "createdAt": iso(user.created_at),
        "updatedAt": iso(user.updated_at),
        "profile": {} if profile is None else dict(profile.profile or {}),
        "profileUpdatedAt": None if profile is None else iso(profile.updated_at),
    }


def revocation_json(row: Revocation) -> dict[str, Any]:
    """A denylist entry."""
    return {
        "id": row.id,
        "kind": row.kind,
        "value": row.value,
        "issuedBefore": iso(row.issued_before),
        "expiresAt": iso(row.expires_at),
        "createdAt": iso(row.created_at),
        "reason": row.reason,
    }


def audit_event_json(event: AuditEvent) -> dict[str, Any]:
    """An audit event."""
    return {
        "id": event.id,
        "at": iso(event.at),
        "actor": event.actor,
        "action": event.action,
        "outcome": event.outcome,
        "reasonCode": event.reason_code,
        "subject": event.subject,
        "clientAddress": event.client_address,
        "detail": event.detail or {},
    }


def signing_key_json(
    row: SigningKeyRow, *, promotes_at: float | None, retires_at: float | None
) -> dict[str, Any]:
    """A signing key's public facts and where it is in its life (never private parts);
    ``promotes_at`` and ``retires_at``: its next step, as the key service schedules it."""
    return {
        "kid": row.kid,
        "alg": row.alg,
        "state": row.state,
        "createdAt": iso(row.created_at),
        "activatedAt": iso(row.activated_at),
        "retiringAt": iso(row.retiring_at),
        "retiredAt": iso(row.retired_at),
        "promotesAt": iso(promotes_at),
        "retiresAt": iso(retires_at),
    }


def mint_by_user_id_json(minted: MintedToken) -> dict[str, Any]:
    """The answer of mint by user id (``POST /v1/auth/token/get``), as its callers know it."""
    return {
        "result": {
            "status": "success",
            "message": "Token generated successfully.",
            "data": {
                "token": minted.token,
                "expiresAt": iso(minted.expires_at),
                "expiresIn": minted.expires_in,
            },
        }
    }


def mint_by_email_json(minted: MintedToken) -> dict[str, Any]:
    """The answer of mint by email (``POST /api/v1/tokens``), as its callers know it."""
    return {"access_token": minted.token, "token_type": "bearer", "expires_in": minted.expires_in}


def identify_json(session: IdentifiedSession, now: float) -> dict[str, Any]:
    """The answer of identify; ``now``: the server's time, for the seconds left."""
    return {
        "session": {
            "id": session.id,
            "user": session.user,
            "organizationId": session.organization_id,
            "isAdmin": session.is_admin,
            "expiresAt": iso(session.expires_at),
            # Fractional: a client schedules "expired" from it, so no rounding down.
            "expiresIn": round(max(0.0, session.expires_at - now), 3),
            "verified": session.verified,
            "mode": "jwt" if session.verified else "development",
        }
    }
