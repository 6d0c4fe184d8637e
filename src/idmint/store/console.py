"""The console's accounts, their workspace memberships and their sessions: reads and writes,
each one short transaction (:meth:`~idmint.store.engine.StoreEngine.transaction`).

Emails are compared as :func:`~idmint.store.email_key` says, as users' are.  The rule that the
console keeps an owner is checked inside the transaction that would break it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from idmint.jose.errors import AccountExistsError, LastOwnerError
from idmint.store.engine import StoreEngine
from idmint.store.models import (
    ConsoleAccount,
    ConsoleMembership,
    ConsoleSession,
    email_key,
)

__all__ = ["ConsoleQueries"]


class ConsoleQueries(StoreEngine):
    """Console accounts, memberships and sessions."""

    # --- accounts -------------------------------------------------------------------------------

    def console_accounts(self) -> Sequence[ConsoleAccount]:
        """Every account, oldest first."""
        with self.transaction() as session:
            query = select(ConsoleAccount).order_by(ConsoleAccount.created_at, ConsoleAccount.id)
            return session.scalars(query).all()

    def console_account(self, account_id: str) -> ConsoleAccount | None:
        with self.transaction() as session:
            return session.get(ConsoleAccount, account_id)

    def console_account_by_email(self, email: str) -> ConsoleAccount | None:
        """The account with this email (compared as :func:`email_key` says)."""
        with self.transaction() as session:
            query = select(ConsoleAccount).where(ConsoleAccount.email_key == email_key(email))
            return session.scalar(query)

    def console_owner_count(self) -> int:
        """How many accounts are owners (disabled ones included)."""
        with self.transaction() as session:
            query = select(func.count()).where(ConsoleAccount.role == "owner")
            return int(session.scalar(query.select_from(ConsoleAccount)) or 0)

    def add_console_account(
        self, account: ConsoleAccount, memberships: Sequence[ConsoleMembership] = ()
    ) -> None:
        """Insert an account and its memberships in one transaction.

        :raises AccountExistsError: another account holds the email.
        """
        account.email_key = email_key(account.email)
        try:
            with self.transaction() as session:
                session.add(account)
                session.flush()  # the account before its memberships (their foreign key)
                session.add_all(memberships)
        except IntegrityError:
            raise AccountExistsError(
                f"A console account with the email {account.email!r} exists."
            ) from None

    def update_console_account(self, account_id: str, **values: Any) -> ConsoleAccount | None:
        """Change an account's columns; None when it is gone.

        :raises LastOwnerError: the change would make the last owner a member.
        """
        with self.transaction() as session:
            row = session.get(ConsoleAccount, account_id)
            if row is None:
                return None
            if values.get("role", "owner") != "owner" and row.role == "owner":
                self._keep_an_owner(session, account_id)
            for name, value in values.items():
                setattr(row, name, value)
            return row

    def delete_console_account(self, account_id: str) -> bool:
        """Delete an account with its memberships and sessions; False when it is gone.

        :raises LastOwnerError: it is the last owner.
        """
        with self.transaction() as session:
            row = session.get(ConsoleAccount, account_id)
            if row is None:
                return False
            if row.role == "owner":
                self._keep_an_owner(session, account_id)
            # Explicitly, not only by the foreign keys' cascade: a session must never outlive
            # its account, whatever the backend's settings.
            session.execute(delete(ConsoleSession).where(ConsoleSession.account_id == account_id))
            session.execute(
                delete(ConsoleMembership).where(ConsoleMembership.account_id == account_id)
            )
            session.delete(row)
            return True

    @staticmethod
    def _keep_an_owner(session: Any, account_id: str) -> None:
        others = session.scalar(
            select(func.count())
            .select_from(ConsoleAccount)
            .where(ConsoleAccount.role == "owner", ConsoleAccount.id != account_id)
        )
        if not others:
            raise LastOwnerError()

    # --- memberships ----------------------------------------------------------------------------

    def console_memberships(self, account_id: str) -> Sequence[ConsoleMembership]:
        with self.transaction() as session:
            query = select(ConsoleMembership).where(ConsoleMembership.account_id == account_id)
            return session.scalars(query.order_by(ConsoleMembership.created_at)).all()

    def set_console_membership(
        self, account_id: str, workspace_id: str, role: str, now: float
    ) -> ConsoleMembership:
        """Give an account a role in a workspace (replacing the role it had there)."""
        with self.transaction() as session:
            row = session.get(ConsoleMembership, (account_id, workspace_id))
            if row is None:
                row = ConsoleMembership(
                    account_id=account_id, workspace_id=workspace_id, role=role, created_at=now
                )
                session.add(row)
            else:
                row.role = role
            return row

    def remove_console_membership(self, account_id: str, workspace_id: str) -> bool:
        with self.transaction() as session:
            result = session.execute(
                delete(ConsoleMembership).where(
                    ConsoleMembership.account_id == account_id,
                    ConsoleMembership.workspace_id == workspace_id,
                )
            )
            return bool(getattr(result, "rowcount", 0))

    # --- sessions -------------------------------------------------------------------------------

    def console_session(self, session_id: str) -> tuple[ConsoleSession, ConsoleAccount] | None:
        """A session with its account, in one query (revoked and expired ones too)."""
        with self.transaction() as session:
            found = session.execute(
                select(ConsoleSession, ConsoleAccount)
                .join(ConsoleAccount, ConsoleAccount.id == ConsoleSession.account_id)
                .where(ConsoleSession.id == session_id)
            ).first()
            return None if found is None else (found[0], found[1])

    def console_sessions(self, account_id: str) -> Sequence[ConsoleSession]:
        """An account's sessions, newest first."""
        with self.transaction() as session:
            query = select(ConsoleSession).where(ConsoleSession.account_id == account_id)
            return session.scalars(query.order_by(ConsoleSession.created_at.desc())).all()

    def touch_console_session(self, session_id: str, at: float) -> None:
        with self.transaction() as session:
            session.execute(
                update(ConsoleSession)
                .where(ConsoleSession.id == session_id)
                .values(last_seen_at=at)
            )

    def revoke_console_sessions(
        self, at: float, *, session_id: str | None = None, account_id: str | None = None
    ) -> int:
        """End the open sessions with this id or of this account; returns how many."""
        criteria: list[ColumnElement[bool]] = [ConsoleSession.revoked_at.is_(None)]
        if session_id is not None:
            criteria.append(ConsoleSession.id == session_id)
        if account_id is not None:
            criteria.append(ConsoleSession.account_id == account_id)
        if len(criteria) == 1:
            return 0
        with self.transaction() as session:
            result = session.execute(update(ConsoleSession).where(*criteria).values(revoked_at=at))
            return int(getattr(result, "rowcount", 0) or 0)

    def purge_console_sessions(self, before: float) -> int:
        """Delete sessions that ended (expired or revoked) before ``before``."""
        with self.transaction() as session:
            result = session.execute(
                delete(ConsoleSession).where(
                    (ConsoleSession.expires_at < before) | (ConsoleSession.revoked_at < before)
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)
