"""Group commit's write side: the writer's connection, a batch of units as one transaction,
a driver's failures as idmint's errors, and the replay of spill files.

:class:`~idmint.store.commit.GroupCommitter` decides when and what to write (the queue, the
waiters, retries and deadlines); :meth:`StoreWriter._write_units` writes one batch, through
:class:`~idmint.store.bulk.BulkWriter`, and says how it failed: :class:`UnavailableError` when
the store cannot be reached (or is locked) and the batch is worth retrying, another
:class:`IdmintError` when the database refused a row.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from idmint.jose.errors import (
    EmailTakenError,
    IdmintError,
    InvalidArgumentError,
    UnavailableError,
)
from idmint.store.bulk import BulkWriter, Part
from idmint.store.commit import GroupCommitter
from idmint.store.engine import StoreEngine
from idmint.store.models import AuditEvent, Session, User, UserProfile, email_key
from idmint.store.rows import (
    AuditRow,
    OrganizationRow,
    ProfileRow,
    SessionRow,
    UserColumns,
    UserRow,
)
from idmint.store.units import Unit, read_spill

__all__ = ["WRITER_LOCK_WAIT_MS", "StoreWriter"]

# How long group commit's writer waits for a lock held by another connection (a second
# process, a long admin write) before it gives the batch back to the queue and retries.  Far
# below any commit timeout: a request whose writes are in flight can only be answered once the
# transaction has ended, so the transaction must not wait out the request's deadline.
WRITER_LOCK_WAIT_MS = 250

logger = logging.getLogger("idmint.store")


class _ConnectionLost(Exception):
    pass


def _driver_errors() -> tuple[type[BaseException], ...]:
    """The DBAPI modules' error bases of the drivers idmint speaks (sqlite3, psycopg)."""
    import sqlite3

    import psycopg

    return (sqlite3.Error, psycopg.Error)


def _is_outage(exc: BaseException) -> bool:
    import sqlite3

    import psycopg

    return isinstance(
        exc,
        (
            sqlite3.OperationalError,
            sqlite3.InterfaceError,
            psycopg.OperationalError,
            psycopg.InterfaceError,
            OperationalError,
        ),
    )


def _is_lock_wait(exc: BaseException) -> bool:
    """Whether the database gave up waiting for a lock another connection holds (the
    connection itself is fine)."""
    import sqlite3

    import psycopg.errors

    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def _is_integrity(exc: BaseException) -> bool:
    import sqlite3

    import psycopg

    return isinstance(exc, (sqlite3.IntegrityError, psycopg.IntegrityError, IntegrityError))


def _is_database_error(exc: BaseException) -> bool:
    return isinstance(exc, (*_driver_errors(), IntegrityError, DataError))


def _new_user_row(workspace_id: str, user_id: str, values: UserColumns, now: float) -> UserRow:
    """The row an upsert inserts when the user is new: defaults, then the given fields."""
    return {
        "workspace_id": workspace_id,
        "user_id": user_id,
        "is_admin": False,
        "created_at": now,
        "updated_at": now,
        **values,
    }


