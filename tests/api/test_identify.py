"""``POST /v1/identify``: the client proves who its user is with a minted token."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from .conftest import Api, assert_envelope, assert_error, iso

IDENTIFY = "/v1/identify"
DAY = 86_400
LEEWAY = 30

USER = {"userId": "user-1", "organizationId": "org-1", "email": "ann@example.com"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _sessions(api: Api) -> int:
    return len(api.snapshot()["sessions"])


# --- success ------------------------------------------------------------------------------------


def test_identify_starts_a_verified_session(backend_api: Api) -> None:
    api = backend_api
    token = api.token(is_admin=True)
    claims = jwt.decode(token, options={"verify_signature": False})
    response = api.identify(
        {
            **USER,
            "name": "Ann",
            "photoUrl": "https://example.com/ann.png",
            "plan": "pro",
            "isAdmin": False,  # ignored: admin comes from the token
        },
        token,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"session"}
    session = body["session"]
    assert set(session) == {
        "id",
        "user",
        "organizationId",
        "isAdmin",
        "expiresAt",
        "expiresIn",
        "verified",
        "mode",
    }
    assert session["id"].startswith("ses_")
    assert session["verified"] is True
    assert session["mode"] == "jwt"
    assert session["isAdmin"] is True
    assert session["organizationId"] == "org-1"
    assert session["expiresAt"] == iso(claims["exp"])
    assert session["user"]["userId"] == "user-1"
    assert session["user"]["name"] == "Ann"
    assert "isAdmin" not in session["user"]

    stored = api.user("user-1").json()
    # The profile is kept apart, as the client sent it; the trusted attributes are the mint's.
    assert stored["profile"] == {
        "name": "Ann",
        "photoUrl": "https://example.com/ann.png",
        "plan": "pro",
    }
    assert stored["profileUpdatedAt"] == iso(api.clock.now())
    assert stored["isAdmin"] is True
    assert stored["organizationId"] == "org-1"
    assert _sessions(api) == 1


def test_admin_flag_comes_from_the_token_not_the_body(backend_api: Api) -> None:
    api = backend_api
    token = api.token(is_admin=False)
    response = api.identify({**USER, "isAdmin": True}, token)
    assert response.status_code == 200, response.text
    assert response.json()["session"]["isAdmin"] is False
    assert api.user("user-1").json()["isAdmin"] is False


def test_email_matches_without_case(api: Api) -> None:
    token = api.token(email="Ann@Example.com")
    response = api.identify({**USER, "email": "ann@EXAMPLE.com"}, token)
    assert response.status_code == 200, response.text


def test_token_without_email_accepts_any_email(api: Api) -> None:
    token = api.token(email=None)
    response = api.identify({**USER, "email": "whoever@example.com"}, token)
    assert response.status_code == 200, response.text


def test_token_still_valid_within_the_leeway(api: Api) -> None:
    token = api.token()
    api.clock.advance(2 * DAY + LEEWAY - 1)
    assert api.identify(USER, token).status_code == 200


# --- mismatches -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"userId": "user-2"}, "user_mismatch", "userId"),
        ({"organizationId": "org-2"}, "organization_mismatch", "organizationId"),
        ({"organizationId": None}, "organization_mismatch", "organizationId"),
        ({"email": "eve@example.com"}, "email_mismatch", "email"),
        ({"email": None}, "email_mismatch", "email"),
    ],
    ids=["user", "organization", "no-organization", "email", "no-email"],
)
def test_mismatch_names_the_field(
    backend_api: Api, change: dict[str, Any], code: str, field: str
) -> None:
    api = backend_api
    token = api.token()
    user = {k: v for k, v in {**USER, **change}.items() if v is not None}
    with api.unchanged():
        response = api.identify(user, token)
    assert_error(
        response,
        403,
        "PERMISSION_DENIED",
        code,
        field=field,
        message=f"{field} does not match the token.",
    )


# --- "Require JWT Token" --------------------------------------------------------------------


def test_jwt_required_by_default(backend_api: Api) -> None:
    api = backend_api
    with api.unchanged():
        response = api.identify(USER)
    assert_error(
        response,
        401,
        "UNAUTHENTICATED",
        "jwt_required",
        message="This workspace requires a JWT: pass authToken to identify().",
    )


def test_development_mode_without_token(backend_api: Api) -> None:
    api = backend_api
    workspace = api.patch_workspace(requireJwt=False)
    assert workspace["requireJwt"] is False
    response = api.identify({**USER, "isAdmin": True, "name": "Dev"})
    assert response.status_code == 200, response.text
    session = response.json()["session"]
    assert session["mode"] == "development"
    assert session["verified"] is False
    assert session["isAdmin"] is False
    assert session["organizationId"] == "org-1"
    assert session["expiresAt"] == iso(api.clock.now() + workspace["tokenTtlSeconds"])
    # No user is made from it: only its profile is kept, as untrusted as it is.
    assert_error(api.user("user-1"), 404, "NOT_FOUND", "user_not_found")
    assert _sessions(api) == 1


def test_development_mode_still_checks_a_token_that_is_given(api: Api) -> None:
    api.patch_workspace(requireJwt=False)
    token = api.token()
    verified = api.identify(USER, token)
    assert verified.json()["session"]["mode"] == "jwt"
    with api.unchanged():
        mismatch = api.identify({**USER, "userId": "user-2"}, token)
        garbage = api.identify(USER, "not.a.token")
    assert_error(mismatch, 403, "PERMISSION_DENIED", "user_mismatch", field="userId")
    assert_error(garbage, 401, "UNAUTHENTICATED", "token_malformed")


def test_turning_require_jwt_back_on(api: Api) -> None:
    api.patch_workspace(requireJwt=False)
    assert api.identify(USER).status_code == 200
    api.patch_workspace(requireJwt=True)
    assert_error(api.identify(USER), 401, "UNAUTHENTICATED", "jwt_required")


# --- bad tokens -------------------------------------------------------------------------------


def test_expired_token(backend_api: Api) -> None:
    api = backend_api
    token = api.token()
    api.clock.advance(2 * DAY + LEEWAY + 1)
    with api.unchanged():
        response = api.identify(USER, token)
    error = assert_error(response, 401, "UNAUTHENTICATED", "token_expired")
    assert "field" not in error


def _tamper_payload(token: str, **claims: Any) -> str:
    header, payload, signature = token.split(".")
    values = json.loads(_unb64(payload))
    values.update(claims)
    return ".".join([header, _b64(json.dumps(values).encode()), signature])


def _tamper_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(_unb64(signature))
    raw[5] ^= 0x01
    return ".".join([header, payload, _b64(bytes(raw))])


def _alg_none(token: str) -> str:
    header, payload, _signature = token.split(".")
    values = json.loads(_unb64(header))
    values["alg"] = "none"
    return ".".join([_b64(json.dumps(values).encode()), payload, ""])


def _foreign_key(token: str) -> str:
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": header["kid"]})


TAMPERINGS: dict[str, Callable[[str], str]] = {
    "payload": lambda token: _tamper_payload(token, isAdmin=True, organizationId="org-1"),
    "subject": lambda token: _tamper_payload(token, sub="user-1"),
    "signature": _tamper_signature,
    "alg-none": _alg_none,
    "foreign-key": _foreign_key,
    "truncated": lambda token: token.rsplit(".", 1)[0],
    "garbage": lambda _token: "garbage",
    "padded": lambda token: token + "==",
    "huge": lambda token: token + "A" * 9000,
}


@pytest.mark.parametrize("how", sorted(TAMPERINGS))
def test_tampered_token(api: Api, how: str) -> None:
    original = api.token(user_id="user-1" if how != "subject" else "user-9", is_admin=False)
    forged = TAMPERINGS[how](original)
    with api.unchanged():
        response = api.identify(USER, forged)
    assert response.status_code == 401, response.text
    error = assert_envelope(response)
    assert error["status"] == "UNAUTHENTICATED"
    assert error["code"].startswith("token_"), error


def test_token_of_another_workspace(backend_api: Api) -> None:
    api = backend_api
    other = api.new_workspace("other")
    token = api.token(other)
    with api.unchanged():
        response = api.identify(USER, token)
    assert response.status_code == 401, response.text
    assert assert_envelope(response)["code"].startswith("token_")
    # the token is good where it belongs
    assert api.identify(USER, token, ws=other).status_code == 200


def test_unknown_api_key(api: Api) -> None:
    token = api.token()
    with api.unchanged():
        response = api.client.post(
            IDENTIFY, json={"apiKey": "pk_nope", "user": USER, "authToken": token}
        )
    assert_error(response, 400, "INVALID_ARGUMENT", "api_key_not_found")


# --- bad requests -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user": USER}, "apiKey"),
        ({"apiKey": ""}, "apiKey"),
        ({}, "apiKey"),
        ({"apiKey": "API"}, "user"),
        ({"apiKey": "API", "user": {}}, "user.userId"),
        ({"apiKey": "API", "user": {"userId": ""}}, "user.userId"),
        ({"apiKey": "API", "user": {"userId": "   "}}, "user.userId"),
        ({"apiKey": "API", "user": {"userId": 7}}, "user.userId"),
        ({"apiKey": "API", "user": {**USER, "email": 5}}, "user.email"),
        ({"apiKey": "API", "user": {**USER, "organizationId": ""}}, "user.organizationId"),
        ({"apiKey": "API", "user": {**USER, "name": "n" * 257}}, "user.name"),
        ({"apiKey": "API", "user": USER, "authToken": ""}, "authToken"),
        ({"apiKey": "API", "user": USER, "authToken": 5}, "authToken"),
        ({"apiKey": "API", "user": USER, "extra": True}, "extra"),
        ({"apiKey": "API", "user": ["user-1"]}, "user"),
        ({"apiKey": "API", "user": "user-1"}, "user"),
    ],
)
def test_bad_body_names_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    if body.get("apiKey") == "API":
        body = {**body, "apiKey": api.workspace.api_key}
    with api.unchanged():
        response = api.client.post(IDENTIFY, json=body)
    assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument", field=field)


@pytest.mark.parametrize("content", [b"[]", b"{", b"", b"null", b'"user-1"'])
def test_body_not_a_json_object(api: Api, content: bytes) -> None:
    with api.unchanged():
        response = api.client.post(
            IDENTIFY, content=content, headers={"Content-Type": "application/json"}
        )
    assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument")


def test_body_over_the_limit(api: Api) -> None:
    token = api.token()
    with api.unchanged():
        response = api.identify({**USER, "bio": "x" * api.settings.max_body_bytes}, token)
    assert_error(response, 413, "INVALID_ARGUMENT", "request_too_large")


# --- profile data that the API must refuse or be able to give back ---------------------------


PROFILE_VALUES: dict[str, str] = {
    # Python's json accepts integers of any size; the API answers with orjson (64-bit at most)
    "huge-integer": '{"n": 100000000000000000000000000000}',
    # orjson refuses to write more than 254 levels of nesting
    "deep-nesting": '{"n": ' + "[" * 300 + "]" * 300 + "}",
}


@pytest.mark.parametrize("kind", sorted(PROFILE_VALUES))
def test_profile_values_never_cause_a_server_error(backend_api: Api, kind: str) -> None:
    """Identify stores extra user fields as profile data and echoes them. A value that the
    API cannot write back must be refused (4xx) before it is stored; otherwise identify
    answers 500 and, worse, the user can no longer be read through the admin API."""
    api = backend_api
    api.patch_workspace(requireJwt=False)
    extra = json.loads(PROFILE_VALUES[kind])
    content = json.dumps({"apiKey": api.workspace.api_key, "user": {"userId": "p", **extra}})
    response = api.client.post(
        IDENTIFY, content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert_envelope(response)
    user = api.client.get(
        f"/admin/v1/workspaces/{api.workspace.api_key}/users/p", headers=api.admin
    )
    assert user.status_code in (200, 404), user.text
    listing = api.client.get(
        f"/admin/v1/workspaces/{api.workspace.api_key}/users", headers=api.admin
    )
    assert listing.status_code == 200, listing.text


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_not_json(backend_api: Api, literal: str) -> None:
    """``NaN`` and ``Infinity`` are not JSON (RFC 8259); Python's parser takes them anyway.
    Stored, they become ``null`` on SQLite and a 500 on PostgreSQL."""
    api = backend_api
    api.patch_workspace(requireJwt=False)
    user = '{"userId": "p", "score": ' + literal + "}"
    content = '{"apiKey": ' + json.dumps(api.workspace.api_key) + ', "user": ' + user + "}"
    with api.unchanged():
        response = api.client.post(
            IDENTIFY, content=content, headers={"Content-Type": "application/json"}
        )
    assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument")
