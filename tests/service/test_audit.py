"""The audit log: every mint, identify failure and credential change; batched; never a secret."""

from __future__ import annotations

from typing import Any

import pytest

from idmint import FrozenClock
from idmint.jose.errors import IdmintError
from idmint.service import Idmint, InitResult
from idmint.service.audit import AuditLog
from idmint.store import AuditEvent, Store

from .conftest import audit_row_text, audit_rows

ANN = {"userId": "user-1", "organizationId": "org-1", "email": "ann@example.com"}


def _events(idmint: Idmint, action: str, workspace_id: str | None = None) -> list[AuditEvent]:
    return [
        e
        for e in audit_rows(idmint)
        if e.action == action and (workspace_id is None or e.workspace_id == workspace_id)
    ]


def _mint_ann(idmint: Idmint, tenant: InitResult, **fields: Any) -> Any:
    return idmint.tokens.mint(
        tenant.workspace.api_key,
        tenant.auth_token.secret,
        "user-1",
        organization_id="org-1",
        email="ann@example.com",
        **fields,
    )


def test_a_mints_event_is_committed_before_the_mint_returns(
    idmint: Idmint, tenant: InitResult
) -> None:
    _mint_ann(idmint, tenant)
    # No flush: the mint's answer waited for its own commit.
    [event] = [e for e in idmint.store.audit_events(None) if e.action == "token.mint"]
    assert event.outcome == "success"


def test_record_waits_for_the_commit_and_queue_does_not(store: Store, clock: FrozenClock) -> None:
    log = AuditLog(store, clock)
    log.record("test.recorded", workspace_id=None, actor="cli")
    assert [e.action for e in store.audit_events(None)] == ["test.recorded"]
    for _ in range(3):
        log.queue("test.queued", workspace_id=None, actor="cli")
    log.flush()
    assert [e.action for e in store.audit_events(None)].count("test.queued") == 3


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("user:ann", "user:ann"),
        ("ユーザー 🚀", "ユーザー 🚀"),
        ("user:a\nb\x00c\x7f", "user:a\\x0ab\\x00c\\x7f"),
        ("x" * 300, "x" * 256),
        ("\t" + "y" * 299, "\\x09" + "y" * 252),
    ],
)
def test_actor_and_subject_are_cut_and_escaped(
    store: Store, clock: FrozenClock, given: str, kept: str
) -> None:
    log = AuditLog(store, clock)
    log.record("test.event", workspace_id=None, actor=given, subject=given)
    log.flush()
    (event,) = store.audit_events(None)
    assert (event.actor, event.subject) == (kept, kept)


@pytest.mark.parametrize("key", ["token", "authToken", "secret", "password", "master_key"])
def test_detail_may_not_carry_secrets(store: Store, clock: FrozenClock, key: str) -> None:
    log = AuditLog(store, clock)
    with pytest.raises(ValueError, match=key):
        log.record("test.event", workspace_id=None, actor="cli", **{key: "x"})
    with pytest.raises(ValueError, match=key):
        log.queue("test.event", workspace_id=None, actor="cli", **{key: "x"})
    log.flush()
    assert store.audit_events(None) == []


def test_mint_success_event(idmint: Idmint, tenant: InitResult, clock: FrozenClock) -> None:
    minted = _mint_ann(idmint, tenant)
    [event] = _events(idmint, "token.mint")
    assert (event.workspace_id, event.outcome, event.reason_code, event.subject) == (
        tenant.workspace.id,
        "success",
        None,
        "user-1",
    )
    assert event.actor == f"auth_token:{tenant.auth_token.record.id}"
    assert event.at == clock.now()
    assert event.detail == {
        "jti": minted.jti,
        "kid": minted.kid,
        "expires_at": minted.expires_at,
    }


