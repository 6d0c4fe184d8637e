"""The store: one interface over SQLAlchemy 2, SQLite by default, PostgreSQL by URL.

The service layer talks only to :class:`Store`; no SQL appears above this package.  Reads and
admin writes are one short transaction each.  The hot paths' writes (mint's user change,
identify's profile and session, their audit events) go through group commit
(:mod:`idmint.store.commit`): many requests' writes in one transaction, each request answered
once its own are committed.  Schema changes are Alembic migrations, applied by
:meth:`Store.migrate` (``idmint init`` and ``idmint serve`` run it).
"""

from __future__ import annotations

import contextlib
import logging
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    make_url,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker

from idmint._files import PRIVATE_DIR, PRIVATE_FILE, create_private_file, tighten
from idmint.jose.errors import (
    EmailTakenError,
    IdmintError,
    InvalidArgumentError,
    StoreNotFoundError,
    StoreOutdatedError,
    UnavailableError,
    UserExistsError,
)
from idmint.store.bulk import BulkWriter, Part
from idmint.store.commit import GroupCommitter
from idmint.store.models import (
    AuditEvent,
    AuthToken,
    Base,
    Organization,
    Revocation,
    Session,
    SigningKeyRow,
    User,
    UserProfile,
    Workspace,
)
from idmint.store.units import Unit, read_spill

__all__ = [
    "AuditEvent",
    "AuthToken",
    "Base",
    "Organization",
    "Revocation",
    "Session",
    "SigningKeyRow",
    "Store",
    "Unit",
    "User",
    "UserProfile",
    "Workspace",
    "email_key",
]

_MIGRATIONS = Path(__file__).with_name("migrations")

# How long group commit's writer waits for a lock held by another connection (a second
# process, a long admin write) before it gives the batch back to the queue and retries.  Far
# below any commit timeout: a request whose writes are in flight can only be answered once the
# transaction has ended, so the transaction must not wait out the request's deadline.
WRITER_LOCK_WAIT_MS = 250

logger = logging.getLogger("idmint.store")

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


# Built once: building the statement cost more than running it (mint by email).
_USER_BY_EMAIL = select(*User.__table__.columns).where(
    User.workspace_id == bindparam("workspace_id"),
    User.email_key == bindparam("email_key"),
)


@contextmanager
def _store_errors() -> Iterator[None]:
    """Store failures as idmint's errors: an unreachable database is :class:`UnavailableError`,
    a value it cannot hold (a NUL character, say) the caller's input."""
    try:
        yield
    except OperationalError as exc:
        raise UnavailableError("The store is unavailable.") from exc
    except DataError as exc:
        raise InvalidArgumentError("A value in the request cannot be stored.") from exc


def _email_taken(exc: IntegrityError) -> bool:
    """Whether the unique index on ``(workspace_id, email_key)`` refused the write (SQLite names
    the columns, PostgreSQL the index)."""
    return "email_key" in str(exc.orig)


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


def _sqlite_pragmas(synchronous: str) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers proceed during a write; busy_timeout waits instead of failing at
        # once.  FULL: a commit is on disk (the WAL synced) before anyone is told it is stored,
        # which group commit pays once per batch, not once per request; NORMAL survives a
        # crash of the process but not of the machine.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        # No checkpoint inside a commit: the one that crossed 1,000 WAL pages would copy them
        # into the database then and there (20 ms and more), while its requests wait.  The
        # server checkpoints from its upkeep instead (Store.checkpoint), off the write path.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    return on_connect


def _new_user_row(
    workspace_id: str, user_id: str, values: dict[str, Any], now: float
) -> dict[str, Any]:
    """The row an upsert inserts when the user is new: defaults, then the given fields."""
    return {
        "workspace_id": workspace_id,
        "user_id": user_id,
        "is_admin": False,
        "created_at": now,
        "updated_at": now,
        **values,
    }


def _private_sqlite_files(path: Path, *, create: bool) -> None:
    """The SQLite database at ``path`` and its WAL files, private (see :meth:`Store.open`)."""
    if create:
        path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        create_private_file(path)
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        tighten(path.with_name(name), PRIVATE_FILE)


