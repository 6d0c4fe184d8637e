"""The store: one interface over SQLAlchemy 2, SQLite by default, PostgreSQL by URL.

The service layer talks only to :class:`Store`; no SQL appears above this package.  Every
method is one short transaction.  Schema changes are Alembic migrations, applied by
:meth:`Store.migrate` (``idmint init`` and ``idmint serve`` run it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
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
from idmint.errors import (
    InvalidArgumentError,
    StoreNotFoundError,
    UnavailableError,
    UserExistsError,
)
from idmint.store.models import (
    AuditEvent,
    AuthToken,
    Base,
    Organization,
    Revocation,
    Session,
    SigningKeyRow,
    User,
    Workspace,
)

__all__ = [
    "AuditEvent",
    "AuthToken",
    "Base",
    "Organization",
    "Revocation",
    "Session",
    "SigningKeyRow",
    "Store",
    "User",
    "Workspace",
    "email_key",
]

_MIGRATIONS = Path(__file__).with_name("migrations")
# Write-behind: a buffer this large is written by the call that fills it (back-pressure when
# the background writer cannot keep up).
MAX_PENDING_ROWS = 5000

logger = logging.getLogger("idmint.store")


def email_key(email: str) -> str:
    """How emails are compared: Unicode case folding, the same on every backend."""
    return email.casefold()


# Built once: building the statement cost more than running it (the second mint shape).
_USER_BY_EMAIL = (
    select(*User.__table__.columns)
    .where(
        User.workspace_id == bindparam("workspace_id"),
        User.email_key == bindparam("email_key"),
    )
    .order_by(User.created_at)
    .limit(1)
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


def _copy(connection: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """``COPY ... FROM STDIN`` of ``rows`` on the connection's psycopg connection, with the
    store's error translation."""
    import psycopg

    try:
        raw = connection.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
    except (psycopg.DataError, psycopg.IntegrityError) as exc:
        raise InvalidArgumentError("A value in the request cannot be stored.") from exc
    except psycopg.OperationalError as exc:
        raise UnavailableError("The store is unavailable.") from exc


def _new_user_row(
    workspace_id: str, user_id: str, values: dict[str, Any], now: float
) -> dict[str, Any]:
    """The row an upsert inserts when the user is new: defaults, then the given fields."""
    return {
        "workspace_id": workspace_id,
        "user_id": user_id,
        "profile": {},
        "is_admin": False,
        "created_at": now,
        "updated_at": now,
        **values,
    }


def _merge_upsert(
    pending: tuple[set[str], dict[str, Any]], values: dict[str, Any], now: float
) -> None:
    """Apply a later upsert of the same user to a buffered one, as if run after it."""
    fields, row = pending
    fields.update(values)
    row.update(values)
    row["updated_at"] = now


