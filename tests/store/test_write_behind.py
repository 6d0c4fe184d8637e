"""Write-behind: user upserts and sessions buffered until ``flush_pending``, on both backends.

The buffer must behave exactly like writing each call at once, as seen through the store: a
read flushes first, merged upserts equal the same upserts applied in order, a deletion is not
undone by a buffered upsert, and a failed batch loses nothing it need not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

import idmint.store as store_module
from idmint.errors import UnavailableError
from idmint.store import Session, Store, User
from store.conftest import empty_tables
from store.test_store import NOW, count, make_workspace, organizations


@pytest.fixture
def buffered(store: Store) -> Iterator[Store]:
    store.write_behind = True
    try:
        yield store
    finally:
        store.write_behind = False
        store.flush_pending()


def stored_users(store: Store) -> list[tuple[Any, ...]]:
    """The users table as the database holds it, without flushing anything."""
    with store.engine.connect() as connection:
        return sorted(tuple(row) for row in connection.execute(select(User.__table__)).all())


def session_row(workspace_id: str, session_id: str, user_id: str, jti: str) -> dict[str, Any]:
    return {
        "id": session_id,
        "workspace_id": workspace_id,
        "user_id": user_id,
        "jti": jti,
        "verified": True,
        "is_admin": False,
        "expires_at": NOW + 600,
        "created_at": NOW,
        "ended_at": None,
    }


def test_upserts_wait_for_the_flush_and_reads_flush_first(buffered: Store) -> None:
    workspace = make_workspace(buffered)
    buffered.upsert_user(workspace.id, "user-1", {"organization_id": "org-1"}, NOW)
    assert stored_users(buffered) == []
    assert buffered.pending == 1

    user = buffered.user(workspace.id, "user-1")  # a read writes what is buffered first
    assert user is not None
    assert user.organization_id == "org-1"
    assert buffered.pending == 0
    assert len(stored_users(buffered)) == 1
    assert organizations(buffered, workspace) == ["org-1"]


@pytest.mark.parametrize(
    "read",
    [
        lambda store, ws: store.user_by_email(ws, "a@example.com"),
        lambda store, ws: store.users(ws),
        lambda store, ws: store.end_sessions(ws, NOW, user_id="nobody"),
        lambda store, ws: store.session_record("ses_x"),
    ],
    ids=["user_by_email", "users", "end_sessions", "session_record"],
)
def test_every_read_of_users_or_sessions_flushes(buffered: Store, read: Any) -> None:
    workspace = make_workspace(buffered)
    buffered.upsert_user(workspace.id, "user-1", {"email": "a@example.com"}, NOW)
    read(buffered, workspace.id)
    assert buffered.pending == 0
    assert len(stored_users(buffered)) == 1


def test_many_upserts_of_one_user_are_one_row_applied_in_order(buffered: Store) -> None:
    workspace = make_workspace(buffered)
    buffered.upsert_user(
        workspace.id,
        "user-1",
        {"organization_id": "org-1", "email": "a@example.com", "name": "Ann", "is_admin": True},
        NOW,
    )
    buffered.upsert_user(workspace.id, "user-1", {"email": "B@example.com"}, NOW + 1)
    buffered.upsert_user(workspace.id, "user-1", {"is_admin": False, "profile": {"p": 1}}, NOW + 2)
    assert buffered.pending == 1
    user = buffered.user_by_email(workspace.id, "b@EXAMPLE.com")
    assert user is not None
    assert (user.organization_id, user.email, user.name, user.is_admin, user.profile) == (
        "org-1",
        "B@example.com",
        "Ann",
        False,
        {"p": 1},
    )
    assert (user.created_at, user.updated_at) == (NOW, NOW + 2)


def test_a_buffered_upsert_merges_into_an_existing_row(buffered: Store) -> None:
    workspace = make_workspace(buffered)
    buffered.upsert_user(workspace.id, "user-1", {"name": "Ann", "email": "a@example.com"}, NOW)
    buffered.flush_pending()
    buffered.upsert_user(workspace.id, "user-1", {"name": "Bea"}, NOW + 3)
    user = buffered.user(workspace.id, "user-1")
    assert user is not None
    assert (user.name, user.email, user.created_at, user.updated_at) == (
        "Bea",
        "a@example.com",
        NOW,
        NOW + 3,
    )


def test_delete_is_not_undone_by_a_buffered_upsert(buffered: Store) -> None:
    workspace = make_workspace(buffered)
    buffered.upsert_user(workspace.id, "user-1", {}, NOW)
    assert buffered.delete_user(workspace.id, "user-1")
    buffered.flush_pending()
    assert buffered.user(workspace.id, "user-1") is None


def test_buffered_sessions_are_ended_by_end_sessions(buffered: Store) -> None:
    workspace = make_workspace(buffered)
    buffered.upsert_user(workspace.id, "user-1", {}, NOW)
    buffered.add_session(session_row(workspace.id, "ses_1", "user-1", "jti-1"))
    buffered.add_session(session_row(workspace.id, "ses_2", "user-1", "jti-2"))
    assert count(buffered, Session) == 0
    assert buffered.end_sessions(workspace.id, NOW + 1, jti="jti-2") == 1
    record = buffered.session_record("ses_2")
    assert record is not None
    assert record.ended_at == NOW + 1
    assert count(buffered, Session) == 2


def test_a_full_buffer_is_written_by_the_call_that_fills_it(
    buffered: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "MAX_PENDING_ROWS", 3)
    workspace = make_workspace(buffered)
    for n in range(2):
        buffered.upsert_user(workspace.id, f"user-{n}", {}, NOW)
    assert stored_users(buffered) == []
    buffered.upsert_user(workspace.id, "user-2", {}, NOW)
    assert buffered.pending == 0
    assert len(stored_users(buffered)) == 3


def test_a_row_the_database_refuses_is_dropped_alone(
    buffered: Store, caplog: pytest.LogCaptureFixture
) -> None:
    workspace = make_workspace(buffered)
    buffered.upsert_user(workspace.id, "user-1", {}, NOW)
    buffered.upsert_user("ws_deleted", "user-2", {}, NOW)  # no such workspace: a foreign key
    buffered.add_session(session_row(workspace.id, "ses_1", "user-1", "jti-1"))
    assert buffered.flush_pending() == 2
    assert [row[1] for row in stored_users(buffered)] == ["user-1"]
    assert count(buffered, Session) == 1
    assert "user 'user-2' of ws_deleted dropped" in caplog.text


def test_an_unavailable_store_keeps_the_batch_in_order() -> None:
    store = Store.open(
        "postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2", write_behind=True
    )
    try:
        store.upsert_user("ws_1", "user-1", {"name": "Ann", "email": "a@example.com"}, NOW)
        store.add_session(session_row("ws_1", "ses_1", "user-1", "jti-1"))
        with pytest.raises(UnavailableError):
            store.flush_pending()
        assert store.pending == 2
        # What arrives meanwhile merges after the unwritten batch, as if applied in order.
        store.upsert_user("ws_1", "user-1", {"name": "Bea"}, NOW + 1)
        store.add_session(session_row("ws_1", "ses_2", "user-1", "jti-2"))
        with pytest.raises(UnavailableError):
            store.flush_pending()
        fields, row = store._pending_users["ws_1", "user-1"]
        assert fields == {"name", "email", "email_key"}
        assert (row["name"], row["email"], row["created_at"], row["updated_at"]) == (
            "Bea",
            "a@example.com",
            NOW,
            NOW + 1,
        )
        assert [s["id"] for s in store._pending_sessions] == ["ses_1", "ses_2"]
    finally:
        store.write_behind = False
        store._pending_users.clear()
        store._pending_sessions.clear()
        store.close()


_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "organization_id": st.sampled_from(["org-1", "org-2"]),
        "email": st.sampled_from(["a@example.com", "B@example.com"]),
        "name": st.sampled_from(["Ann", "Bea"]),
        "profile": st.sampled_from([{}, {"plan": "pro"}]),
        "is_admin": st.booleans(),
    },
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(calls=st.lists(st.tuples(st.sampled_from(["user-1", "user-2"]), _FIELDS), max_size=6))
def test_buffered_upserts_equal_the_same_upserts_written_at_once(
    store: Store, calls: list[tuple[str, dict[str, Any]]]
) -> None:
    results = []
    for write_behind in (False, True):
        empty_tables(store)
        store._orgs.clear()
        store.write_behind = write_behind
        workspace = make_workspace(store, id="ws_prop", api_key="pk_prop")
        try:
            for n, (user_id, values) in enumerate(calls):
                store.upsert_user(workspace.id, user_id, values, NOW + n)
            store.flush_pending()
        finally:
            store.write_behind = False
        results.append((stored_users(store), organizations(store, workspace)))
    assert results[0] == results[1]
