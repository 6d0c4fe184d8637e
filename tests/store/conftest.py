"""The store under test, on both backends: SQLite (a file) and PostgreSQL (a schema per run).

Every test gets the ``store`` fixture twice, once per backend.  Each backend is migrated once
per test session, into its own SQLite file or its own PostgreSQL schema
(``idmint_test_<uuid>``, dropped with CASCADE at session end), so that concurrent runs never
collide; the tables are emptied before each test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete

from conftest import POSTGRES_URL, require_postgres
from idmint.store import Base, Store

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="session")
def pg_schemas() -> Iterator[list[str]]:
    """Names of the PostgreSQL schemas this run made; all dropped at session end."""
    names: list[str] = []
    yield names
    if not names:
        return
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.begin() as connection:
            for name in names:
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def new_store(
    pg_schemas: list[str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Store]]:
    """A factory of empty, unmigrated stores: ``new_store("sqlite" | "postgresql")``."""
    opened: list[Store] = []

    def make(backend: str) -> Store:
        if backend == "sqlite":
            path: Path = tmp_path_factory.mktemp("sqlite") / "idmint.db"
            store = Store.open(f"sqlite:///{path}")
        else:
            require_postgres()
            schema = f"idmint_test_{uuid.uuid4().hex}"
            pg_schemas.append(schema)
            store = Store.open(POSTGRES_URL, schema=schema)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_store(request: pytest.FixtureRequest, new_store: Callable[[str], Store]) -> Store:
    """One migrated store per backend for the whole session."""
    store = new_store(request.param)
    store.migrate()
    return store


@pytest.fixture(params=BACKENDS)
def fresh_store(request: pytest.FixtureRequest, new_store: Callable[[str], Store]) -> Store:
    """A brand-new, never migrated store (its own SQLite file or PostgreSQL schema)."""
    return new_store(request.param)


def empty_tables(store: Store) -> None:
    """Delete every row, children first (faster than a new schema per test)."""
    store.drain()
    with store.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))
    # What the store remembers of rows that are now gone.
    store._orgs.clear()
    store._contested = None


@pytest.fixture
def store(migrated_store: Store) -> Store:
    """A migrated, empty store (SQLite or PostgreSQL)."""
    empty_tables(migrated_store)
    return migrated_store
