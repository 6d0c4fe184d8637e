"""End to end against a real server: init, both mint shapes, identify, offline verification."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from .conftest import Server

USER = {"userId": "user-1", "organizationId": "org-1", "email": "ann@example.com"}


def _mint(server: Server, **properties: Any) -> str:
    answer = httpx.post(
        f"{server.base_url}/v1/auth/token/get",
        json={
            "data": {
                "apiKey": server.api_key,
                "authToken": server.auth_token,
                "userId": USER["userId"],
                "userProperties": {
                    "organizationId": "org-1",
                    "email": "ann@example.com",
                    **properties,
                },
            }
        },
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert (result["status"], result["message"]) == ("success", "Token generated successfully.")
    token: str = result["data"]["token"]
    return token


def _identify(server: Server, token: str | None, **changes: Any) -> httpx.Response:
    body: dict[str, Any] = {"apiKey": server.api_key, "user": {**USER, **changes}}
    if token is not None:
        body["authToken"] = token
    return httpx.post(f"{server.base_url}/v1/identify", json=body)


def test_minted_token_verifies_with_pyjwt_through_served_jwks(server: Server) -> None:
    token = _mint(server, isAdmin=True)
    client = jwt.PyJWKClient(f"{server.issuer}/.well-known/jwks.json")
    claims = jwt.decode(
        token,
        client.get_signing_key_from_jwt(token).key,
        algorithms=["ES256"],
        audience=server.api_key,
        issuer=server.issuer,
    )
    assert (claims["sub"], claims["organizationId"], claims["email"]) == (
        "user-1",
        "org-1",
        "ann@example.com",
    )
    assert claims["isAdmin"] is True


def test_second_shape_mints_for_existing_user_by_email(server: Server) -> None:
    _mint(server)  # creates user-1
    answer = httpx.post(
        f"{server.base_url}/api/v1/tokens",
        headers={"Authorization": f"Outseta {server.api_key}:{server.auth_token}"},
        json={"username": "ann@example.com"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 48 * 3600
    unknown = httpx.post(
        f"{server.base_url}/api/v1/tokens",
        headers={"Authorization": f"Outseta {server.api_key}:{server.auth_token}"},
        json={"username": "nobody@example.com"},
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "user_not_found"


def test_identify_succeeds_with_the_users_own_token(server: Server) -> None:
    answer = _identify(server, _mint(server, isAdmin=False), isAdmin=True, name="Ann")
    assert answer.status_code == 200, answer.text
    session = answer.json()["session"]
    assert session["user"]["userId"] == "user-1"
    assert session["organizationId"] == "org-1"
    assert session["isAdmin"] is False  # identify can never grant admin
    assert session["mode"] == "jwt"


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"userId": "user-2"}, "user_mismatch", "userId"),
        ({"organizationId": "org-2"}, "organization_mismatch", "organizationId"),
        ({"email": "eve@example.com"}, "email_mismatch", "email"),
    ],
)
def test_identify_refuses_someone_elses_token(
    server: Server, change: dict[str, str], code: str, field: str
) -> None:
    answer = _identify(server, _mint(server), **change)
    assert answer.status_code == 403
    assert answer.json() == {
        "error": {
            "message": f"{field} does not match the token.",
            "status": "PERMISSION_DENIED",
            "code": code,
            "field": field,
        }
    }


def test_identify_without_token_is_jwt_required(server: Server) -> None:
    answer = _identify(server, None)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "jwt_required"


def test_answers_do_not_name_the_server_software(server: Server) -> None:
    for response in (
        httpx.get(f"{server.issuer}/.well-known/jwks.json"),
        httpx.post(f"{server.base_url}/v1/identify", json={}),
        httpx.get(f"{server.base_url}/docs"),
    ):
        assert "server" not in response.headers, response.headers
        assert "date" in response.headers
