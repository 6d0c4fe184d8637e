"""The Alembic migrations: idempotent, and exactly what the models describe, on both backends."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

import idmint.store as store_module
from conftest import POSTGRES_URL, require_postgres
from idmint.jose.errors import StoreNotFoundError
from idmint.store import Base, Store

HEAD = "0004"


def _revision(store: Store) -> str | None:
    with store.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _tables(store: Store) -> set[str]:
    return set(inspect(store.engine).get_table_names())


def test_migrate_creates_every_table_at_head(fresh_store: Store) -> None:
    assert _revision(fresh_store) is None
    fresh_store.migrate()
    assert _revision(fresh_store) == HEAD
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
    assert _revision(fresh_store) == HEAD
    with fresh_store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    workspace = fresh_store.workspace_by_api_key("pk_1")
    assert workspace is not None
    assert workspace.name == "Acme"


def test_models_match_the_migrations(fresh_store: Store) -> None:
    # Through every revision, as a store made by an older idmint is brought up to date (an
    # empty database gets the models' tables at once: the two must agree).
    fresh_store.migrate("0001")
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
    assert _revision(first) == HEAD
    assert _revision(second) is None
    assert _tables(second) == set()


def _insert_0001_user(connection: Any, user_id: str, email: str | None, **values: Any) -> None:
    row = {
        "workspace_id": "ws_1",
        "user_id": user_id,
        "organization_id": None,
        "email": email,
        "email_key": None if email is None else email.casefold(),
        "name": None,
        "photo_url": None,
        "profile": "{}",
        "is_admin": False,
        "created_at": 1.0,
        "updated_at": 2.0,
        **values,
    }
    columns = ", ".join(row)
    params = ", ".join(f":{name}" for name in row)
    connection.execute(text(f"INSERT INTO users ({columns}) VALUES ({params})"), row)  # noqa: S608


def test_0002_moves_profiles_apart_and_marks_shared_emails(fresh_store: Store) -> None:
    fresh_store.migrate("0001")
    with fresh_store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO workspaces (id, api_key, name, require_jwt, token_ttl_seconds,"
                " min_ttl_seconds, max_ttl_seconds, auto_create_users, allowed_domains,"
                " created_at, updated_at) VALUES ('ws_1', 'pk_1', 'Acme', true, 172800, 1,"
                " 604800, true, '[]', 1.0, 1.0)"
            )
        )
        _insert_0001_user(
            connection,
            "ann",
            "Ann@Example.com",
            name="Ann",
            photo_url="https://example.com/a.png",
            profile='{"plan": "pro"}',
        )
        _insert_0001_user(connection, "ann-again", "ann@example.COM")  # one mailbox, twice
        _insert_0001_user(connection, "strasse", "strasse@x.com")
        _insert_0001_user(connection, "strasze", "straße@x.com")  # casefold merged these
        _insert_0001_user(connection, "nobody", None)
    fresh_store.migrate()
    assert _revision(fresh_store) == HEAD

    users = {u.user_id: u for u in fresh_store.users("ws_1")}
    assert (users["ann"].email, users["ann"].email_key, users["ann"].email_conflict) == (
        "Ann@Example.com",
        None,
        "ann@example.com",
    )
    assert users["ann-again"].email_conflict == "ann@example.com"
    assert (users["strasse"].email_key, users["strasze"].email_key) == (
        "strasse@x.com",
        "straße@x.com",
    )
    assert users["nobody"].email_key is None
    profile = fresh_store.user_profile("ws_1", "ann")
    assert profile is not None
    assert (profile.profile, profile.updated_at) == (
        {"plan": "pro", "name": "Ann", "photoUrl": "https://example.com/a.png"},
        2.0,
    )
    assert fresh_store.user_profile("ws_1", "strasse") is None
    assert fresh_store.contested("ws_1", "ann@example.com")
    assert [u.user_id for u in fresh_store.email_sharers("ws_1", "ann@example.com")] == [
        "ann",
        "ann-again",
    ]
    with fresh_store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_0002_downgrades_to_0001(fresh_store: Store) -> None:
    fresh_store.migrate()
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", str(Path(store_module.__file__).with_name("migrations"))
    )
    with fresh_store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert _revision(fresh_store) == "0001"
    assert "user_profiles" not in _tables(fresh_store)


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


def _alembic(store: Store, action: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", str(Path(store_module.__file__).with_name("migrations"))
    )
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


_CONSOLE_TABLES = {"console_accounts", "console_memberships", "console_sessions"}


def test_0004_adds_console_accounts_and_downgrades_to_0003(fresh_store: Store) -> None:
    fresh_store.migrate("0003")
    assert not _CONSOLE_TABLES & _tables(fresh_store)
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
    assert _revision(fresh_store) == HEAD
    assert _tables(fresh_store) >= _CONSOLE_TABLES
    with fresh_store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO console_accounts (id, email, email_key, password_hash, role,"
                " created_at, updated_at) VALUES ('ca_1', 'Ann@x.com', 'ann@x.com',"
                " '$argon2id$...', 'member', 1.0, 1.0)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO console_memberships (account_id, workspace_id, role, created_at)"
                " VALUES ('ca_1', 'ws_1', 'viewer', 1.0)"
            )
        )
    with fresh_store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []

    _alembic(fresh_store, "downgrade", "0003")
    assert _revision(fresh_store) == "0003"
    assert not _CONSOLE_TABLES & _tables(fresh_store)
    assert fresh_store.workspace_by_api_key("pk_1") is not None  # the rest is untouched
    _alembic(fresh_store, "upgrade", "head")
    assert _revision(fresh_store) == HEAD
