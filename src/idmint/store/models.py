"""The store's tables (SQLAlchemy 2 declarative models); Alembic migrations create them.  And
:func:`email_key`, how the ``users.email_key`` column is computed.

Times are POSIX seconds (floats) from the injected clock, so the store never asks the database
for "now" and tests stay deterministic.
"""

from __future__ import annotations

import unicodedata
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AuditEvent",
    "AuthToken",
    "Base",
    "ConsoleAccount",
    "ConsoleMembership",
    "ConsoleSession",
    "Organization",
    "Revocation",
    "Session",
    "SigningKeyRow",
    "User",
    "UserProfile",
    "Workspace",
    "email_key",
]


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def email_key(email: str) -> str:
    """How emails are compared, the same on every backend: ASCII letters without case, every
    other character exactly, in Unicode NFC.

    The ASCII letters are lowered as written, before NFC, so that a character which NFC turns
    into one (the Kelvin sign becomes ``K``) stays distinct from it.  No Unicode case folding:
    it merges distinct mailboxes (``straße`` and ``strasse``), and a mail server may treat
    them as different people.
    """
    if email.isascii():
        return email.lower()  # the usual case: str.lower is ~20 times faster than translate
    return unicodedata.normalize("NFC", email.translate(_ASCII_LOWER))


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: JSON, list[str]: JSON}


class Workspace(Base):
    """A tenant. Its public id is its API key."""

    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    api_key: Mapped[str] = mapped_column(String(128), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    require_jwt: Mapped[bool] = mapped_column(Boolean, default=True)
    token_ttl_seconds: Mapped[int] = mapped_column(Integer, default=172_800)
    min_ttl_seconds: Mapped[int] = mapped_column(Integer, default=1)
    max_ttl_seconds: Mapped[int] = mapped_column(Integer, default=604_800)
    auto_create_users: Mapped[bool] = mapped_column(Boolean, default=True)
    allowed_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    # An optional quota of mints, in the limits library's syntax ("100/second"); None: none.
    mint_rate_limit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class AuthToken(Base):
    """A secret credential of a workspace, stored only as its SHA-256."""

    __tablename__ = "auth_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[float] = mapped_column(Float)
    last_used_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # What the token may do: "mint", "admin", or both, space-separated.
    scopes: Mapped[str] = mapped_column(String(64), default="mint", server_default="mint admin")

    __table_args__ = (Index("ix_auth_tokens_workspace", "workspace_id"),)


class Organization(Base):
    """An organization that users of a workspace belong to."""

    __tablename__ = "organizations"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float)


class User(Base):
    """A user of a workspace, keyed by the application's userId: its trusted attributes.

    Only authenticated callers write these (the mint routes, the admin API, the CLI); identify
    never does.  What identify brings is a :class:`UserProfile`, kept apart.
    """

    __tablename__ = "users"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    organization_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    # The email as compared (see email_key above): unique per workspace.
    email_key: Mapped[str | None] = mapped_column(String(320), nullable=True)
    # Set instead of email_key on users that shared an email before emails became unique
    # (migration 0002): minting by that email is email_ambiguous until an admin resolves it.
    email_conflict: Mapped[str | None] = mapped_column(String(320), nullable=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        Index("uq_users_email_key", "workspace_id", "email_key", unique=True),
        Index("ix_users_email_conflict", "workspace_id", "email_conflict"),
    )


class UserProfile(Base):
    """What a user's client last sent to identify beyond its ids (``name``, ``photoUrl``, other
    members): untrusted, shown as such, and never put into a token."""

    __tablename__ = "user_profiles"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[float] = mapped_column(Float)


class SigningKeyRow(Base):
    """A workspace signing key; the private part only sealed under the master key."""

    __tablename__ = "signing_keys"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    kid: Mapped[str] = mapped_column(String(128), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    sealed_private_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    activated_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    retiring_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    retired_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Revocation(Base):
    """A denylist entry: one token by jti, or a user's or organization's tokens issued before T."""

    __tablename__ = "revocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(256))
    issued_before: Mapped[float | None] = mapped_column(Float, nullable=True)
    expires_at: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(String(256), nullable=True)

    __table_args__ = (Index("ix_revocations_lookup", "workspace_id", "kind", "value"),)


class Session(Base):
    """What a successful identify creates; it ends at the token's exp or earlier."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(256))
    jti: Mapped[str | None] = mapped_column(String(64), nullable=True)
    verified: Mapped[bool] = mapped_column(Boolean)
    is_admin: Mapped[bool] = mapped_column(Boolean)
    expires_at: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (Index("ix_sessions_user", "workspace_id", "user_id"),)


class AuditEvent(Base):
    """Who did what, when, with which outcome and reason code; never a secret or a token."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(256), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The address the request came from (the socket's, or X-Forwarded-For's from a trusted
    # proxy); None for the CLI and the scheduler.
    client_address: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        Index("ix_audit_workspace_at", "workspace_id", "at"),
        Index("ix_audit_at", "at"),
    )


class ConsoleAccount(Base):
    """A person who signs in to the console: an ``owner`` (every workspace, and the accounts)
    or a ``member``, who sees the workspaces of its memberships.  The password only as an
    argon2id hash."""

    __tablename__ = "console_accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    # The email as compared (see email_key above): unique.
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    disabled_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class ConsoleMembership(Base):
    """A member account's role in one workspace: ``admin`` (changes it) or ``viewer``."""

    __tablename__ = "console_memberships"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("console_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_console_memberships_workspace", "workspace_id"),)


class ConsoleSession(Base):
    """A console sign-in.  Its id is the SHA-256 of the session secret the browser holds (the
    secret itself is never stored), and so is its CSRF token's hash."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("console_accounts.id", ondelete="CASCADE"))
    csrf_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    last_seen_at: Mapped[float] = mapped_column(Float)
    # Absolute: the session ends then however busy it is (IDMINT_CONSOLE_SESSION_HOURS).
    expires_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    client_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(256), nullable=True)

    __table_args__ = (Index("ix_console_sessions_account", "account_id"),)