def test_mint_failure_events_carry_reason_codes(
    idmint: Idmint, tenant: InitResult, other_tenant: InitResult
) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    attempts = [
        ("pk_unknown", secret, {}),
        (api_key, "sk_unknown", {}),
        (api_key, other_tenant.auth_token.secret, {}),
        (api_key, secret, {"expires_in": 0}),
        (api_key, secret, {"email": "nope"}),
    ]
    for key, token, fields in attempts:
        with pytest.raises(IdmintError):
            idmint.tokens.mint(key, token, "user-1", **fields)
    idmint.workspaces.update_settings(api_key, actor="admin", auto_create_users=False)
    with pytest.raises(IdmintError):
        idmint.tokens.mint(api_key, secret, "stranger")

    failures = [e for e in _events(idmint, "token.mint") if e.outcome == "failure"]
    assert sorted((e.reason_code, e.subject) for e in failures) == sorted(
        [
            # Unknown credentials are what anonymous traffic can send without bound: they
            # are counted per workspace, code and minute, not written one row each.
            ("api_key_not_found", None),
            ("auth_token_not_found", None),
            ("auth_token_wrong_workspace", "user-1"),
            ("lifetime_out_of_bounds", "user-1"),
            ("invalid_email", "user-1"),
            ("user_not_found", "stranger"),
        ]
    )
    after_auth = {e.reason_code: e for e in failures}
    for code in ("api_key_not_found", "auth_token_not_found"):
        assert after_auth[code].actor == "anonymous"
        assert after_auth[code].detail["count"] == 1
    assert after_auth["api_key_not_found"].workspace_id is None
    assert after_auth["auth_token_not_found"].workspace_id == tenant.workspace.id
    for code in ("lifetime_out_of_bounds", "invalid_email", "user_not_found"):
        assert after_auth[code].workspace_id == tenant.workspace.id
        assert after_auth[code].actor == f"auth_token:{tenant.auth_token.record.id}"


def test_revoked_auth_token_use_shows_in_its_workspace_log(
    idmint: Idmint, tenant: InitResult
) -> None:
    # A workspace admin who revoked a leaked token needs to see it being tried.
    api_key = tenant.workspace.api_key
    idmint.workspaces.revoke_auth_token(api_key, tenant.auth_token.record.id, actor="admin")
    with pytest.raises(IdmintError):
        idmint.tokens.mint(api_key, tenant.auth_token.secret, "user-1")
    idmint.audit.flush()
    failures = idmint.store.audit_events(tenant.workspace.id, action="token.mint")
    assert [(e.outcome, e.reason_code) for e in failures] == [("failure", "auth_token_revoked")]


def test_mint_for_email_events(idmint: Idmint, tenant: InitResult) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    idmint.users.create(api_key, "user-1", actor="admin", email="ann@example.com")
    minted, _ = idmint.tokens.mint_for_email(api_key, secret, "ann@example.com")
    for email in ("stranger@example.com", "not-an-email"):
        with pytest.raises(IdmintError):
            idmint.tokens.mint_for_email(api_key, secret, email)

    events = _events(idmint, "token.mint")
    assert [(e.outcome, e.reason_code) for e in events] == [
        ("failure", "invalid_email"),
        ("failure", "user_not_found"),
        ("success", None),
    ]
    assert events[-1].subject == "user-1"
    assert events[-1].detail["jti"] == minted.jti


def test_mint_for_email_credential_failures_are_audited(idmint: Idmint, tenant: InitResult) -> None:
    with pytest.raises(IdmintError):
        idmint.tokens.mint_for_email(tenant.workspace.api_key, "sk_unknown", "ann@example.com")
    events = _events(idmint, "token.mint")
    assert [(e.outcome, e.reason_code) for e in events] == [("failure", "auth_token_not_found")]


def test_identify_failure_events(idmint: Idmint, tenant: InitResult, clock: FrozenClock) -> None:
    api_key = tenant.workspace.api_key
    minted = _mint_ann(idmint, tenant, expires_in=60)
    attempts: list[tuple[dict[str, Any], str | None]] = [
        (ANN, None),
        ({**ANN, "userId": "user-2"}, minted.token),
        ({**ANN, "organizationId": "org-2"}, minted.token),
        ({**ANN, "email": "bob@example.com"}, minted.token),
        (ANN, "garbage"),
        (ANN, "garbage"),
    ]
    for body, token in attempts:
        with pytest.raises(IdmintError):
            idmint.tokens.identify(api_key, body, token)
    idmint.revocations.add(tenant.workspace, "jti", minted.jti, expires_at=minted.expires_at)
    with pytest.raises(IdmintError):
        idmint.tokens.identify(api_key, ANN, minted.token)
    clock.advance(3600)
    with pytest.raises(IdmintError):
        idmint.tokens.identify(api_key, ANN, minted.token)

    # identify is anonymous traffic: its failures are counted per workspace, code and
    # minute, each minute one event with the count (not one row per attempt).
    events = _events(idmint, "identify")
    assert sorted((e.reason_code, e.detail["count"]) for e in events) == [
        ("email_mismatch", 1),
        ("jwt_required", 1),
        ("organization_mismatch", 1),
        ("token_expired", 1),
        ("token_malformed", 2),
        ("token_revoked", 1),
        ("user_mismatch", 1),
    ]
    for event in events:
        assert (event.outcome, event.workspace_id) == ("failure", tenant.workspace.id)
        assert (event.actor, event.subject) == ("anonymous", None)
        assert event.at == event.detail["minute"]
        assert event.at % 60 == 0


