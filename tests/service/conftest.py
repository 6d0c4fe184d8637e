"""The service layer over a real store, on both backends (SQLite file, PostgreSQL schema).

The backend machinery (one migrated store per backend and session, a schema per run dropped
at session end, tables emptied before each test) is the store suite's; see store/conftest.py.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from idmint import FrozenClock
from idmint.jose.keys import MasterKey
from idmint.service import Idmint, InitResult
from idmint.settings import Settings
from idmint.store import AuditEvent, Store, User
from store import conftest as _backends
from store.conftest import BACKENDS, POSTGRES_URL, empty_tables, require_postgres

__all__ = ["BACKENDS", "MASTER_KEY", "POSTGRES_URL", "PUBLIC_URL", "require_postgres"]

# The store suite's backend fixtures, shared by this folder (separate instances: this folder
# gets its own SQLite file and PostgreSQL schema).
pg_schemas = _backends.pg_schemas
new_store = _backends.new_store
migrated_store = _backends.migrated_store

PUBLIC_URL = "https://idmint.test"
MASTER_KEY = MasterKey.generate()


@pytest.fixture(autouse=True)
def _no_idmint_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read IDMINT_* variables; the machine's must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("IDMINT_"):
            monkeypatch.delenv(name)


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    return Settings(data_dir=tmp_path, public_url=PUBLIC_URL)


@pytest.fixture
def store(migrated_store: Store) -> Iterator[Store]:
    """A migrated, empty store: SQLite or PostgreSQL, its writes by group commit as the service
    runs it."""
    empty_tables(migrated_store)
    try:
        yield migrated_store
    finally:
        with contextlib.suppress(Exception):  # a test may have left its store unusable
            migrated_store.drain()


@pytest.fixture
def idmint(settings: Settings, store: Store, clock: FrozenClock) -> Idmint:
    """The service facade over the store, with fresh caches and a frozen clock."""
    return Idmint(settings, store, MASTER_KEY, clock=clock)


@pytest.fixture
def tenant(idmint: Idmint) -> InitResult:
    """A workspace with an active signing key and a first auth token."""
    return idmint.init_workspace("Acme", scopes=("mint", "admin"))


@pytest.fixture
def other_tenant(idmint: Idmint, tenant: InitResult) -> InitResult:
    """A second workspace in the same store."""
    return idmint.init_workspace("Globex", allow_existing=True, scopes=("mint", "admin"))


def audit_rows(idmint: Idmint) -> list[AuditEvent]:
    """Every audit event written so far (after flushing the buffer), newest first."""
    idmint.audit.flush()
    return list(idmint.store.audit_events(None, limit=100_000))


def audit_row_text(event: AuditEvent) -> str:
    """All of an audit row's columns as one text, to search for leaked secrets."""
    return json.dumps(
        {
            "id": event.id,
            "workspace_id": event.workspace_id,
            "at": event.at,
            "actor": event.actor,
            "action": event.action,
            "outcome": event.outcome,
            "reason_code": event.reason_code,
            "subject": event.subject,
            "detail": event.detail,
        },
        ensure_ascii=False,
    )


def user_count(store: Store) -> int:
    with store.transaction() as session:
        return session.query(User).count()