class StoreWriter(StoreEngine):
    """The store's group commit (:attr:`commits`) and what it writes with."""

    def __init__(self, engine: Engine, *, spill_dir: Path | None = None) -> None:
        super().__init__(engine, spill_dir=spill_dir)
        self._bulk = BulkWriter(engine)
        profile = self._upsert(UserProfile)
        self._profile_upsert = profile.on_conflict_do_update(
            index_elements=[UserProfile.workspace_id, UserProfile.user_id],
            set_={"profile": profile.excluded.profile, "updated_at": profile.excluded.updated_at},
        )
        self._session_insert = insert(Session)
        self._audit_insert = insert(AuditEvent)
        self._upserts: dict[tuple[str, ...], Any] = {}
        # Organizations are never deleted: once one is stored, minting need not insert it again.
        self._orgs: set[tuple[str, str]] = set()
        # The pool's connection group commit holds (see _write_units).
        self._write_connection: Any = None
        self.commits = GroupCommitter(self._write_units, spill_dir=spill_dir)

    def close(self) -> None:
        """Commit what is queued (or spill it, with the store down) and release the
        connections."""
        try:
            self.commits.close()
        finally:
            if self._write_connection is not None:
                with contextlib.suppress(Exception):
                    self._write_connection.close()
                self._write_connection = None
            super().close()

    # --- submitting -----------------------------------------------------------------------------

    def submit(self, unit: Unit) -> Unit:
        """Queue a request's writes for the next group commit (wait on it with
        ``store.commits.wait`` or ``wait_async``)."""
        return self.commits.submit(unit)

    def commit(self, unit: Unit) -> None:
        """Submit ``unit`` and wait until it is committed.

        :raises IdmintError: why it was not (``email_taken``, ``unavailable``, ...).
        """
        self.commits.wait(self.submit(unit))

    def upsert_user(self, workspace_id: str, user_id: str, values: UserColumns, now: float) -> None:
        """Create the user or set ``values`` on it, atomically, and wait for the commit (the
        hot paths put the same upsert into their own unit instead)."""
        email = values.get("email")
        if email is not None and "email_key" not in values:
            values = {**values, "email_key": email_key(email), "email_conflict": None}
        unit = Unit()
        unit.upsert_user(workspace_id, user_id, values, now)
        self.commit(unit)

    def drain(self, timeout: float = 30.0) -> None:
        """Return once every write submitted so far is committed.

        :raises UnavailableError: when that did not happen within ``timeout``.
        """
        self.commits.drain(timeout)

    def replay_spill(self) -> int:
        """Commit what an earlier process spilled when it closed with the store down; returns
        the number of units written.  Each file is deleted once its units are committed."""
        if self.spill_dir is None:
            return 0
        written = 0
        for path, units, touches in read_spill(self.spill_dir):
            try:
                self._write_units(units, touches)
            except UnavailableError:
                path.rename(path.with_suffix(".jsonl"))  # give it back for the next start
                raise
            except IdmintError:
                for unit in units:  # one refused row must not cost the others
                    try:
                        self._write_units([unit], {})
                    except UnavailableError:
                        raise
                    except IdmintError as exc:
                        logger.error("spilled write refused (%s) and dropped: %s", exc.code, exc)
                    else:
                        written += 1
            else:
                written += len(units)
            path.unlink()
            logger.warning("replayed %d spilled writes from %s", len(units), path.name)
        return written

    # --- writing a batch ------------------------------------------------------------------------

    def _write_units(self, units: Sequence[Unit], touches: dict[str, float]) -> None:
        """Write every unit's rows, and last-used times, in ONE transaction (group commit's
        writer calls this).

        :raises UnavailableError: the store cannot be reached.
        :raises IdmintError: a row was refused (see :meth:`_translate`).
        """
        # Upserts of the same user merge into one row, as if applied in order (a statement may
        # not touch a row twice); so do profiles.
        users: dict[tuple[str, str], tuple[set[str], UserRow]] = {}
        profiles: dict[tuple[str, str], ProfileRow] = {}
        organizations: dict[tuple[str, str], float] = {}
        sessions: list[SessionRow] = []
        audit: list[AuditRow] = []
        for unit in units:
            for key, values, now in unit.users:
                organization_id = values.get("organization_id")
                if organization_id is not None and (key[0], organization_id) not in self._orgs:
                    organizations.setdefault((key[0], organization_id), now)
                pending = users.get(key)
                if pending is None:
                    users[key] = (set(values), _new_user_row(*key, values, now))
                else:
                    pending[0].update(values)
                    # UserColumns is part of UserRow; mypy takes only a TypedDict with all its keys
                    pending[1].update(values)  # type: ignore[typeddict-item]
                    pending[1]["updated_at"] = now
            for key, profile, now in unit.profiles:
                profiles[key] = {
                    "workspace_id": key[0],
                    "user_id": key[1],
                    "profile": profile,
                    "updated_at": now,
                }
            sessions.extend(unit.sessions)
            audit.extend(unit.audit)
        groups: dict[tuple[str, ...], list[UserRow]] = {}
        # In key order: two instances writing batches that share users then lock their rows in
        # the same order, so they wait for each other instead of deadlocking.
        for key in sorted(users):
            fields, row = users[key]
            groups.setdefault(tuple(sorted(fields)), []).append(row)
        organization_rows: list[OrganizationRow] = [
            {"workspace_id": ws, "organization_id": org, "created_at": at}
            for (ws, org), at in sorted(organizations.items())
        ]
        parts = [
            Part(self._organization_insert, organization_rows),
            *(Part(self._user_upsert(names), rows) for names, rows in groups.items()),
            Part(self._profile_upsert, [profiles[key] for key in sorted(profiles)]),
            Part(self._session_insert, sessions),
            Part(self._audit_insert, audit),
        ]
        connection = self._writer_connection()
        try:
            self._bulk.write(connection, parts, touches)
            if not self._bulk.postgresql:  # PostgreSQL's one statement committed itself
                connection.commit()
        except BaseException as exc:
            self._abandon(connection, exc)
            raise self._translate(exc) from exc
        self._orgs.update(organizations)

    def _user_upsert(self, fields: tuple[str, ...]) -> Any:
        statement = self._upserts.get(fields)
        if statement is None:
            base = self._upsert(User)
            statement = base.on_conflict_do_update(
                index_elements=[User.workspace_id, User.user_id],
                set_={name: base.excluded[name] for name in (*fields, "updated_at")},
            )
            self._upserts[fields] = statement
        return statement

    def _writer_connection(self) -> Any:
        """The DBAPI connection group commit writes with, held from the pool across batches."""
        if self._write_connection is None:
            try:
                writer = self.engine.raw_connection()
            except Exception as exc:  # the driver's own error: raw_connection wraps none
                if _is_outage(exc) or isinstance(exc, DataError):
                    raise UnavailableError("The store is unavailable.") from exc
                raise
            driver = writer.driver_connection
            if self._bulk.postgresql:
                # Each batch is one statement, its own transaction (see idmint.store.bulk).
                driver.autocommit = True  # type: ignore[union-attr]
                driver.execute(f"SET lock_timeout = {WRITER_LOCK_WAIT_MS}")  # type: ignore[union-attr]
            else:
                driver.execute(f"PRAGMA busy_timeout={WRITER_LOCK_WAIT_MS}")  # type: ignore[union-attr]
            self._write_connection = writer
        return self._write_connection.driver_connection

    def _abandon(self, connection: Any, exc: BaseException) -> None:
        """Roll back a failed batch; a connection that failed as a connection is dropped (the
        next batch connects anew)."""
        try:
            connection.rollback()
        except Exception:  # the connection is gone: nothing to roll back
            exc = _ConnectionLost()
        lost = isinstance(exc, _ConnectionLost) or (_is_outage(exc) and not _is_lock_wait(exc))
        if self._write_connection is not None and lost:
            writer, self._write_connection = self._write_connection, None
            with contextlib.suppress(Exception):
                writer.invalidate()

    @staticmethod
    def _translate(exc: BaseException) -> BaseException:
        """A driver's failure as idmint's: the store unreachable, or a row refused."""
        if isinstance(exc, IdmintError):
            return exc
        if _is_lock_wait(exc):
            return UnavailableError(
                "The store is busy: another connection has held its write lock for "
                f"{WRITER_LOCK_WAIT_MS} ms."
            )
        if _is_outage(exc):
            return UnavailableError("The store is unavailable.")
        if "email_key" in str(exc) and _is_integrity(exc):
            return EmailTakenError("Another user of this workspace has this email.")
        if isinstance(exc, (ValueError, TypeError)) or _is_database_error(exc):
            # ValueError: a string the driver cannot encode; TypeError: a value JSON cannot
            # hold.  Neither should get past validation; neither may cost other rows.
            return InvalidArgumentError("A value in the request cannot be stored.")
        return exc
