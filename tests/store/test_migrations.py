"""The Alembic migrations: idempotent, and exactly what the models describe, on both backends."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

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
