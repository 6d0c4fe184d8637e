"""The store: one interface over SQLAlchemy 2, SQLite by default, PostgreSQL by URL.

The service layer talks only to :class:`Store`; no SQL appears above this package.  Reads and
admin writes are one short transaction each.  The hot paths' writes (mint's user change,
identify's profile and session, their audit events) go through group commit
(:mod:`idmint.store.commit`): many requests' writes in one transaction, each request answered
once its own are committed.  Schema changes are Alembic migrations, applied by
:meth:`Store.migrate` (``idmint migrate``, ``idmint init``, ``idmint serve --migrate``).

The package, by mechanism:

- :mod:`~idmint.store.models`: the tables, and :func:`email_key`.
- :mod:`~idmint.store.engine`: opening the store (SQLite's pragmas and private files), the
  schema and its migrations, transactions, checkpoints, closing.
- :mod:`~idmint.store.units` and :mod:`~idmint.store.rows`: a request's writes (:class:`Unit`)
  and their typed rows; the spill file.
- :mod:`~idmint.store.commit`: group commit's queue, waiters, retries and deadlines.
- :mod:`~idmint.store.writer`: group commit's write side (a batch as one transaction, a
  driver's failures as idmint's errors, the spill's replay), through
  :mod:`~idmint.store.bulk`, which puts a batch's rows into few statements.
- :mod:`~idmint.store.users` and :mod:`~idmint.store.queries`: reads and admin writes;
  :mod:`~idmint.store.console`: the console's accounts, memberships and sessions.

:class:`Store` is these parts as one object: a class per part, each a subclass of
:class:`~idmint.store.engine.StoreEngine`, which holds the engine and what they share (the
dialect's statements); each part sets up its own state in its ``__init__`` and calls the next
(``super()``), and the writer's ``close`` drains group commit before the engine's.  Mixins
rather than parts held by a facade: the service calls some forty methods of the store, and a
facade would repeat each signature once more to forward it; here each method is written once,
in the module of its mechanism, and mypy checks every part against the one base it stands on.
"""

from __future__ import annotations

from idmint.store.console import ConsoleQueries
from idmint.store.models import (
    AuditEvent,
    AuthToken,
    Base,
    ConsoleAccount,
    ConsoleMembership,
    ConsoleSession,
    Organization,
    Revocation,
    Session,
    SigningKeyRow,
    User,
    UserProfile,
    Workspace,
    email_key,
)
from idmint.store.queries import StoreQueries
from idmint.store.rows import AuditRow, Profile, SessionRow, UserColumns
from idmint.store.units import Unit
from idmint.store.users import UserQueries
from idmint.store.writer import StoreWriter

__all__ = [
    "AuditEvent",
    "AuditRow",
    "AuthToken",
    "Base",
    "ConsoleAccount",
    "ConsoleMembership",
    "ConsoleSession",
    "Organization",
    "Profile",
    "Revocation",
    "Session",
    "SessionRow",
    "SigningKeyRow",
    "Store",
    "Unit",
    "User",
    "UserColumns",
    "UserProfile",
    "Workspace",
    "email_key",
]


class Store(StoreWriter, UserQueries, ConsoleQueries, StoreQueries):
    """idmint's persistent state (see the module docstring for its parts).

    :param engine: a SQLAlchemy engine (SQLite or PostgreSQL); :meth:`open` makes one from a
        URL.
    :param spill_dir: where group commit writes what it could not commit at close.
    """