class Store:
    """idmint's persistent state.

    :param engine: a SQLAlchemy engine (SQLite or PostgreSQL).
    :param spill_dir: where group commit writes what it could not commit at close.
    """

    def __init__(self, engine: Engine, *, spill_dir: Path | None = None) -> None:
        self.engine = engine
        self.spill_dir = spill_dir
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._bulk = BulkWriter(engine)
        # The dialect's INSERT, which has ON CONFLICT.
        self._upsert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._organization_insert = self._upsert(Organization).on_conflict_do_nothing()
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
        # (workspace id, email key) shared by users from before emails were unique: loaded once;
        # the set only shrinks (nobody can share an email now), so a stale entry costs a read.
        self._contested: set[tuple[str, str]] | None = None
        self._writer: Any = None  # the pool's connection group commit holds (see _write_units)
        self.commits = GroupCommitter(self._write_units, spill_dir=spill_dir)

    @classmethod
    def open(
        cls,
        url: str,
        *,
        schema: str | None = None,
        spill_dir: Path | None = None,
        sqlite_synchronous: Literal["normal", "full"] = "normal",
        create: bool = True,
    ) -> Store:
        """Connect to the store at ``url``.

        A SQLite file is private: made 0600 (in a directory made 0700) before SQLite opens
        it, so its ``-wal`` and ``-shm`` files are 0600 too, and tightened to 0600 when found
        looser.

        :param schema: PostgreSQL only: the schema to use (created if missing), so that
            separate deployments or test runs can share one database without colliding.
        :param spill_dir: see :class:`Store`.
        :param sqlite_synchronous: SQLite only: ``normal`` survives a crash of the process but
            not of the machine; ``full`` syncs every commit to disk.
        :param create: make what is missing (the SQLite file and its directory, the schema).
            False: the store must exist, migrated at least once, and nothing is created.
        :raises StoreNotFoundError: when ``create`` is false and there is no idmint store at
            ``url``.
        """
        # A pool as large as the server's thread pool (40), so connections are kept rather
        # than opened and closed under load.
        kwargs: dict[str, Any] = {"pool_size": 10, "max_overflow": 30}
        location = make_url(url).render_as_string(hide_password=True)
        if url.startswith("sqlite"):
            path = make_url(url).database
            if path and path != ":memory:":
                location = str(Path(path).resolve())
                if not create and not Path(path).is_file():
                    raise StoreNotFoundError(location=location)  # before SQLite makes one
                _private_sqlite_files(Path(path), create=create)
            # A local file cannot drop a connection: no ping before every checkout.
        else:
            kwargs["pool_pre_ping"] = True
            if schema is not None:
                kwargs["connect_args"] = {"options": f"-csearch_path={schema}"}
                location += f" (schema {schema})"
        engine = create_engine(url, **kwargs)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas(sqlite_synchronous.upper()))
        elif schema is not None and create:
            with engine.begin() as connection:
                connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        store = cls(engine, spill_dir=spill_dir)
        try:
            if not create and not store.migrated():
                raise StoreNotFoundError(location=location)
        except BaseException:
            engine.dispose()
            raise
        return store

    def migrated(self) -> bool:
        """Whether the database holds idmint's schema (Alembic's version table is there)."""
        with self.engine.connect() as connection:
            return inspect(connection).has_table("alembic_version")

    def revision(self) -> str | None:
        """The schema revision the database is at (None: no idmint schema)."""
        with self.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            found = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        return None if found is None else str(found)

    @staticmethod
    def head_revision() -> str:
        """The newest schema revision this idmint knows."""
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        head = ScriptDirectory.from_config(config).get_current_head()
        assert head is not None  # noqa: S101 - the migrations directory is part of idmint
        return head

    def check_current(self) -> None:
        """:raises StoreOutdatedError: the schema is behind this idmint's."""
        current, head = self.revision(), self.head_revision()
        if current != head:
            raise StoreOutdatedError(revision=current, head=head)

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to the newest migration (or to ``revision``).

        An empty database gets the newest schema at once (the models' tables, stamped with
        the newest revision), as Alembic recommends: replaying every migration of history
        on it would only be slower.  tests/store/test_migrations.py checks that both ways
        give the same schema.
        """
        # Imported here: Alembic costs ~0.4 s to import and only migrations need it.
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            if revision == "head" and not inspect(connection).get_table_names():
                Base.metadata.create_all(connection)
                command.stamp(config, "head")
            else:
                command.upgrade(config, revision)

    def checkpoint(self) -> None:
        """SQLite: copy what the write-ahead log holds into the database, without waiting for
        readers or writers (a passive checkpoint; the server's upkeep runs it every second).
        SQLite checkpoints too when the last connection closes.  PostgreSQL: nothing."""
        if self.engine.dialect.name == "sqlite":
            with self._connection() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        """Commit what is queued (or spill it, with the store down) and release the
        connections."""
        try:
            self.commits.close()
        finally:
            if self._writer is not None:
                with contextlib.suppress(Exception):
                    self._writer.close()
                self._writer = None
            self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[OrmSession]:
        """One transaction, through an ORM session: committed when the block ends, rolled back
        when it raises; store failures surface as idmint's errors (:func:`_store_errors`)."""
        with _store_errors(), self._sessions.begin() as session:
            yield session

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """One transaction on a plain connection, with the same error translation as
        :meth:`transaction`."""
        with _store_errors(), self.engine.begin() as connection:
            yield connection

    def add(self, *rows: Base) -> None:
        """Insert rows in one transaction."""
        with self.transaction() as session:
            session.add_all(rows)

    # --- group commit ---------------------------------------------------------------------------

    def submit(self, unit: Unit) -> Unit:
        """Queue a request's writes for the next group commit (wait on it with
        ``store.commits.wait`` or ``wait_async``)."""
        return self.commits.submit(unit)

    def commit(self, unit: Unit) -> None:
        """Submit ``unit`` and wait until it is committed.

        :raises IdmintError: why it was not (``email_taken``, ``unavailable``, ...).
        """
        self.commits.wait(self.submit(unit))

    def upsert_user(
        self, workspace_id: str, user_id: str, values: dict[str, Any], now: float
    ) -> None:
        """Create the user or set ``values`` on it, atomically, and wait for the commit (the
        hot paths put the same upsert into their own unit instead)."""
        if values.get("email") is not None and "email_key" not in values:
            values = {**values, "email_key": email_key(values["email"]), "email_conflict": None}
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

    def _write_units(self, units: Sequence[Unit], touches: dict[str, float]) -> None:
        """Write every unit's rows, and last-used times, in ONE transaction (group commit's
        writer calls this).

        :raises UnavailableError: the store cannot be reached.
        :raises IdmintError: a row was refused (see :func:`_refusal`).
        """
        # Upserts of the same user merge into one row, as if applied in order (a statement may
        # not touch a row twice); so do profiles.
        users: dict[tuple[str, str], tuple[set[str], dict[str, Any]]] = {}
        profiles: dict[tuple[str, str], dict[str, Any]] = {}
        organizations: dict[tuple[str, str], float] = {}
        sessions: list[dict[str, Any]] = []
        audit: list[dict[str, Any]] = []
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
                    pending[1].update(values)
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
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        # In key order: two instances writing batches that share users then lock their rows in
        # the same order, so they wait for each other instead of deadlocking.
        for key in sorted(users):
            fields, row = users[key]
            groups.setdefault(tuple(sorted(fields)), []).append(row)
        parts = [
            Part(
                self._organization_insert,
                [
                    {"workspace_id": ws, "organization_id": org, "created_at": at}
                    for (ws, org), at in sorted(organizations.items())
                ],
            ),
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

    def _writer_connection(self) -> Any:
        """The DBAPI connection group commit writes with, held from the pool across batches."""
        if self._writer is None:
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
            self._writer = writer
        return self._writer.driver_connection

    def _abandon(self, connection: Any, exc: BaseException) -> None:
        """Roll back a failed batch; a connection that failed as a connection is dropped (the
        next batch connects anew)."""
        try:
            connection.rollback()
        except Exception:  # the connection is gone: nothing to roll back
            exc = _ConnectionLost()
        lost = isinstance(exc, _ConnectionLost) or (_is_outage(exc) and not _is_lock_wait(exc))
        if self._writer is not None and lost:
            writer, self._writer = self._writer, None
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

    # --- users ------------------------------------------------------------------------------

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
        with _store_errors(), self.engine.connect() as connection:
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

    def create_user(self, user: User, profile: dict[str, Any] | None = None) -> User:
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
        self, workspace_id: str, user_id: str, values: dict[str, Any], now: float
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
