"""Revocation and audit over the admin API, with identify answering token_revoked."""

from __future__ import annotations

import jwt
import pytest

from .conftest import Api, assert_error, iso

ANN = {"userId": "user-1", "organizationId": "org-1", "email": "ann@example.com"}


def _revoke(api: Api, **body: str) -> dict[str, object]:
    response = api.client.post(
        f"/admin/v1/workspaces/{api.workspace.api_key}/revocations", json=body, headers=api.admin
    )
    assert response.status_code == 201, response.text
    revocation: dict[str, object] = response.json()
    return revocation


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"jti": None}, "jti"),
        ({"userId": "user-1"}, "user"),
        ({"organizationId": "org-1"}, "organization"),
    ],
)
def test_revoked_token_is_refused_by_identify(
    api: Api, body: dict[str, str | None], kind: str
) -> None:
    token = api.token()
    assert api.identify(ANN, token).status_code == 200
    if kind == "jti":
        body = {"jti": jwt.decode(token, options={"verify_signature": False})["jti"]}
    created = _revoke(api, **body, reason="test")
    assert created["kind"] == kind
    assert_error(api.identify(ANN, token), 401, "UNAUTHENTICATED", "token_revoked")
    # A token minted after a user/organization revocation is not revoked.
    api.clock.advance(1)
    fresh = api.token()
    assert api.identify(ANN, fresh).status_code == 200


def test_revocations_are_listed_and_drop_out_after_every_token_expired(api: Api) -> None:
    _revoke(api, userId="user-1")
    path = f"/admin/v1/workspaces/{api.workspace.api_key}/revocations"
    assert [r["value"] for r in api.client.get(path, headers=api.admin).json()["revocations"]] == [
        "user-1"
    ]
    api.clock.advance(30 * 86400 + api.settings.leeway_seconds)
    assert api.idmint.revocations.purge() == 1
    assert api.client.get(path, headers=api.admin).json()["revocations"] == []


@pytest.mark.parametrize("body", [{}, {"jti": "a", "userId": "b"}])
def test_revocation_needs_exactly_one_target(api: Api, body: dict[str, str]) -> None:
    with api.unchanged():
        response = api.client.post(
            f"/admin/v1/workspaces/{api.workspace.api_key}/revocations",
            json=body,
            headers=api.admin,
        )
    assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument")


def test_workspace_auth_token_may_revoke_in_its_own_workspace_only(api: Api) -> None:
    other = api.new_workspace()
    response = api.client.post(
        f"/admin/v1/workspaces/{other.api_key}/revocations",
        json={"userId": "user-1"},
        headers=api.bearer(api.workspace.secret),
    )
    assert_error(response, 403, "PERMISSION_DENIED", "auth_token_wrong_workspace")


def test_audit_pages_events_newest_first_with_filters(api: Api) -> None:
    api.token()
    api.identify({"userId": "user-2"}, api.token())  # user_mismatch: a failure
    _revoke(api, userId="user-1")
    path = f"/admin/v1/workspaces/{api.workspace.api_key}/audit"
    everything = api.client.get(path, headers=api.admin).json()["events"]
    actions = [event["action"] for event in everything]
    # identify failures are counted per minute and written as one event when it is over (or
    # when the log is read), so the revocation is the newest event but one.
    assert next(a for a in actions if a != "identify") == "revocation.create"
    assert {"token.mint", "identify", "auth_token.create", "workspace.create"} <= set(actions)
    ids = [event["id"] for event in everything]
    assert ids == sorted(ids, reverse=True)
    failures = api.client.get(path, params={"outcome": "failure"}, headers=api.admin).json()
    assert [(e["action"], e["reasonCode"]) for e in failures["events"]] == [
        ("identify", "user_mismatch")
    ]
    first = api.client.get(path, params={"limit": 2}, headers=api.admin).json()
    assert len(first["events"]) == 2
    second = api.client.get(
        path, params={"limit": 2, "before": first["next"]}, headers=api.admin
    ).json()
    assert second["events"][0]["id"] < first["events"][-1]["id"]
    text = str(everything)
    assert api.workspace.secret not in text  # never a secret in the log


def test_audit_needs_credentials(api: Api) -> None:
    response = api.client.get(f"/admin/v1/workspaces/{api.workspace.api_key}/audit")
    assert_error(response, 401, "UNAUTHENTICATED", "credentials_missing")


def test_keys_rotate_publishes_then_promotes(api: Api) -> None:
    path = f"/admin/v1/workspaces/{api.workspace.api_key}/keys"
    before = api.client.get(path, headers=api.admin).json()["keys"]
    assert [key["state"] for key in before] == ["active"]
    rotated = api.client.post(f"{path}/rotate", json={}, headers=api.bearer(api.workspace.secret))
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["state"] == "next"
    assert new["promotesAt"] is not None
    jwks = api.client.get(f"/w/{api.workspace.api_key}/.well-known/jwks.json").json()
    assert new["kid"] in {key["kid"] for key in jwks["keys"]}
    old_token = api.token()
    api.clock.advance(api.settings.key_prepublish_seconds)
    states = {k["kid"]: k["state"] for k in api.client.get(path, headers=api.admin).json()["keys"]}
    assert states == {before[0]["kid"]: "retiring", new["kid"]: "active"}
    assert jwt.get_unverified_header(api.token())["kid"] == new["kid"]
    assert api.identify(ANN, old_token).status_code == 200


def test_keys_rotate_refuses_unknown_fields_and_algorithms(api: Api) -> None:
    path = f"/admin/v1/workspaces/{api.workspace.api_key}/keys/rotate"
    for body in ({"alg": "HS256"}, {"alg": "none"}, {"when": "now"}):
        with api.unchanged():
            response = api.client.post(path, json=body, headers=api.admin)
        assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument")


def test_expired_token_answer_says_when_it_expired(api: Api) -> None:
    token = api.token(expires_in=60)
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    api.clock.advance(60 + api.settings.leeway_seconds - 1)
    assert api.identify(ANN, token).status_code == 200  # inside the leeway
    api.clock.advance(1)
    error = assert_error(api.identify(ANN, token), 401, "UNAUTHENTICATED", "token_expired")
    assert error["expiredAt"] == iso(exp)
