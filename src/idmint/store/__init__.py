"""The store: one interface over SQLAlchemy 2, SQLite by default, PostgreSQL by URL.

The service layer talks only to :class:`Store`; no SQL appears above this package.  Every
method is one short transaction.  Schema changes are Alembic migrations, applied by
:meth:`Store.migrate` (``idmint init`` and ``idmint serve`` run it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker

from idmint.errors import InvalidArgumentError, UnavailableError, UserExistsError
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


def email_key(email: str) -> str:
    """How emails are compared: Unicode case folding, the same on every backend."""
    return email.casefold()


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
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._upserts: dict[tuple[str, ...], Any] = {}
        # Organizations are never deleted: once one is stored, minting need not insert it again.
        self._orgs: set[tuple[str, str]] = set()
        insert_ = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._organization_insert = insert_(Organization).on_conflict_do_nothing()

    @classmethod
    def open(cls, url: str, *, schema: str | None = None) -> Store:
        """Connect to the store at ``url``.

        :param schema: PostgreSQL only: the schema to use (created if missing), so that
            separate deployments or test runs can share one database without colliding.
        """
        # A pool as large as the server's thread pool (40), so connections are kept rather
        # than opened and closed under load.
        kwargs: dict[str, Any] = {"pool_size": 10, "max_overflow": 30}
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # A local file cannot drop a connection: no ping before every checkout.
        else:
            kwargs["pool_pre_ping"] = True
            if schema is not None:
                kwargs["connect_args"] = {"options": f"-csearch_path={schema}"}
        engine = create_engine(url, **kwargs)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        elif schema is not None:
            with engine.begin() as connection:
                connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        return cls(engine)

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
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[OrmSession]:
        """One transaction; store failures surface as :class:`UnavailableError`."""
        try:
            with self._sessions.begin() as session:
                yield session
        except OperationalError as exc:
            raise UnavailableError("The store is unavailable.") from exc
        except DataError as exc:
            # A value the database cannot hold (a NUL character, say): the caller's input.
            raise InvalidArgumentError("A value in the request cannot be stored.") from exc

    def insert_rows(self, model: type[Base], rows: list[dict[str, Any]]) -> None:
        """Insert plain rows into ``model``'s table in one statement (executemany)."""
        if rows:
            with self.session() as session:
                session.execute(insert(model), rows)

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
        with self.session() as session:
            return session.get(User, (workspace_id, user_id))

    def user_by_email(self, workspace_id: str, email: str) -> User | None:
        """The user with this email (compared case-insensitively)."""
        with self.session() as session:
            query = select(User).where(
                User.workspace_id == workspace_id, User.email_key == email_key(email)
            )
            return session.scalars(query.order_by(User.created_at).limit(1)).first()

    def users(
        self, workspace_id: str, *, limit: int = 100, after: str | None = None
    ) -> Sequence[User]:
        """Users ordered by userId, ``limit`` at a time, starting after ``after``."""
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
        connection, not an ORM session; a known organization is not inserted again.
        """
        if values.get("email") is not None:
            values = {**values, "email_key": email_key(values["email"])}
        row = {
            "workspace_id": workspace_id,
            "user_id": user_id,
            "profile": {},
            "is_admin": False,
            "created_at": now,
            "updated_at": now,
            **values,
        }
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
            connection.execute(statement, row)
        if organization_id is not None:
            self._orgs.add((workspace_id, organization_id))

    def _upsert_statement(self, fields: tuple[str, ...]) -> Any:
        statement = self._upserts.get(fields)
        if statement is None:
            insert_ = (
                postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
            )
            base = insert_(User)
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
        try:
            with self.engine.begin() as connection:
                yield connection
        except OperationalError as exc:
            raise UnavailableError("The store is unavailable.") from exc
        except DataError as exc:
            raise InvalidArgumentError("A value in the request cannot be stored.") from exc

    def delete_user(self, workspace_id: str, user_id: str) -> bool:
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
        upsert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        session.execute(
            upsert(Organization)
            .values(workspace_id=workspace_id, organization_id=organization_id, created_at=now)
            .on_conflict_do_nothing()
        )

    # --- signing keys -------------------------------------------------------------------------

    def signing_keys(self, workspace_id: str) -> Sequence[SigningKeyRow]:
        with self.session() as session:
            query = select(SigningKeyRow).where(SigningKeyRow.workspace_id == workspace_id)
            return session.scalars(query.order_by(SigningKeyRow.created_at)).all()

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
