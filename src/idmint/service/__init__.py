"""The use cases of idmint, independent of HTTP: workspaces, keys, users, tokens, audit.

:class:`Idmint` wires them to one store, clock and master key.  The API, the console and the
CLI all go through it; none of them touches the store directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import OperationalError

from idmint.clock import Clock, SystemClock
from idmint.errors import UnavailableError, WorkspaceExistsError
from idmint.keys import MasterKey
from idmint.service.audit import AuditLog
from idmint.service.keys import KeyService
from idmint.service.revocations import RevocationService
from idmint.service.tokens import IdentifiedSession, TokenService
from idmint.service.users import UserService
from idmint.service.workspaces import CreatedAuthToken, WorkspaceService
from idmint.settings import Settings
from idmint.store import Store, Workspace
from idmint.tokens import ABSOLUTE_MAX_LIFETIME

__all__ = ["CreatedAuthToken", "IdentifiedSession", "Idmint", "InitResult", "load_master_key"]


def load_master_key(settings: Settings) -> MasterKey:
    """The master key from settings, or from ``<data_dir>/master.key``, generated there once
    with mode 0600 when neither exists."""
    if settings.master_key is not None:
        return MasterKey.from_text(settings.master_key.get_secret_value())
    path = Path(settings.data_dir) / "master.key"
    if path.exists():
        return MasterKey.from_text(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = MasterKey.generate()
    # O_EXCL: two processes starting at once must not both write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return MasterKey.from_text(path.read_text())
    with os.fdopen(fd, "w") as file:
        file.write(key.to_text() + "\n")
    return key


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
    :param clock: time source (a :class:`~idmint.clock.FrozenClock` in tests).
    """

    def __init__(
        self, settings: Settings, store: Store, master_key: MasterKey, *, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock or SystemClock()
        self.audit = AuditLog(store, self.clock, wait_seconds=settings.commit_timeout_seconds)
        cache = settings.credential_cache_seconds
        self.workspaces = WorkspaceService(store, self.clock, self.audit, cache_seconds=cache)
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
        self.tokens = TokenService(
            store,
            self.clock,
            self.audit,
            self.workspaces,
            self.keys,
            self.users,
            self.revocations,
            commit_timeout=settings.commit_timeout_seconds,
        )

    @classmethod
    def open(
        cls, settings: Settings, *, clock: Clock | None = None, schema: str | None = None
    ) -> Idmint:
        """Open (and migrate) the store named by the settings.

        :raises UnavailableError: when the database cannot be reached or the data directory
            or master key file cannot be used.
        """
        try:
            store = Store.open(
                settings.resolved_database_url,
                schema=schema,
                spill_dir=Path(settings.data_dir) / "spill",
                sqlite_synchronous=settings.sqlite_synchronous,
            )
            store.migrate()
            store.replay_spill()
            master_key = load_master_key(settings)
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise UnavailableError(f"The store cannot be opened: {reason}") from None
        except OSError as exc:  # an unwritable data directory, an unreadable master.key, ...
            raise UnavailableError(
                f"The store cannot be opened: {exc.strerror or exc}: {exc.filename}"
            ) from None
        return cls(settings, store, master_key, clock=clock)

    def init_workspace(
        self,
        name: str = "default",
        *,
        token_name: str = "default",  # noqa: S107 - a label, not a secret
        allow_existing: bool = False,
    ) -> InitResult:
        """Create a workspace with a signing key and a first auth token.

        :raises WorkspaceExistsError: when a workspace exists and ``allow_existing`` is false.
        """
        if not allow_existing and self.store.workspaces():
            raise WorkspaceExistsError(
                "A workspace already exists here; idmint init never overwrites one."
            )
        workspace = self.workspaces.create(name)
        self.keys.create_key(workspace)
        token = self.workspaces.create_auth_token(workspace.api_key, token_name, actor="cli")
        return InitResult(workspace, token, self.settings.issuer_for(workspace.api_key))

    def flush(self) -> None:
        """Return once every write submitted so far (audit events of refused requests,
        last-used times) is committed."""
        self.store.drain()

    def close(self) -> None:
        """Commit what is queued (or spill it, with the store down) and release the store."""
        self.store.close()
