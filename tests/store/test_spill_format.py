"""The spill file's format (see idmint.store.units): a file an earlier idmint wrote when it
closed with the store down must replay on this one, on both backends.

The lines below are exactly what idmint wrote at 13b1ea9, before the units' rows were typed:
one JSON object per unit (its user upserts and profiles as ``[workspace id, user id, data,
time]``, its session and audit rows as objects), and one of last-used times.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from idmint.store import Store, Unit
from store.test_store import make_auth_token, make_workspace

SPILLED_UNIT = (
    b'{"users":[["ws_spill","ann",{"organization_id":"org-1","email":"Ann@Example.com",'
    b'"email_key":"ann@example.com","email_conflict":null,"is_admin":false},1800000000.0]],'
    b'"profiles":[["ws_spill","ann",{"name":"Ann","photoUrl":"https://example.com/a.png"},'
    b'1800000001.0]],"sessions":[{"id":"ses_1","workspace_id":"ws_spill","user_id":"ann",'
    b'"jti":"jti-1","verified":true,"is_admin":false,"expires_at":1800000600.0,'
    b'"created_at":1800000001.0,"ended_at":null}],"audit":[{"workspace_id":"ws_spill",'
    b'"at":1800000002.0,"actor":"auth_token:at_1","action":"token.mint","outcome":"success",'
    b'"reason_code":null,"subject":"ann","detail":{"jti":"jti-1","kid":"k1",'
    b'"expires_at":1800000600}}]}'
)
SPILLED_TOUCHES = b'{"touches":{"at_1":1800000003.0}}'


def test_a_unit_is_spilled_in_the_same_format_it_is_read_from() -> None:
    unit = Unit.from_json(orjson.loads(SPILLED_UNIT))
    # The same, but that audit rows now name the client (None for a spill from before).
    expected = orjson.loads(SPILLED_UNIT)
    for row in expected["audit"]:
        row["client_address"] = None
    assert orjson.loads(orjson.dumps(unit.to_json())) == expected
    again = Unit.from_json(unit.to_json())
    assert orjson.dumps(again.to_json()) == orjson.dumps(unit.to_json())


def test_a_spill_file_from_before_the_typed_rows_replays(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = make_workspace(store, id="ws_spill", api_key="pk_spill")
    make_auth_token(store, workspace, id="at_1")
    (tmp_path / "spill-4242-1.jsonl").write_bytes(SPILLED_UNIT + b"\n" + SPILLED_TOUCHES + b"\n")
    monkeypatch.setattr(store, "spill_dir", tmp_path)

    assert store.replay_spill() == 1
    assert list(tmp_path.iterdir()) == []  # replayed, then deleted
    user = store.user("ws_spill", "ann")
    assert user is not None
    assert (
        user.organization_id,
        user.email,
        user.email_key,
        user.email_conflict,
        user.is_admin,
        user.created_at,
        user.updated_at,
    ) == ("org-1", "Ann@Example.com", "ann@example.com", None, False, 1800000000.0, 1800000000.0)
    profile = store.user_profile("ws_spill", "ann")
    assert profile is not None
    assert (profile.profile, profile.updated_at) == (
        {"name": "Ann", "photoUrl": "https://example.com/a.png"},
        1800000001.0,
    )
    session = store.session_record("ses_1")
    assert session is not None
    assert (
        session.workspace_id,
        session.user_id,
        session.jti,
        session.verified,
        session.is_admin,
        session.expires_at,
        session.created_at,
        session.ended_at,
    ) == ("ws_spill", "ann", "jti-1", True, False, 1800000600.0, 1800000001.0, None)
    (event,) = store.audit_events("ws_spill")
    assert (
        event.at,
        event.actor,
        event.action,
        event.outcome,
        event.reason_code,
        event.subject,
        event.detail,
    ) == (
        1800000002.0,
        "auth_token:at_1",
        "token.mint",
        "success",
        None,
        "ann",
        {"jti": "jti-1", "kid": "k1", "expires_at": 1800000600},
    )
    (token,) = store.auth_tokens("ws_spill")
    assert token.last_used_at == 1800000003.0
    assert store.user_by_email("ws_spill", "ANN@example.com") is not None
