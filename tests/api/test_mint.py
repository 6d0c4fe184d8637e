"""``POST /v1/auth/token/get`` exactly as seed 000 writes it: request, success and failures."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import (
    Api,
    AppFactory,
    Workspace,
    assert_envelope,
    assert_error,
    iso,
    verify_with_pyjwt,
)

MINT = "/v1/auth/token/get"
DAY = 86_400


# --- success ------------------------------------------------------------------------------------


def test_mint_answers_the_seed_shape_and_the_token_verifies_with_pyjwt(backend_api: Api) -> None:
    api = backend_api
    ws = api.workspace
    body = {
        "data": {
            "apiKey": ws.api_key,
            "authToken": ws.secret,
            "userId": "yourUserId",
            "userProperties": {
                "isAdmin": True,
                "organizationId": "YOUR_ORGANIZATION_ID",
                "email": "user1@velt.dev",
            },
        }
    }
    response = api.client.post(
        MINT, content=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    assert set(answer) == {"result"}
    assert set(answer["result"]) == {"status", "message", "data"}
    assert answer["result"]["status"] == "success"
    assert answer["result"]["message"] == "Token generated successfully."
    data = answer["result"]["data"]
    assert set(data) == {"token", "expiresAt", "expiresIn"}
    assert data["expiresIn"] == 2 * DAY  # the 48 hours of the seed
    assert data["expiresAt"] == iso(api.clock.now() + 2 * DAY)

    claims = verify_with_pyjwt(api, data["token"])
    assert claims["sub"] == "yourUserId"
    assert claims["organizationId"] == "YOUR_ORGANIZATION_ID"
    assert claims["email"] == "user1@velt.dev"
    assert claims["isAdmin"] is True
    assert claims["aud"] == ws.api_key
    assert claims["iss"] == ws.issuer == f"{api.settings.base_url}/w/{ws.api_key}"
    assert claims["exp"] - claims["iat"] == 2 * DAY
    assert claims["nbf"] == claims["iat"] == int(api.clock.now())
    assert isinstance(claims["jti"], str)
    assert claims["jti"]


def test_mint_creates_the_user(backend_api: Api) -> None:
    api = backend_api
    api.token(user_id="new-user", organization_id="org-9", email="new@example.com")
    response = api.user("new-user")
    assert response.status_code == 200, response.text
    user = response.json()
    assert user["userId"] == "new-user"
    assert user["organizationId"] == "org-9"
    assert user["email"] == "new@example.com"
    assert user["isAdmin"] is True


def test_mint_twice_updates_the_user(backend_api: Api) -> None:
    api = backend_api
    api.token(user_id="u", organization_id="org-1", email="one@example.com", is_admin=True)
    api.clock.advance(60)
    api.token(user_id="u", organization_id="org-2", email="two@example.com", is_admin=False)
    user = api.user("u").json()
    assert user["organizationId"] == "org-2"
    assert user["email"] == "two@example.com"
    assert user["isAdmin"] is False
    assert user["updatedAt"] == iso(api.clock.now())
    assert user["createdAt"] == iso(api.clock.now() - 60)
    assert [u["userId"] for u in api.users()] == ["u"]


def test_is_admin_and_email_are_optional(api: Api) -> None:
    token = api.token(user_id="plain", is_admin=None, email=None)
    claims = verify_with_pyjwt(api, token)
    assert claims["isAdmin"] is False
    assert "email" not in claims
    assert api.user("plain").json()["isAdmin"] is False


def test_tokens_are_unique(api: Api) -> None:
    first = verify_with_pyjwt(api, api.token())
    second = verify_with_pyjwt(api, api.token())
    assert first["jti"] != second["jti"]


@pytest.mark.parametrize("expires_in", [1, 60, 3600, 7 * DAY])
def test_expires_in_within_bounds(api: Api, expires_in: int) -> None:
    response = api.mint(expires_in=expires_in)
    assert response.status_code == 200, response.text
    data = response.json()["result"]["data"]
    assert data["expiresIn"] == expires_in
    assert data["expiresAt"] == iso(api.clock.now() + expires_in)
    claims = verify_with_pyjwt(api, data["token"])
    assert claims["exp"] - claims["iat"] == expires_in


@pytest.mark.parametrize("expires_in", [0, -1, 7 * DAY + 1, 31 * DAY, 2**63])
def test_expires_in_outside_bounds(api: Api, expires_in: int) -> None:
    with api.unchanged():
        response = api.mint(user_id="bounded", expires_in=expires_in)
    assert_error(response, 400, "INVALID_ARGUMENT", "lifetime_out_of_bounds")
    assert api.user("bounded").status_code == 404


def test_workspace_lifetimes_apply_at_once(api: Api) -> None:
    api.patch_workspace(tokenTtlSeconds=600, maxTtlSeconds=3600, minTtlSeconds=60)
    default = api.mint().json()["result"]["data"]
    assert default["expiresIn"] == 600
    assert api.mint(expires_in=3600).status_code == 200
    with api.unchanged():
        too_long = api.mint(expires_in=3601)
        too_short = api.mint(expires_in=59)
    assert_error(too_long, 400, "INVALID_ARGUMENT", "lifetime_out_of_bounds")
    assert_error(too_short, 400, "INVALID_ARGUMENT", "lifetime_out_of_bounds")


def test_without_auto_create_an_unknown_user_is_not_created(api: Api) -> None:
    api.patch_workspace(autoCreateUsers=False)
    with api.unchanged():
        response = api.mint(user_id="stranger")
    assert_error(response, 404, "NOT_FOUND", "user_not_found")
    api.create_user("known")
    assert api.mint(user_id="known").status_code == 200


# --- credentials ----------------------------------------------------------------------------


def test_unknown_auth_token_is_the_seed_failure(backend_api: Api) -> None:
    api = backend_api
    body = api.mint_body()
    body["data"]["authToken"] = "sk_not-a-real-token"
    with api.unchanged():
        response = api.client.post(MINT, json=body)
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "Auth token not found.",
            "status": "INVALID_ARGUMENT",
            "code": "auth_token_not_found",
        }
    }


def test_unknown_api_key(api: Api) -> None:
    body = api.mint_body()
    body["data"]["apiKey"] = "pk_unknown"
    with api.unchanged():
        response = api.client.post(MINT, json=body)
    assert_error(
        response, 400, "INVALID_ARGUMENT", "api_key_not_found", message="API key not found."
    )


def test_revoked_auth_token(api: Api) -> None:
    api.token()
    api.revoke()
    with api.unchanged():
        response = api.mint(user_id="after-revocation")
    assert_error(response, 403, "PERMISSION_DENIED", "auth_token_revoked", field=None)


def test_auth_token_of_another_workspace(api: Api, workspace: Callable[..., Workspace]) -> None:
    other = workspace("other")
    body = api.mint_body()
    body["data"]["authToken"] = other.secret
    with api.unchanged():
        response = api.client.post(MINT, json=body)
    assert_error(response, 403, "PERMISSION_DENIED", "auth_token_wrong_workspace", field=None)
    # and the other workspace's own pair works
    assert api.mint(other).status_code == 200


def test_expired_auth_token(api: Api) -> None:
    created = api.client.post(
        f"/admin/v1/workspaces/{api.workspace.api_key}/auth-tokens",
        json={"name": "short-lived", "expiresAt": iso(api.clock.now() + 3600)},
        headers=api.admin,
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    body = api.mint_body()
    body["data"]["authToken"] = secret
    assert api.client.post(MINT, json=body).status_code == 200
    api.clock.advance(3600)
    with api.unchanged():
        response = api.client.post(MINT, json=body)
    assert_error(response, 403, "PERMISSION_DENIED", "auth_token_expired")


def test_credential_errors_are_distinct(api: Api, workspace: Callable[..., Workspace]) -> None:
    other = workspace("third")
    cases: list[tuple[str, str]] = [("apiKey", "pk_nope"), ("authToken", "sk_nope")]
    seen = set()
    for name, value in cases:
        body = api.mint_body()
        body["data"][name] = value
        seen.add(assert_envelope(api.client.post(MINT, json=body))["code"])
    body = api.mint_body()
    body["data"]["authToken"] = other.secret
    seen.add(assert_envelope(api.client.post(MINT, json=body))["code"])
    api.revoke()
    seen.add(assert_envelope(api.mint())["code"])
    assert seen == {
        "api_key_not_found",
        "auth_token_not_found",
        "auth_token_wrong_workspace",
        "auth_token_revoked",
    }


# --- bad requests -------------------------------------------------------------------------------


def _without(body: dict[str, Any], path: str) -> dict[str, Any]:
    body = copy.deepcopy(body)
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[part]
    del target[last]
    return body


def _with(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[part]
    target[last] = value
    return body


REQUIRED = [
    "data",
    "data.apiKey",
    "data.authToken",
    "data.userId",
    "data.userProperties",
    "data.userProperties.organizationId",
]


@pytest.mark.parametrize("path", REQUIRED)
def test_missing_required_field_is_named(api: Api, path: str) -> None:
    with api.unchanged():
        response = api.client.post(MINT, json=_without(api.mint_body(), path))
    assert_error(
        response,
        400,
        "INVALID_ARGUMENT",
        "invalid_argument",
        field=path,
        message=f"{path} is required.",
    )


@pytest.mark.parametrize("path", [p for p in REQUIRED if p not in ("data", "data.userProperties")])
def test_empty_required_field_is_named(api: Api, path: str) -> None:
    with api.unchanged():
        response = api.client.post(MINT, json=_with(api.mint_body(), path, ""))
    assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument", field=path)


def test_empty_user_properties_names_organization_id(api: Api) -> None:
    with api.unchanged():
        response = api.client.post(MINT, json=_with(api.mint_body(), "data.userProperties", {}))
    assert_error(
        response,
        400,
        "INVALID_ARGUMENT",
        "invalid_argument",
        field="data.userProperties.organizationId",
    )


@pytest.mark.parametrize("path", ["data.userId", "data.userProperties.organizationId"])
def test_blank_identifier_is_named_by_its_request_path(api: Api, path: str) -> None:
    """A whitespace-only id is refused by the service layer; the envelope must still name the
    field the way the request spells it (``data.userId``), like every other field error."""
    with api.unchanged():
        response = api.client.post(MINT, json=_with(api.mint_body(), path, "   "))
    assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument", field=path)


def test_malformed_email_is_named_by_its_request_path(api: Api) -> None:
    with api.unchanged():
        response = api.mint(user_id="bad-email", email="not-an-email")
    assert_error(
        response, 400, "INVALID_ARGUMENT", "invalid_email", field="data.userProperties.email"
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("data.userProperties.isAdmin", "true"),
        ("data.userProperties.isAdmin", 1),
        ("data.userId", 5),
        ("data.userId", ["u"]),
        ("data.apiKey", None),
        ("data.authToken", {"a": 1}),
        ("data.userProperties.organizationId", 7),
        ("data.userProperties.email", False),
        ("data.expiresIn", "60"),
        ("data.expiresIn", 60.5),
        ("data.expiresIn", True),
        ("data.userProperties", ["org"]),
        ("data.userId", "u" * 257),
        ("data.userId", "line\nbreak"),
    ],
)
def test_wrong_type_is_named(api: Api, path: str, value: Any) -> None:
    with api.unchanged():
        response = api.client.post(MINT, json=_with(api.mint_body(), path, value))
    error = assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument")
    assert error["field"].endswith(path.rsplit(".", 1)[-1]), error


@pytest.mark.parametrize("path", ["extra", "data.extra", "data.userProperties.extra"])
def test_unknown_field_is_named(api: Api, path: str) -> None:
    with api.unchanged():
        response = api.client.post(MINT, json=_with(api.mint_body(), path, 1))
    assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument", field=path)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'{"data": ', "application/json"),
        (b"", "application/json"),
        (b"null", "application/json"),
        (b"[]", "application/json"),
        (b'[{"data": {}}]', "application/json"),
        (b'"data"', "application/json"),
        (b"42", "application/json"),
        (b"\xff\xfe{}", "application/json"),
        (b"[" * 5000 + b"]" * 5000, "application/json"),
    ],
    ids=[
        "malformed",
        "truncated",
        "empty",
        "null",
        "empty-array",
        "array",
        "string",
        "number",
        "not-utf8",
        "deeply-nested",
    ],
)
def test_body_that_is_not_a_json_object(api: Api, content: bytes, content_type: str) -> None:
    with api.unchanged():
        response = api.client.post(MINT, content=content, headers={"Content-Type": content_type})
    assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None]
)
def test_non_json_content_type_is_refused_with_the_envelope(
    api: Api, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    with api.unchanged():
        response = api.client.post(
            MINT, content=json.dumps(api.mint_body(user_id="typed")), headers=headers
        )
    assert 400 <= response.status_code < 500
    assert_envelope(response)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_non_json_content_type_is_unsupported_media_type(api: Api, content_type: str) -> None:
    """docs/errors.md promises ``unsupported_media_type`` (415) for a body that is not JSON;
    today the app answers 400 "The request body must be a JSON object." for a body that is
    a JSON object, sent with another Content-Type."""
    with api.unchanged():
        response = api.client.post(
            MINT, content=json.dumps(api.mint_body()), headers={"Content-Type": content_type}
        )
    assert_error(response, 415, "INVALID_ARGUMENT", "unsupported_media_type")


def test_json_content_type_with_charset_and_suffix_is_accepted(api: Api) -> None:
    for content_type in ("application/json; charset=utf-8", "APPLICATION/JSON"):
        response = api.client.post(
            MINT, content=json.dumps(api.mint_body()), headers={"Content-Type": content_type}
        )
        assert response.status_code == 200, (content_type, response.text)


def test_body_over_max_body_bytes(api: Api) -> None:
    limit = api.settings.max_body_bytes
    body = api.mint_body()
    body["data"]["userProperties"]["organizationId"] = "o" * limit
    with api.unchanged():
        response = api.client.post(MINT, json=body)
    assert_error(response, 413, "INVALID_ARGUMENT", "request_too_large")


def test_chunked_body_over_max_body_bytes(api: Api) -> None:
    """Without a Content-Length the limit holds while the body streams in."""
    limit = api.settings.max_body_bytes

    def chunks() -> Any:
        yield b'{"data": {"userId": "'
        for _ in range(limit // 1024 + 1):
            yield b"x" * 1024
        yield b'"}}'

    with api.unchanged():
        response = api.client.post(
            MINT, content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert_error(response, 413, "INVALID_ARGUMENT", "request_too_large")


def test_body_just_under_the_limit_is_read(client_factory: AppFactory) -> None:
    api = client_factory(max_body_bytes=2048)
    body = api.mint_body()
    padding = 2048 - len(json.dumps(body)) - len(', "x": ""')
    body["x"] = "p" * padding
    content = json.dumps(body).encode()
    assert len(content) == 2048
    response = api.client.post(MINT, content=content, headers={"Content-Type": "application/json"})
    # read (not 413): refused for the unknown field instead
    assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument", field="x")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods(api: Api, method: str) -> None:
    response = api.client.request(method, MINT)
    assert_error(response, 405, "INVALID_ARGUMENT", "method_not_allowed")
