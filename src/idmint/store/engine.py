"""Opening the store and its schema: the engine (SQLite's pragmas and private files, or
PostgreSQL's schema), Alembic migrations, transactions, checkpoints and closing.

:class:`StoreEngine` is the base every part of :class:`~idmint.store.Store` stands on (see the
package's docstring): it holds the engine and what the others share.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Self

from sqlalchemy import Connection, Engine, create_engine, event, inspect, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker

from idmint._files import PRIVATE_DIR, PRIVATE_FILE, create_private_file, tighten
from idmint.jose.errors import (
    InvalidArgumentError,
    StoreNotFoundError,
    StoreOutdatedError,
    UnavailableError,
)
from idmint.store.models import Base, Organization

__all__ = ["StoreEngine"]

_MIGRATIONS = Path(__file__).with_name("migrations")


@contextmanager
def store_errors() -> Iterator[None]:
    """Store failures as idmint's errors: an unreachable database is :class:`UnavailableError`,
    a value it cannot hold (a NUL character, say) the caller's input."""
    try:
        yield
    except OperationalError as exc:
        raise UnavailableError("The store is unavailable.") from exc
    except DataError as exc:
        raise InvalidArgumentError("A value in the request cannot be stored.") from exc


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


def _private_sqlite_files(path: Path, *, create: bool) -> None:
    """The SQLite database at ``path`` and its WAL files, private (see :meth:`Store.open`)."""
    if create:
        path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        create_private_file(path)
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        tighten(path.with_name(name), PRIVATE_FILE)


class StoreEngine:
    """The connection to the database, and what every part of the store shares.

    :param engine: a SQLAlchemy engine (SQLite or PostgreSQL).
    :param spill_dir: where group commit writes what it could not commit at close.
    """

    def __init__(self, engine: Engine, *, spill_dir: Path | None = None) -> None:
        self.engine = engine
        self.spill_dir = spill_dir
        self._orm_sessions = sessionmaker(engine, expire_on_commit=False)
        # The dialect's INSERT, which has ON CONFLICT.
        self._upsert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._organization_insert = self._upsert(Organization).on_conflict_do_nothing()

    @classmethod
    def open(
        cls,
        url: str,
        *,
        schema: str | None = None,
        spill_dir: Path | None = None,
        sqlite_synchronous: Literal["normal", "full"] = "normal",
        create: bool = True,
    ) -> Self:
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

    # --- the schema -----------------------------------------------------------------------------

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

    # --- transactions ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[OrmSession]:
        """One transaction, through an ORM session: committed when the block ends, rolled back
        when it raises; store failures surface as idmint's errors (:func:`store_errors`)."""
        with store_errors(), self._orm_sessions.begin() as session:
            yield session

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """One transaction on a plain connection, with the same error translation as
        :meth:`transaction`."""
        with store_errors(), self.engine.begin() as connection:
            yield connection

    def checkpoint(self) -> None:
        """SQLite: copy what the write-ahead log holds into the database, without waiting for
        readers or writers (a passive checkpoint; the server's upkeep runs it every second).
        SQLite checkpoints too when the last connection closes.  PostgreSQL: nothing."""
        if self.engine.dialect.name == "sqlite":
            with self._connection() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        """Release the connections (the writer first commits what is queued: see
        :meth:`StoreWriter.close <idmint.store.writer.StoreWriter.close>`)."""
        self.engine.dispose()
