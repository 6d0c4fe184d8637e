"""The use cases of idmint, independent of HTTP: workspaces, keys, users, tokens, audit.

:class:`Idmint` wires them to one store, clock and master key.  The API, the console and the
CLI all go through it; none of them imports the store (import-linter checks it).  The records
the use cases return (:class:`Workspace`, :class:`User`, :class:`AuthToken`, ...) are
re-exported here for their callers' type annotations.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import OperationalError

from idmint._files import private_dir
from idmint.jose.clock import Clock, SystemClock
from idmint.jose.errors import UnavailableError, WorkspaceExistsError
from idmint.jose.keys import MasterKey
from idmint.jose.tokens import ABSOLUTE_MAX_LIFETIME
from idmint.service.access import Access
from idmint.service.audit import AuditLog
from idmint.service.console import ConsoleAccounts, CreatedAccount, SignedIn
from idmint.service.keys import KeyService
from idmint.service.master_key import load_master_key, store_master_key
from idmint.service.revocations import RevocationService
from idmint.service.throttle import Throttle
from idmint.service.tokens import IdentifiedSession, TokenService
from idmint.service.users import UserService
from idmint.service.workspaces import CreatedAuthToken, WorkspaceService
from idmint.settings import Settings
from idmint.store import (
    AuditEvent,
    AuthToken,
    ConsoleAccount,
    ConsoleSession,
    Revocation,
    SigningKeyRow,
    Store,
    User,
    UserProfile,
    Workspace,
)

__all__ = [
    "AuditEvent",
    "AuthToken",
    "ConsoleAccount",
    "ConsoleAccounts",
    "ConsoleSession",
    "CreatedAccount",
    "CreatedAuthToken",
    "IdentifiedSession",
    "Idmint",
    "InitResult",
    "Revocation",
    "SignedIn",
    "SigningKeyRow",
    "User",
    "UserProfile",
    "Workspace",
    "load_master_key",
]


@contextmanager
def _opening_errors() -> Iterator[None]:
    """An unreachable database or an unusable data directory as :class:`UnavailableError`."""
    try:
        yield
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise UnavailableError(f"The store cannot be opened: {reason}") from None
    except OSError as exc:  # an unwritable data directory, an unreadable master.key, ...
        raise UnavailableError(
            f"The store cannot be opened: {exc.strerror or exc}: {exc.filename}"
        ) from None


@dataclass(frozen=True, slots=True)
class InitResult:
    """A new workspace with its first auth token (secret shown once)."""

    workspace: Workspace
    auth_token: CreatedAuthToken
    issuer: str


class Idmint:
    """All of idmint's use cases over one store.

    :param settings: the typed settings.
    :param store: the store; :meth:`open` makes one from the settings.
    :param clock: time source (a :class:`~idmint.jose.clock.FrozenClock` in tests).
    """

    def __init__(
        self, settings: Settings, store: Store, master_key: MasterKey, *, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock or SystemClock()
        self.audit = AuditLog(
            store,
            self.clock,
            wait_seconds=settings.commit_timeout_seconds,
            retention_days=settings.audit_retention_days,
        )
        self.throttle = Throttle(
            per_address=settings.throttle_per_address,
            per_api_key=settings.throttle_per_api_key,
            redis_url=settings.redis_url,
        )
        cache = settings.credential_cache_seconds
        self.workspaces = WorkspaceService(store, self.clock, self.audit, cache_seconds=cache)
        self.access = Access(self.workspaces, self.throttle, self.audit)
        self.keys = KeyService(store, self.clock, master_key, settings, self.audit)
        self.users = UserService(
            store, self.clock, self.audit, self.workspaces, cache_seconds=cache
        )
        self.revocations = RevocationService(
            store,
            self.clock,
            self.audit,
            cache_seconds=cache,
            max_lifetime=ABSOLUTE_MAX_LIFETIME.total_seconds(),
            leeway=settings.leeway_seconds,
        )
        self.console = ConsoleAccounts(store, self.clock, self.audit, self.access, settings)
        self.tokens = TokenService(
            store,
            self.clock,
            self.audit,
            self.workspaces,
            self.keys,
            self.users,
            self.revocations,
            self.access,
            commit_timeout=settings.commit_timeout_seconds,
        )

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        schema: str | None = None,
        create: bool = False,
        migrate: bool = False,
    ) -> Idmint:
        """Open the store named by the settings, with a master key that opens its signing
        keys.  The data directory is made private (0700) on the way.

        :param create: make the store, and the master key file when the store holds no sealed
            key, if they are missing (``idmint init``); a new store gets the newest schema.
            Without it nothing is created.
        :param migrate: upgrade a schema that is behind (``idmint migrate``); without it such
            a store is refused.
        :raises StoreNotFoundError: when ``create`` is false and there is no store.
        :raises StoreOutdatedError: when the schema is behind and ``migrate`` is false.
        :raises MasterKeyMissingError: when there is no master key and none may be made.
        :raises MasterKeyMismatchError: when the master key cannot open the stored keys.
        :raises InsecureFileModeError: when ``master.key`` is readable or writable by others.
        :raises UnavailableError: when the database cannot be reached or the data directory
            or master key file cannot be used.
        """
        with _opening_errors():
            store = Store.open(
                settings.resolved_database_url,
                schema=schema,
                spill_dir=Path(settings.data_dir) / "spill",
                sqlite_synchronous=settings.sqlite_synchronous,
                create=create,
            )
        try:
            with _opening_errors():
                if migrate or (create and store.revision() is None):
                    store.migrate()
                else:
                    store.check_current()
                if settings.database_url is None or settings.master_key is None:
                    private_dir(settings.data_dir, create=False)  # it holds the db or the key
                master_key = store_master_key(settings, store, create=create)
                # What an earlier process could not write before it stopped (the store down).
                store.replay_spill()
        except BaseException:
            store.close()
            raise
        return cls(settings, store, master_key, clock=clock)

    @staticmethod
    def schema_revisions(
        settings: Settings, *, schema: str | None = None
    ) -> tuple[str | None, str]:
        """The store's schema revision and the newest this idmint knows (``idmint migrate``).

        :raises StoreNotFoundError: when there is no store.
        """
        with _opening_errors():
            store = Store.open(settings.resolved_database_url, schema=schema, create=False)
        try:
            with _opening_errors():
                return store.revision(), store.head_revision()
        finally:
            store.close()

    def init_workspace(
        self,
        name: str = "default",
        *,
        token_name: str = "default",  # noqa: S107 - a label, not a secret
        allow_existing: bool = False,
        actor: str = "cli",
        scopes: tuple[str, ...] = ("mint",),
    ) -> InitResult:
        """Create a workspace with a signing key and a first auth token (for the backend that
        mints: ``mint`` scope alone, unless ``scopes`` says otherwise).

        :raises WorkspaceExistsError: when a workspace exists and ``allow_existing`` is false.
        """
        if not allow_existing and self.store.workspaces():
            raise WorkspaceExistsError(
                "A workspace already exists here; idmint init never overwrites one."
            )
        workspace = self.workspaces.create(name, actor=actor)
        self.keys.create_key(workspace)
        token = self.workspaces.create_auth_token(
            workspace.api_key, token_name, actor=actor, scopes=scopes
        )
        return InitResult(workspace, token, self.settings.issuer_for(workspace.api_key))

    def checkpoint(self) -> None:
        """Copy SQLite's write-ahead log into the database, passively (the server's upkeep
        calls it every second; nothing on PostgreSQL)."""
        self.store.checkpoint()

    def flush(self) -> None:
        """Return once every write submitted so far (audit events of refused requests,
        last-used times) is committed."""
        self.store.drain()

    def close(self) -> None:
        """Commit what is queued (or spill it, with the store down) and release the store."""
        self.audit.write_failures(everything=True)
        self.store.close()
