"""Reads and admin writes, each one short transaction of its own through the ORM
(:meth:`~idmint.store.engine.StoreEngine.transaction`): workspaces, auth tokens, signing keys,
revocations, sessions and the audit log.  Users and their emails are
:mod:`idmint.store.users`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, update

from idmint.store.engine import StoreEngine
from idmint.store.models import (
    AuditEvent,
    AuthToken,
    Base,
    Revocation,
    Session,
    SigningKeyRow,
    User,
    Workspace,
)

__all__ = ["StoreQueries"]


class StoreQueries(StoreEngine):
    """Reads, and the writes of the admin API, the CLI and the server's upkeep (but for
    users)."""

    def add(self, *rows: Base) -> None:
        """Insert rows in one transaction."""
        with self.transaction() as session:
            session.add_all(rows)

    # --- workspaces ---------------------------------------------------------------------------

    def workspace_by_api_key(self, api_key: str) -> Workspace | None:
        with self.transaction() as session:
            return session.scalar(select(Workspace).where(Workspace.api_key == api_key))

    def workspaces(self) -> Sequence[Workspace]:
        with self.transaction() as session:
            return session.scalars(select(Workspace).order_by(Workspace.created_at)).all()

    def update_workspace(self, workspace_id: str, **values: Any) -> Workspace:
        with self.transaction() as session:
            session.execute(update(Workspace).where(Workspace.id == workspace_id).values(**values))
            row = session.get(Workspace, workspace_id)
            assert row is not None  # noqa: S101 - callers pass ids they just read
            return row

    # --- auth tokens ----------------------------------------------------------------------------

    def auth_token_by_hash(self, secret_hash: str) -> AuthToken | None:
        with self.transaction() as session:
            return session.scalar(select(AuthToken).where(AuthToken.secret_hash == secret_hash))

    def auth_tokens(self, workspace_id: str) -> Sequence[AuthToken]:
        with self.transaction() as session:
            query = select(AuthToken).where(AuthToken.workspace_id == workspace_id)
            return session.scalars(query.order_by(AuthToken.created_at)).all()

    def revoke_auth_token(self, workspace_id: str, token_id: str, at: float) -> AuthToken | None:
        """Mark a token revoked (idempotent: the first revocation time stays)."""
        with self.transaction() as session:
            row = session.get(AuthToken, token_id)
            if row is None or row.workspace_id != workspace_id:
                return None
            if row.revoked_at is None:
                row.revoked_at = at
            return row

    # --- signing keys -------------------------------------------------------------------------

    def signing_keys(self, workspace_id: str) -> Sequence[SigningKeyRow]:
        with self.transaction() as session:
            query = select(SigningKeyRow).where(SigningKeyRow.workspace_id == workspace_id)
            return session.scalars(query.order_by(SigningKeyRow.created_at)).all()

    def sealed_signing_key(self) -> SigningKeyRow | None:
        """The newest key of any workspace that still holds its sealed private part (not
        retired), or None: enough to check at startup that the master key opens them."""
        with self.transaction() as session:
            query = select(SigningKeyRow).where(SigningKeyRow.state != "retired")
            return session.scalar(query.order_by(SigningKeyRow.created_at.desc()).limit(1))

    def update_signing_key(self, workspace_id: str, kid: str, **values: Any) -> None:
        with self.transaction() as session:
            session.execute(
                update(SigningKeyRow)
                .where(SigningKeyRow.workspace_id == workspace_id, SigningKeyRow.kid == kid)
                .values(**values)
            )

    def promote_signing_key(self, workspace_id: str, kid: str, now: float) -> bool:
        """Make the ``next`` key ``kid`` active and the active key retiring, atomically.

        :returns: False when ``kid`` is no longer ``next`` (another instance promoted it).
        """
        with self.transaction() as session:
            promoted = session.execute(
                update(SigningKeyRow)
                .where(
                    SigningKeyRow.workspace_id == workspace_id,
                    SigningKeyRow.kid == kid,
                    SigningKeyRow.state == "next",
                )
                .values(state="active", activated_at=now)
            )
            if not getattr(promoted, "rowcount", 0):
                return False
            session.execute(
                update(SigningKeyRow)
                .where(
                    SigningKeyRow.workspace_id == workspace_id,
                    SigningKeyRow.state == "active",
                    SigningKeyRow.kid != kid,
                )
                .values(state="retiring", retiring_at=now)
            )
            return True

    def retire_signing_keys(
        self, workspace_id: str, retiring_before: float, now: float
    ) -> list[str]:
        """Retire keys that stopped signing before ``retiring_before``; their sealed private
        part is erased. Returns the kids retired."""
        with self.transaction() as session:
            rows = session.scalars(
                select(SigningKeyRow).where(
                    SigningKeyRow.workspace_id == workspace_id,
                    SigningKeyRow.state == "retiring",
                    SigningKeyRow.retiring_at <= retiring_before,
                )
            ).all()
            for row in rows:
                row.state = "retired"
                row.retired_at = now
                row.sealed_private_key = ""
            return [row.kid for row in rows]

    # --- revocations and sessions -------------------------------------------------------------

    def revocations(self, workspace_id: str, now: float) -> Sequence[Revocation]:
        """The denylist entries that can still matter (their tokens have not all expired)."""
        with self.transaction() as session:
            query = select(Revocation).where(
                Revocation.workspace_id == workspace_id, Revocation.expires_at > now
            )
            return session.scalars(query.order_by(Revocation.id)).all()

    def purge_revocations(self, now: float) -> int:
        """Drop denylist entries whose tokens have all expired; returns how many."""
        with self.transaction() as session:
            result = session.execute(delete(Revocation).where(Revocation.expires_at <= now))
            return int(getattr(result, "rowcount", 0) or 0)

    def end_sessions(
        self,
        workspace_id: str,
        at: float,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        jti: str | None = None,
        organization_id: str | None = None,
    ) -> int:
        """End open sessions matching any given criterion; returns how many."""
        criteria: list[ColumnElement[bool]] = []
        if organization_id is not None:
            members = select(User.user_id).where(
                User.workspace_id == workspace_id, User.organization_id == organization_id
            )
            criteria.append(Session.user_id.in_(members))
        if session_id is not None:
            criteria.append(Session.id == session_id)
        if user_id is not None:
            criteria.append(Session.user_id == user_id)
        if jti is not None:
            criteria.append(Session.jti == jti)
        if not criteria:
            return 0
        with self.transaction() as session:
            result = session.execute(
                update(Session)
                .where(
                    Session.workspace_id == workspace_id, Session.ended_at.is_(None), or_(*criteria)
                )
                .values(ended_at=at)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def session_record(self, session_id: str) -> Session | None:
        with self.transaction() as session:
            return session.get(Session, session_id)

    # --- audit ----------------------------------------------------------------------------------

    def purge_audit(self, before: float) -> int:
        """Delete audit events from before ``before``; returns how many."""
        with self.transaction() as session:
            result = session.execute(delete(AuditEvent).where(AuditEvent.at < before))
            return int(getattr(result, "rowcount", 0) or 0)

    def audit_events(
        self,
        workspace_id: str | None,
        *,
        limit: int = 100,
        before_id: int | None = None,
        action: str | None = None,
        outcome: str | None = None,
    ) -> Sequence[AuditEvent]:
        """Audit events, newest first, ``limit`` at a time, older than ``before_id``."""
        with self.transaction() as session:
            query = select(AuditEvent)
            if workspace_id is not None:
                query = query.where(AuditEvent.workspace_id == workspace_id)
            if before_id is not None:
                query = query.where(AuditEvent.id < before_id)
            if action is not None:
                query = query.where(AuditEvent.action == action)
            if outcome is not None:
                query = query.where(AuditEvent.outcome == outcome)
            return session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit)).all()
