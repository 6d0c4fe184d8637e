"""The Alembic migrations: idempotent, and exactly what the models describe, on both backends."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from conftest import POSTGRES_URL, require_postgres
from idmint.errors import StoreNotFoundError
from idmint.store import Base, Store


def _revision(store: Store) -> str | None:
    with store.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _tables(store: Store) -> set[str]:
    return set(inspect(store.engine).get_table_names())


def test_migrate_creates_every_table_at_head(fresh_store: Store) -> None:
    assert _revision(fresh_store) is None
    fresh_store.migrate()
    assert _revision(fresh_store) == "0001"
    assert _tables(fresh_store) == {*Base.metadata.tables, "alembic_version"}


def test_migrating_twice_is_a_no_op(fresh_store: Store) -> None:
    fresh_store.migrate()
    with fresh_store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO workspaces (id, api_key, name, require_jwt, token_ttl_seconds,"
                " min_ttl_seconds, max_ttl_seconds, auto_create_users, allowed_domains,"
                " created_at, updated_at) VALUES ('ws_1', 'pk_1', 'Acme', true, 172800, 1,"
                " 604800, true, '[]', 1.0, 1.0)"
            )
        )
    fresh_store.migrate()
    assert _revision(fresh_store) == "0001"
    with fresh_store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    workspace = fresh_store.workspace_by_api_key("pk_1")
    assert workspace is not None
    assert workspace.name == "Acme"


def test_models_match_the_migrations(fresh_store: Store) -> None:
    fresh_store.migrate()
    with fresh_store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


@pytest.mark.postgres
def test_postgres_schemas_isolate_stores(new_store: Callable[[str], Store]) -> None:
    first = new_store("postgresql")
    second = new_store("postgresql")
    first.migrate()
    assert _revision(first) == "0001"
    assert _revision(second) is None
    assert _tables(second) == set()


def test_open_without_create_needs_a_migrated_store(fresh_store: Store) -> None:
    url = fresh_store.engine.url.render_as_string(hide_password=False)
    search_path = fresh_store.engine.dialect.name == "postgresql"
    kwargs = {"schema": _schema(fresh_store)} if search_path else {}
    assert not fresh_store.migrated()
    with pytest.raises(StoreNotFoundError) as info:
        Store.open(url, create=False, **kwargs)
    assert "run `idmint init` first" in info.value.message
    assert _tables(fresh_store) == set()  # nothing was made

    fresh_store.migrate()
    assert fresh_store.migrated()
    reopened = Store.open(url, create=False, **kwargs)
    try:
        assert reopened.workspaces() == []
    finally:
        reopened.close()


def _schema(store: Store) -> str:
    with store.engine.connect() as connection:
        return str(connection.execute(text("SELECT current_schema()")).scalar())


def test_open_without_create_makes_no_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "data" / "idmint.db"
    with pytest.raises(StoreNotFoundError) as info:
        Store.open(f"sqlite:///{path}", create=False)
    assert info.value.location == str(path)
    assert not (tmp_path / "data").exists()


@pytest.mark.postgres
def test_open_without_create_makes_no_postgres_schema() -> None:
    require_postgres()
    schema = f"idmint_test_{uuid.uuid4().hex}"
    with pytest.raises(StoreNotFoundError) as info:
        Store.open(POSTGRES_URL, schema=schema, create=False)
    assert schema in info.value.location
    probe = Store.open(POSTGRES_URL)
    try:
        with probe.engine.connect() as connection:
            assert not inspect(connection).has_schema(schema)
    finally:
        probe.engine.dispose()


def test_sqlite_files_are_made_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "idmint.db"
    store = Store.open(f"sqlite:///{path}")
    try:
        store.migrate()
        assert store.workspaces() == []  # a connection is open: the WAL files exist
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        for name in ("idmint.db", "idmint.db-wal", "idmint.db-shm"):
            assert stat.S_IMODE((path.parent / name).stat().st_mode) == 0o600, name
    finally:
        store.close()