def test_identify_with_a_bad_user_id_is_audited(idmint: Idmint, tenant: InitResult) -> None:
    with pytest.raises(IdmintError):
        idmint.tokens.identify(tenant.workspace.api_key, {"email": "ann@example.com"}, None)
    events = _events(idmint, "identify")
    assert [(e.outcome, e.reason_code) for e in events] == [("failure", "invalid_argument")]


def test_successful_identify_is_not_a_failure_event(idmint: Idmint, tenant: InitResult) -> None:
    minted = _mint_ann(idmint, tenant)
    idmint.tokens.identify(tenant.workspace.api_key, ANN, minted.token)
    assert [e for e in audit_rows(idmint) if e.outcome == "failure"] == []


def test_credential_changes_are_audited(idmint: Idmint, tenant: InitResult) -> None:
    api_key = tenant.workspace.api_key
    created = idmint.workspaces.create_auth_token(api_key, "ci", actor="admin:ann")
    idmint.workspaces.revoke_auth_token(api_key, created.record.id, actor="admin:ann")
    idmint.workspaces.update_settings(
        api_key, actor="admin:ann", require_jwt=False, token_ttl_seconds=3600
    )
    events = [e for e in audit_rows(idmint) if e.workspace_id == tenant.workspace.id]
    summary = [(e.action, e.actor, e.subject) for e in reversed(events)]
    assert summary == [
        ("workspace.create", "cli", None),
        ("auth_token.create", "cli", tenant.auth_token.record.id),
        ("auth_token.create", "admin:ann", created.record.id),
        ("auth_token.revoke", "admin:ann", created.record.id),
        ("workspace.settings", "admin:ann", None),
    ]
    assert events[0].detail == {"changed": ["require_jwt", "token_ttl_seconds"]}
    assert events[2].detail == {"name": "ci", "scopes": ["mint"]}


def test_no_audit_row_holds_an_auth_token_secret_or_a_jwt(
    idmint: Idmint, tenant: InitResult, other_tenant: InitResult, clock: FrozenClock
) -> None:
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    spare = idmint.workspaces.create_auth_token(api_key, "spare", actor="admin")
    tokens: list[str] = []
    secrets = [secret, spare.secret, other_tenant.auth_token.secret, "sk_guessed-secret-123"]

    # Successes.
    minted = _mint_ann(idmint, tenant, is_admin=True)
    tokens.append(minted.token)
    idmint.users.create(api_key, "user-9", actor="admin", email="nine@example.com")
    tokens.append(idmint.tokens.mint_for_email(api_key, spare.secret, "nine@example.com")[0].token)
    idmint.tokens.identify(api_key, ANN, minted.token)
    # Failures that carry the secrets and tokens as input.
    failures: list[tuple[Any, ...]] = [
        (idmint.tokens.mint, api_key, "sk_guessed-secret-123", "user-1"),
        (idmint.tokens.mint, api_key, other_tenant.auth_token.secret, "user-1"),
        (idmint.tokens.mint, "pk_unknown", secret, "user-1"),
        (idmint.tokens.mint_for_email, api_key, "sk_guessed-secret-123", "a@example.com"),
        (idmint.tokens.mint_for_email, api_key, secret, "nobody@example.com"),
        (idmint.tokens.identify, api_key, {**ANN, "userId": "user-2"}, minted.token),
        (idmint.tokens.identify, api_key, {**ANN, "email": "x@example.com"}, minted.token),
        (idmint.tokens.identify, api_key, ANN, minted.token + "x"),
    ]
    for call, *args in failures:
        with pytest.raises(IdmintError):
            call(*args)
    idmint.workspaces.revoke_auth_token(api_key, spare.record.id, actor="admin")
    with pytest.raises(IdmintError):
        idmint.tokens.mint(api_key, spare.secret, "user-1")
    idmint.revocations.add(tenant.workspace, "jti", minted.jti, expires_at=minted.expires_at)
    with pytest.raises(IdmintError):
        idmint.tokens.identify(api_key, ANN, minted.token)
    clock.advance(4 * 24 * 3600)
    with pytest.raises(IdmintError):
        idmint.tokens.identify(api_key, ANN, tokens[1])

    rows = audit_rows(idmint)
    assert len(rows) >= 15
    needles = [*secrets, *tokens]
    # Also each token's signature and payload segments, and each secret without its prefix.
    needles += [part for token in tokens for part in token.split(".")[1:]]
    needles += [s.removeprefix("sk_") for s in secrets]
    for row in rows:
        text = audit_row_text(row)
        for needle in needles:
            assert needle not in text, (row.action, row.outcome, row.reason_code)