def _private_sqlite_files(path: Path, *, create: bool) -> None:
    """The SQLite database at ``path`` and its WAL files, private (see :meth:`Store.open`)."""
    if create:
        path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        create_private_file(path)
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        tighten(path.with_name(name), PRIVATE_FILE)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed during a write; busy_timeout waits instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Store:
    """idmint's persistent state.

    :param engine: a SQLAlchemy engine (SQLite or PostgreSQL).
    :param write_behind: buffer user upserts and new sessions in memory until
        :meth:`flush_pending` (which the server calls every ``IDMINT_WRITE_BEHIND_SECONDS``);
        every read of users or sessions flushes first, so this instance always reads its own
        writes.  Off: each is written by its call.
    """

    def __init__(self, engine: Engine, *, write_behind: bool = False) -> None:
        self.engine = engine
        self.write_behind = write_behind
        # (workspace_id, user_id) -> (the fields given, the row to upsert): later upserts of the
        # same user merge into one row, as if applied in order.
        self._pending_users: dict[tuple[str, str], tuple[set[str], dict[str, Any]]] = {}
        self._pending_sessions: list[dict[str, Any]] = []
        # Every organization the buffered upserts named, even one a later upsert replaced.
        self._pending_orgs: dict[tuple[str, str], float] = {}
        self._pending_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._upserts: dict[tuple[str, ...], Any] = {}
        # Organizations are never deleted: once one is stored, minting need not insert it again.
        self._orgs: set[tuple[str, str]] = set()
        # The dialect's INSERT, which has ON CONFLICT.
        self._upsert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._organization_insert = self._upsert(Organization).on_conflict_do_nothing()
        self._inserts: dict[type[Base], Any] = {}
        self._session_insert = insert(Session)
        # (statement id, row keys) -> (SQL, the row getter in parameter order, JSON column
        # positions, bulk mode, the statement, kept so that its id is not reused).  SQLite's
        # parameters are positional; PostgreSQL always goes by COPY or unnest.
        self._compiled: dict[tuple[int, tuple[str, ...]], Any] = {}

    @classmethod
    def open(
        cls,
        url: str,
        *,
        schema: str | None = None,
        write_behind: bool = False,
        create: bool = True,
    ) -> Store:
        """Connect to the store at ``url``.

        A SQLite file is private: made 0600 (in a directory made 0700) before SQLite opens
        it, so its ``-wal`` and ``-shm`` files are 0600 too, and tightened to 0600 when found
        looser.

        :param schema: PostgreSQL only: the schema to use (created if missing), so that
            separate deployments or test runs can share one database without colliding.
        :param write_behind: see :class:`Store`.
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
            event.listen(engine, "connect", _sqlite_pragmas)
        elif schema is not None and create:
            with engine.begin() as connection:
                connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        store = cls(engine, write_behind=write_behind)
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

    def migrate(self) -> None:
        """Bring the schema to the newest migration."""
        # Imported here: Alembic costs ~0.4 s to import and only migrations need it.
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def close(self) -> None:
        """Write what is pending and release the connections."""
        try:
            self.flush_pending()
        except UnavailableError:
            logger.error("store unavailable at close: %d buffered rows not written", self.pending)
        finally:
            self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[OrmSession]:
        """One transaction; store failures surface as idmint's errors (:func:`_store_errors`)."""
        with _store_errors(), self._sessions.begin() as session:
            yield session

    def insert_rows(self, model: type[Base], rows: list[dict[str, Any]]) -> None:
        """Insert plain rows (all with the same keys) into ``model``'s table, in one
        transaction: one ``executemany``, or on PostgreSQL one ``COPY``."""
        if rows:
            statement = self._inserts.get(model)
            if statement is None:
                statement = self._inserts[model] = insert(model)
            with self._connection() as connection:
                self._execute_many(connection, statement, rows)

    def _execute_many(
        self, connection: Connection, statement: Any, rows: list[dict[str, Any]]
    ) -> None:
        # Batches of thousands of rows go straight to the driver: the statement is compiled
        # once per key set and JSON values serialised here, so no per-row work is left to
        # SQLAlchemy's parameter processing (several times the cost of the driver's own).
        # On PostgreSQL a plain insert is a COPY: psycopg's executemany spends ~15 µs of
        # Python per row, COPY ~3 µs.
        keys = tuple(rows[0])
        cache_key = (id(statement), keys)
        compiled = self._compiled.get(cache_key)
        if compiled is None:
            compiled = self._compiled[cache_key] = self._compile_many(statement, keys)
        sql, getter, json_at, bulk, _statement = compiled
        values: list[tuple[Any, ...]]
        if len(keys) == 1:
            values = [(getter(row),) for row in rows]
        elif json_at:
            values = []
            for row in rows:
                items = list(getter(row))
                for i in json_at:
                    items[i] = orjson.dumps(items[i]).decode()
                values.append(tuple(items))
        else:
            values = [getter(row) for row in rows]
        if bulk is None:
            connection.exec_driver_sql(sql, values)
        elif bulk == "copy":
            _copy(connection, sql, values)
        else:
            columns = tuple(list(column) for column in zip(*values, strict=True))
            connection.exec_driver_sql(sql, columns)

    def _compile_many(self, statement: Any, keys: tuple[str, ...]) -> tuple[Any, ...]:
        table = statement.table
        dialect = self.engine.dialect
        done = statement.compile(dialect=dialect, column_keys=list(keys))
        order = tuple(done.positiontup or ()) if done.positional else keys
        json_at = tuple(i for i, key in enumerate(order) if isinstance(table.c[key].type, JSON))
        sql, bulk = str(done), None
        if dialect.name == "postgresql":
            quote = dialect.identifier_preparer.quote
            columns = ", ".join(quote(key) for key in order)
            if any(statement is plain for plain in self._plain_inserts()):
                bulk = "copy"
                sql = f"COPY {quote(table.name)} ({columns}) FROM STDIN"
            else:
                # An upsert: all rows in one statement, one array per column (unnest), the
                # ON CONFLICT clause as compiled (rows are unique per key: merged when queued).
                arrays = ", ".join(
                    f"%b::{table.c[key].type.compile(dialect=dialect)}[]" for key in order
                )
                conflict = sql[sql.index(" ON CONFLICT") :]
                bulk = "unnest"
                # Names from the table's own metadata, quoted; values are parameters (%b:
                # binary, which psycopg dumps several times faster for arrays).
                sql = (
                    f"INSERT INTO {quote(table.name)} ({columns}) "  # noqa: S608
                    f"SELECT * FROM unnest({arrays}){conflict}"
                )
        return (sql, itemgetter(*order), json_at, bulk, statement)

    def _plain_inserts(self) -> list[Any]:
        return [*self._inserts.values(), self._session_insert]

    def add(self, *rows: Base) -> None:
        """Insert rows in one transaction."""
        with self.session() as session:
            session.add_all(rows)

    # --- workspaces ---------------------------------------------------------------------------

    def workspace_by_api_key(self, api_key: str) -> Workspace | None:
        with self.session() as session:
            return session.scalar(select(Workspace).where(Workspace.api_key == api_key))

    def workspaces(self) -> Sequence[Workspace]:
        with self.session() as session:
            return session.scalars(select(Workspace).order_by(Workspace.created_at)).all()

    def update_workspace(self, workspace_id: str, **values: Any) -> Workspace:
        with self.session() as session:
            session.execute(update(Workspace).where(Workspace.id == workspace_id).values(**values))
            row = session.get(Workspace, workspace_id)
            assert row is not None  # noqa: S101 - callers pass ids they just read
            return row

    # --- auth tokens ----------------------------------------------------------------------------

    def auth_token_by_hash(self, secret_hash: str) -> AuthToken | None:
        with self.session() as session:
            return session.scalar(select(AuthToken).where(AuthToken.secret_hash == secret_hash))

    def auth_tokens(self, workspace_id: str) -> Sequence[AuthToken]:
        with self.session() as session:
            query = select(AuthToken).where(AuthToken.workspace_id == workspace_id)
            return session.scalars(query.order_by(AuthToken.created_at)).all()

    def revoke_auth_token(self, workspace_id: str, token_id: str, at: float) -> AuthToken | None:
        """Mark a token revoked (idempotent: the first revocation time stays)."""
        with self.session() as session:
            row = session.get(AuthToken, token_id)
            if row is None or row.workspace_id != workspace_id:
                return None
            if row.revoked_at is None:
                row.revoked_at = at
            return row

    def touch_auth_tokens(self, last_used: dict[str, float]) -> None:
        """Record last-used times, in one transaction for many tokens."""
        if not last_used:
            return
        with self.session() as session:
            for token_id, at in last_used.items():
                session.execute(
                    update(AuthToken).where(AuthToken.id == token_id).values(last_used_at=at)
                )

    # --- users ------------------------------------------------------------------------------

    def user(self, workspace_id: str, user_id: str) -> User | None:
        self.flush_pending()
        with self.session() as session:
            return session.get(User, (workspace_id, user_id))

    def user_by_email(self, workspace_id: str, email: str) -> User | None:
        """The user with this email (compared case-insensitively)."""
        self.flush_pending()
        values = {"workspace_id": workspace_id, "email_key": email_key(email)}
        # One statement, so no transaction: a plain autocommit read (no BEGIN and ROLLBACK
        # round trips), and a detached User built from the row without the ORM's session.
        with _store_errors(), self.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            row = connection.execute(_USER_BY_EMAIL, values).mappings().first()
        return None if row is None else User(**row)

    def users(
        self, workspace_id: str, *, limit: int = 100, after: str | None = None
    ) -> Sequence[User]:
        """Users ordered by userId, ``limit`` at a time, starting after ``after``."""
        self.flush_pending()
        with self.session() as session:
            query = select(User).where(User.workspace_id == workspace_id)
            if after is not None:
                query = query.where(User.user_id > after)
            return session.scalars(query.order_by(User.user_id).limit(limit)).all()

    def create_user(self, user: User) -> User:
        """Insert a new user.

        :raises UserExistsError: when the userId is taken in the workspace.
        """
        if user.email is not None:
            user.email_key = email_key(user.email)
        self.flush_pending()
        try:
            with self.session() as session:
                self._ensure_organization(
                    session, user.workspace_id, user.organization_id, user.created_at
                )
                session.add(user)
        except IntegrityError as exc:
            raise UserExistsError(f"User {user.user_id!r} already exists.") from exc
        return user

    def upsert_user(
        self, workspace_id: str, user_id: str, values: dict[str, Any], now: float
    ) -> None:
        """Create the user or update the given fields, atomically (no read-then-write race).

        On the mint path: the statement is built once per set of fields and runs on a plain
        connection, not an ORM session; a known organization is not inserted again.  With
        write-behind the upsert waits for :meth:`flush_pending`.
        """
        if values.get("email") is not None:
            values = {**values, "email_key": email_key(values["email"])}
        if self.write_behind:
            self._queue_user(workspace_id, user_id, values, now)
            return
        row = _new_user_row(workspace_id, user_id, values, now)
        statement = self._upsert_statement(tuple(sorted(values)))
        organization_id = values.get("organization_id")
        with self._connection() as connection:
            if organization_id is not None and (workspace_id, organization_id) not in self._orgs:
                connection.execute(
                    self._organization_insert,
                    {
                        "workspace_id": workspace_id,
                        "organization_id": organization_id,
                        "created_at": now,
                    },
                )
            self._execute_many(connection, statement, [row])
        if organization_id is not None:
            self._orgs.add((workspace_id, organization_id))

    def add_session(self, row: dict[str, Any]) -> None:
        """Insert a session (a plain row of :class:`Session`); with write-behind, at the next
        :meth:`flush_pending`."""
        if not self.write_behind:
            self.insert_rows(Session, [row])
            return
        with self._pending_lock:
            self._pending_sessions.append(row)
            full = len(self._pending_sessions) >= MAX_PENDING_ROWS
        if full:
            self.flush_pending()

    def _queue_user(
        self, workspace_id: str, user_id: str, values: dict[str, Any], now: float
    ) -> None:
        key = (workspace_id, user_id)
        organization_id = values.get("organization_id")
        with self._pending_lock:
            if organization_id is not None and (workspace_id, organization_id) not in self._orgs:
                self._pending_orgs.setdefault((workspace_id, organization_id), now)
            pending = self._pending_users.get(key)
            if pending is None:
                self._pending_users[key] = (set(values), _new_user_row(*key, values, now))
            else:
                _merge_upsert(pending, values, now)
            full = len(self._pending_users) >= MAX_PENDING_ROWS
        if full:
            self.flush_pending()

    @property
    def pending(self) -> int:
        """Rows waiting for :meth:`flush_pending`."""
        return len(self._pending_users) + len(self._pending_sessions)

    def flush_pending(self) -> int:
        """Write the buffered user upserts and sessions, in one transaction; returns how many
        rows were written.

        When the store is unavailable the rows stay buffered (and :class:`UnavailableError` is
        raised); a row the database refuses is dropped, with a log line, without losing the
        rest.
        """
        if not (self._pending_users or self._pending_sessions) and not self._flush_lock.locked():
            return 0  # nothing buffered and no batch in flight: nothing to wait for
        with self._flush_lock:  # one writer at a time, so batches land in order
            with self._pending_lock:
                users, self._pending_users = self._pending_users, {}
                sessions, self._pending_sessions = self._pending_sessions, []
                organizations, self._pending_orgs = self._pending_orgs, {}
            try:
                self._write_pending(list(users.values()), sessions, organizations)
            except UnavailableError:
                self._requeue(users, sessions, organizations)
                raise
            except (InvalidArgumentError, IntegrityError):
                return self._write_one_by_one(list(users.values()), sessions, organizations)
            return len(users) + len(sessions)

    def _write_pending(
        self,
        users: list[tuple[set[str], dict[str, Any]]],
        sessions: list[dict[str, Any]],
        organizations: dict[tuple[str, str], float],
    ) -> None:
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for fields, row in users:
            groups.setdefault(tuple(sorted(fields)), []).append(row)
        with self._connection() as connection:
            if organizations:
                connection.execute(
                    self._organization_insert,
                    [
                        {"workspace_id": ws, "organization_id": org, "created_at": at}
                        for (ws, org), at in organizations.items()
                    ],
                )
            for names, rows in groups.items():
                self._execute_many(connection, self._upsert_statement(names), rows)
            if sessions:
                self._execute_many(connection, self._session_insert, sessions)
        self._orgs.update(organizations)

    def _write_one_by_one(
        self,
        users: list[tuple[set[str], dict[str, Any]]],
        sessions: list[dict[str, Any]],
        organizations: dict[tuple[str, str], float],
    ) -> int:
        for key, at in organizations.items():
            self._write_or_drop([], [], {key: at}, f"organization {key[1]!r} of {key[0]}")
        written = 0
        for user in users:
            written += self._write_or_drop(
                [user], [], {}, f"user {user[1]['user_id']!r} of {user[1]['workspace_id']}"
            )
        for session in sessions:
            written += self._write_or_drop([], [session], {}, f"session {session['id']}")
        return written

    def _write_or_drop(
        self,
        users: list[tuple[set[str], dict[str, Any]]],
        sessions: list[dict[str, Any]],
        organizations: dict[tuple[str, str], float],
        what: str,
    ) -> int:
        try:
            self._write_pending(users, sessions, organizations)
        except (InvalidArgumentError, IntegrityError):
            logger.exception("write-behind: %s dropped: the store refused it", what)
            return 0
        return 1

    def _requeue(
        self,
        users: dict[tuple[str, str], tuple[set[str], dict[str, Any]]],
        sessions: list[dict[str, Any]],
        organizations: dict[tuple[str, str], float],
    ) -> None:
        # Put an unwritten batch back in front of what arrived since, merging per user as if
        # the older upsert had been applied first.
        with self._pending_lock:
            newer = self._pending_users
            for key, (fields, row) in newer.items():
                older = users.get(key)
                if older is None:
                    users[key] = (fields, row)
                else:
                    _merge_upsert(older, {name: row[name] for name in fields}, row["updated_at"])
            self._pending_users = users
            self._pending_sessions = sessions + self._pending_sessions
            self._pending_orgs = {**self._pending_orgs, **organizations}

    def _upsert_statement(self, fields: tuple[str, ...]) -> Any:
        statement = self._upserts.get(fields)
        if statement is None:
            base = self._upsert(User)
            statement = base.on_conflict_do_update(
                index_elements=[User.workspace_id, User.user_id],
                set_={name: base.excluded[name] for name in (*fields, "updated_at")},
            )
            self._upserts[fields] = statement
        return statement

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """One transaction on a plain connection, with the same error translation as
        :meth:`session`."""
        with _store_errors(), self.engine.begin() as connection:
            yield connection

    def delete_user(self, workspace_id: str, user_id: str) -> bool:
        self.flush_pending()
        with self.session() as session:
            result = session.execute(
                delete(User).where(User.workspace_id == workspace_id, User.user_id == user_id)
            )
            return bool(getattr(result, "rowcount", 0))

    def _ensure_organization(
        self, session: OrmSession, workspace_id: str, organization_id: str | None, now: float
    ) -> None:
        if organization_id is None:
            return
        session.execute(
            self._organization_insert.values(
                workspace_id=workspace_id, organization_id=organization_id, created_at=now
            )
        )

    # --- signing keys -------------------------------------------------------------------------

    def signing_keys(self, workspace_id: str) -> Sequence[SigningKeyRow]:
        with self.session() as session:
            query = select(SigningKeyRow).where(SigningKeyRow.workspace_id == workspace_id)
            return session.scalars(query.order_by(SigningKeyRow.created_at)).all()

    def sealed_signing_key(self) -> SigningKeyRow | None:
        """The newest key of any workspace that still holds its sealed private part (not
        retired), or None: enough to check at startup that the master key opens them."""
        with self.session() as session:
            query = select(SigningKeyRow).where(SigningKeyRow.state != "retired")
            return session.scalar(query.order_by(SigningKeyRow.created_at.desc()).limit(1))

    def update_signing_key(self, workspace_id: str, kid: str, **values: Any) -> None:
        with self.session() as session:
            session.execute(
                update(SigningKeyRow)
                .where(SigningKeyRow.workspace_id == workspace_id, SigningKeyRow.kid == kid)
                .values(**values)
            )

    def promote_signing_key(self, workspace_id: str, kid: str, now: float) -> bool:
        """Make the ``next`` key ``kid`` active and the active key retiring, atomically.

        :returns: False when ``kid`` is no longer ``next`` (another instance promoted it).
        """
        with self.session() as session:
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
        with self.session() as session:
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
        with self.session() as session:
            query = select(Revocation).where(
                Revocation.workspace_id == workspace_id, Revocation.expires_at > now
            )
            return session.scalars(query.order_by(Revocation.id)).all()

    def purge_revocations(self, now: float) -> int:
        """Drop denylist entries whose tokens have all expired; returns how many."""
        with self.session() as session:
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
        self.flush_pending()
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
        with self.session() as session:
            result = session.execute(
                update(Session)
                .where(
                    Session.workspace_id == workspace_id, Session.ended_at.is_(None), or_(*criteria)
                )
                .values(ended_at=at)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def session_record(self, session_id: str) -> Session | None:
        self.flush_pending()
        with self.session() as session:
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
        with self.session() as session:
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
