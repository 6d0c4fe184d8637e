"""The rows group commit writes, typed: what a :class:`~idmint.store.units.Unit` carries and
what the writer makes of it (:mod:`idmint.store.writer`).

Plain dicts, not ORM objects: building one costs a few hundred nanoseconds on the hot path,
and a batch goes to the driver as one multi-row statement (:mod:`idmint.store.bulk`).  The
types only let mypy check the keys; each is a row of a table of :mod:`idmint.store.models`,
its keys that table's column names.  A spill file holds them as JSON objects as they are.
"""

from __future__ import annotations

from typing import Any, TypeAlias, TypedDict

__all__ = [
    "AuditRow",
    "OrganizationRow",
    "Profile",
    "ProfileRow",
    "SessionRow",
    "UserColumns",
    "UserRow",
]

# What a user's client sent to identify beyond its ids: any JSON members, untrusted (see
# models.UserProfile).  Open by nature, so a plain dict.
Profile: TypeAlias = dict[str, Any]


class UserColumns(TypedDict, total=False):
    """Trusted columns of ``users`` to set: an upsert or an update sets the keys given and
    leaves the others as they are.  ``email_key`` and ``email_conflict`` go with ``email``
    (see :func:`~idmint.store.email_key`)."""

    organization_id: str | None
    email: str | None
    email_key: str | None
    email_conflict: str | None
    is_admin: bool


class UserRow(UserColumns):
    """A row of ``users`` as an upsert inserts it; on conflict only the upsert's own columns
    and ``updated_at`` are set."""

    workspace_id: str
    user_id: str
    created_at: float
    updated_at: float


class OrganizationRow(TypedDict):
    """A row of ``organizations``, inserted once (never updated)."""

    workspace_id: str
    organization_id: str
    created_at: float


class ProfileRow(TypedDict):
    """A row of ``user_profiles``: identify's profile of a user, replaced whole."""

    workspace_id: str
    user_id: str
    profile: Profile
    updated_at: float


class SessionRow(TypedDict):
    """A row of ``sessions``: what a successful identify creates."""

    id: str
    workspace_id: str
    user_id: str
    jti: str | None
    verified: bool
    is_admin: bool
    expires_at: float
    created_at: float
    ended_at: float | None


class AuditRow(TypedDict):
    """A row of ``audit_events`` (its id is the database's)."""

    workspace_id: str | None
    at: float
    actor: str
    action: str
    outcome: str
    reason_code: str | None
    subject: str | None
    detail: dict[str, Any]
    client_address: str | None
