"""Users: their trusted attributes, identify profiles and emails, read and written by the
admin API and the CLI, each in one short transaction of its own (the mints' and identify's
writes go through group commit: :mod:`idmint.store.writer`).

Emails are unique per workspace, compared as :func:`~idmint.store.email_key` says; users who
shared one before that (migration 0002) are marked ``email_conflict`` until an admin resolves
it, and :meth:`UserQueries.contested` keeps in memory which emails are.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine, bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError

from idmint.jose.errors import EmailTakenError, InvalidArgumentError, UserExistsError
from idmint.store.engine import StoreEngine, store_errors
from idmint.store.models import User, UserProfile, email_key
from idmint.store.rows import Profile, UserColumns

__all__ = ["UserQueries"]

# Built once: building the statement cost more than running it (mint by email).
_USER_BY_EMAIL = select(*User.__table__.columns).where(
    User.workspace_id == bindparam("workspace_id"),
    User.email_key == bindparam("email_key"),
)


def _email_taken(exc: IntegrityError) -> bool:
    """Whether the unique index on ``(workspace_id, email_key)`` refused the write (SQLite names
    the columns, PostgreSQL the index)."""
    return "email_key" in str(exc.orig)


class UserQueries(StoreEngine):
    """Users and their identify profiles."""

    def __init__(self, engine: Engine, *, spill_dir: Path | None = None) -> None:
        super().__init__(engine, spill_dir=spill_dir)
        # (workspace id, email key) shared by users from before emails were unique: loaded once;
        # the set only shrinks (nobody can share an email now), so a stale entry costs a read.
        self._contested: set[tuple[str, str]] | None = None

    def user(self, workspace_id: str, user_id: str) -> User | None:
        with self.transaction() as session:
            return session.get(User, (workspace_id, user_id))

    def user_profile(self, workspace_id: str, user_id: str) -> UserProfile | None:
        """What the user's client last sent to identify (untrusted), if it ever did."""
        with self.transaction() as session:
            return session.get(UserProfile, (workspace_id, user_id))

    def user_profiles(self, workspace_id: str, user_ids: Sequence[str]) -> dict[str, UserProfile]:
        """The identify profiles of these users, by userId."""
        if not user_ids:
            return {}
        with self.transaction() as session:
            rows = session.scalars(
                select(UserProfile).where(
                    UserProfile.workspace_id == workspace_id,
                    UserProfile.user_id.in_(list(user_ids)),
                )
            ).all()
            return {row.user_id: row for row in rows}

    def user_by_email(self, workspace_id: str, email: str) -> User | None:
        """The user who holds this email (compared as :func:`email_key` says)."""
        values = {"workspace_id": workspace_id, "email_key": email_key(email)}
        # One statement, so no transaction: a plain autocommit read (no BEGIN and ROLLBACK
        # round trips), and a detached User built from the row without the ORM's session.
        with store_errors(), self.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            row = connection.execute(_USER_BY_EMAIL, values).mappings().first()
        return None if row is None else User(**row)

    def contested(self, workspace_id: str, key: str) -> bool:
        """Whether users may share the email key ``key`` from before emails were unique
        (a hint from memory; :meth:`email_sharers` reads the truth)."""
        if self._contested is None:
            with self.transaction() as session:
                rows = session.execute(
                    select(User.workspace_id, User.email_conflict)
                    .where(User.email_conflict.is_not(None))
                    .distinct()
                ).all()
            self._contested = {(ws, conflict) for ws, conflict in rows if conflict is not None}
        return bool(self._contested) and (workspace_id, key) in self._contested

    def email_sharers(self, workspace_id: str, key: str) -> list[User]:
        """The users still marked as sharing the email key ``key`` (migration 0002)."""
        with self.transaction() as session:
            query = select(User).where(
                User.workspace_id == workspace_id, User.email_conflict == key
            )
            sharers = list(session.scalars(query.order_by(User.created_at)).all())
        if not sharers and self._contested is not None:
            self._contested.discard((workspace_id, key))
        return sharers

    def shared_emails(self, workspace_id: str) -> list[User]:
        """Every user marked as sharing an email with another, by email key."""
        with self.transaction() as session:
            query = select(User).where(
                User.workspace_id == workspace_id, User.email_conflict.is_not(None)
            )
            return list(session.scalars(query.order_by(User.email_conflict, User.created_at)).all())

    def settle_email(self, workspace_id: str, key: str) -> User | None:
        """When only one user is still marked as sharing ``key`` and nobody holds it, that user
        becomes its holder (the others were given other emails or deleted); returns them."""
        with self.transaction() as session:
            sharers = session.scalars(
                select(User).where(User.workspace_id == workspace_id, User.email_conflict == key)
            ).all()
            if len(sharers) != 1:
                return None
            holder = session.scalar(
                select(User).where(User.workspace_id == workspace_id, User.email_key == key)
            )
            if holder is not None:
                return None
            sharers[0].email_key, sharers[0].email_conflict = key, None
            settled = sharers[0]
        if self._contested is not None:
            self._contested.discard((workspace_id, key))
        return settled

    def users(
        self, workspace_id: str, *, limit: int = 100, after: str | None = None
    ) -> Sequence[User]:
        """Users ordered by userId, ``limit`` at a time, starting after ``after``."""
        with self.transaction() as session:
            query = select(User).where(User.workspace_id == workspace_id)
            if after is not None:
                query = query.where(User.user_id > after)
            return session.scalars(query.order_by(User.user_id).limit(limit)).all()

    def create_user(self, user: User, profile: Profile | None = None) -> User:
        """Insert a new user (and its profile, when given).

        :raises UserExistsError: when the userId is taken in the workspace.
        :raises EmailTakenError: when another user holds the email.
        """
        if user.email is not None and user.email_conflict is None:
            user.email_key = email_key(user.email)
        try:
            with self.transaction() as session:
                if user.organization_id is not None:
                    session.execute(
                        self._organization_insert.values(
                            workspace_id=user.workspace_id,
                            organization_id=user.organization_id,
                            created_at=user.created_at,
                        )
                    )
                session.add(user)
                if profile:
                    session.add(
                        UserProfile(
                            workspace_id=user.workspace_id,
                            user_id=user.user_id,
                            profile=profile,
                            updated_at=user.created_at,
                        )
                    )
        except IntegrityError as exc:
            if _email_taken(exc):
                raise EmailTakenError("Another user of this workspace has this email.") from exc
            raise UserExistsError(f"User {user.user_id!r} already exists.") from exc
        return user

    def update_user(
        self, workspace_id: str, user_id: str, values: UserColumns, now: float
    ) -> User | None:
        """Set trusted attributes of an existing user; None when there is no such user.

        :raises EmailTakenError: when another user holds the email.
        """
        try:
            with self.transaction() as session:
                organization_id = values.get("organization_id")
                if organization_id is not None:
                    session.execute(
                        self._organization_insert.values(
                            workspace_id=workspace_id,
                            organization_id=organization_id,
                            created_at=now,
                        )
                    )
                result = session.execute(
                    update(User)
                    .where(User.workspace_id == workspace_id, User.user_id == user_id)
                    .values(**values, updated_at=now)
                )
                if not getattr(result, "rowcount", 0):
                    return None
                return session.get(User, (workspace_id, user_id))
        except IntegrityError as exc:
            if _email_taken(exc):
                raise EmailTakenError("Another user of this workspace has this email.") from exc
            raise InvalidArgumentError("A value in the request cannot be stored.") from exc

    def delete_user(self, workspace_id: str, user_id: str) -> bool:
        """Delete a user and their identify profile."""
        with self.transaction() as session:
            session.execute(
                delete(UserProfile).where(
                    UserProfile.workspace_id == workspace_id, UserProfile.user_id == user_id
                )
            )
            result = session.execute(
                delete(User).where(User.workspace_id == workspace_id, User.user_id == user_id)
            )
            return bool(getattr(result, "rowcount", 0))
