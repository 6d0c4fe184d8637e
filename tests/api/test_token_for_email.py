"""``POST /api/v1/tokens`` exactly as seed 002 writes it: admin credentials in the header,
``{"username": email}`` in the body, an existing user only."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from .conftest import Api, Workspace, assert_error, verify_with_pyjwt

TOKENS = "/api/v1/tokens"


def outseta(ws: Workspace) -> dict[str, str]:
    return {"Authorization": f"Outseta {ws.api_key}:{ws.secret}"}


def basic(ws: Workspace) -> dict[str, str]:
    pair = base64.b64encode(f"{ws.api_key}:{ws.secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


@pytest.fixture
def jane(api: Api) -> Api:
    """The app with an existing user jane@example.com (as the seed's prerequisite says)."""
    api.create_user("jane", email="jane@example.com", organizationId="org-j", isAdmin=True)
    return api


@pytest.mark.parametrize("scheme", ["outseta", "basic"])
def test_token_for_existing_user(backend_api: Api, scheme: str) -> None:
    api = backend_api
    api.create_user("jane", email="jane@example.com", organizationId="org-j")
    headers = outseta(api.workspace) if scheme == "outseta" else basic(api.workspace)
    response = api.client.post(
        TOKENS,
        content=json.dumps({"username": "jane@example.com"}),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 48 * 3600
    claims = verify_with_pyjwt(api, body["access_token"])
    assert claims["sub"] == "jane"
    assert claims["email"] == "jane@example.com"
    assert claims["organizationId"] == "org-j"
    assert claims["isAdmin"] is False
    assert claims["exp"] - claims["iat"] == body["expires_in"]


def test_httpx_basic_auth_is_accepted(jane: Api) -> None:
    ws = jane.workspace
    response = jane.client.post(
        TOKENS, json={"username": "jane@example.com"}, auth=(ws.api_key, ws.secret)
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("scheme", ["Outseta", "outseta", "OUTSETA", "idmint"])
def test_scheme_word(jane: Api, scheme: str) -> None:
    ws = jane.workspace
    response = jane.client.post(
        TOKENS,
        json={"username": "jane@example.com"},
        headers={"Authorization": f"{scheme} {ws.api_key}:{ws.secret}"},
    )
    assert response.status_code == 200, response.text


def test_email_is_matched_without_case(jane: Api) -> None:
    response = jane.client.post(
        TOKENS, json={"username": "JANE@Example.COM"}, headers=outseta(jane.workspace)
    )
    assert response.status_code == 200, response.text
    assert verify_with_pyjwt(jane, response.json()["access_token"])["sub"] == "jane"


def test_token_carries_the_stored_admin_flag(jane: Api) -> None:
    response = jane.client.post(
        TOKENS, json={"username": "jane@example.com"}, headers=outseta(jane.workspace)
    )
    assert verify_with_pyjwt(jane, response.json()["access_token"])["isAdmin"] is True


def test_the_token_identifies_the_user(jane: Api) -> None:
    response = jane.client.post(
        TOKENS, json={"username": "jane@example.com"}, headers=outseta(jane.workspace)
    )
    token = response.json()["access_token"]
    identified = jane.identify(
        {"userId": "jane", "email": "jane@example.com", "organizationId": "org-j"}, token
    )
    assert identified.status_code == 200, identified.text
    assert identified.json()["session"]["verified"] is True


def test_unknown_user_is_not_found_and_not_created(backend_api: Api) -> None:
    api = backend_api
    before = api.users()
    with api.unchanged():
        response = api.client.post(
            TOKENS, json={"username": "nobody@example.com"}, headers=outseta(api.workspace)
        )
    assert_error(response, 404, "NOT_FOUND", "user_not_found")
    assert api.users() == before


@pytest.mark.parametrize(
    "username", ["not-an-email", "a@b", "@example.com", "jane@", "two@@example.com", "a b@c.de"]
)
def test_malformed_email(jane: Api, username: str) -> None:
    with jane.unchanged():
        response = jane.client.post(
            TOKENS, json={"username": username}, headers=outseta(jane.workspace)
        )
    assert_error(response, 400, "INVALID_ARGUMENT", "invalid_email", field="username")


def test_missing_authorization(jane: Api) -> None:
    with jane.unchanged():
        response = jane.client.post(TOKENS, json={"username": "jane@example.com"})
    assert_error(response, 401, "UNAUTHENTICATED", "credentials_missing")
    assert "www-authenticate" in response.headers


@pytest.mark.parametrize(
    "authorization",
    [
        "Outseta",
        "Outseta ",
        "Outseta no-colon",
        "Outseta :secret-only",
        "Outseta pk_only:",
        "Bearer pk:sk",
        "Token pk:sk",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "pk:sk",
    ],
)
def test_garbled_authorization(jane: Api, authorization: str) -> None:
    with jane.unchanged():
        response = jane.client.post(
            TOKENS, json={"username": "jane@example.com"}, headers={"Authorization": authorization}
        )
    # The credential comes in the Authorization header: whatever is wrong with it is a 401
    # with a challenge, the code saying what.
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == 'Basic realm="idmint", charset="UTF-8"'
    error = assert_error(response, 401, "UNAUTHENTICATED", response.json()["error"]["code"])
    if error["code"] == "invalid_argument":
        assert error["field"] == "Authorization"
    else:
        assert error["code"] == "credentials_missing"


def test_wrong_secret(jane: Api) -> None:
    with jane.unchanged():
        response = jane.client.post(
            TOKENS,
            json={"username": "jane@example.com"},
            headers={"Authorization": f"Outseta {jane.workspace.api_key}:sk_wrong"},
        )
    assert_error(
        response, 401, "UNAUTHENTICATED", "auth_token_not_found", message="Auth token not found."
    )


def test_unknown_api_key(jane: Api) -> None:
    with jane.unchanged():
        response = jane.client.post(
            TOKENS,
            json={"username": "jane@example.com"},
            headers={"Authorization": f"Outseta pk_nope:{jane.workspace.secret}"},
        )
    assert_error(response, 401, "UNAUTHENTICATED", "api_key_not_found")


def test_revoked_secret(jane: Api) -> None:
    jane.revoke()
    with jane.unchanged():
        response = jane.client.post(
            TOKENS, json={"username": "jane@example.com"}, headers=outseta(jane.workspace)
        )
    assert_error(response, 401, "UNAUTHENTICATED", "auth_token_revoked")


def test_secret_of_another_workspace(jane: Api, workspace: Callable[..., Workspace]) -> None:
    other = workspace("other")
    with jane.unchanged():
        response = jane.client.post(
            TOKENS,
            json={"username": "jane@example.com"},
            headers={"Authorization": f"Outseta {jane.workspace.api_key}:{other.secret}"},
        )
    assert_error(response, 403, "PERMISSION_DENIED", "auth_token_wrong_workspace")


def test_user_of_another_workspace_is_not_found(
    jane: Api, workspace: Callable[..., Workspace]
) -> None:
    other = workspace("other")
    with jane.unchanged():
        response = jane.client.post(
            TOKENS, json={"username": "jane@example.com"}, headers=outseta(other)
        )
    assert_error(response, 404, "NOT_FOUND", "user_not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "username"),
        ({"username": ""}, "username"),
        ({"username": 5}, "username"),
        ({"username": None}, "username"),
        ({"username": "jane@example.com", "password": "x"}, "password"),
        ({"email": "jane@example.com"}, "username"),
    ],
)
def test_bad_body_names_the_field(jane: Api, body: object, field: str) -> None:
    with jane.unchanged():
        response = jane.client.post(TOKENS, json=body, headers=outseta(jane.workspace))
    assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument", field=field)


@pytest.mark.parametrize("content", [b"[]", b"{", b"null", b'"jane@example.com"'])
def test_body_not_a_json_object(jane: Api, content: bytes) -> None:
    with jane.unchanged():
        response = jane.client.post(
            TOKENS,
            content=content,
            headers={**outseta(jane.workspace), "Content-Type": "application/json"},
        )
    assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument")


def test_body_over_the_limit(jane: Api) -> None:
    with jane.unchanged():
        response = jane.client.post(
            TOKENS,
            json={"username": "x" * jane.settings.max_body_bytes},
            headers=outseta(jane.workspace),
        )
    assert_error(response, 413, "INVALID_ARGUMENT", "request_too_large")


def test_a_cached_email_is_answered_without_the_thread_pool(
    jane: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first look-up reads the store (in the thread pool); repeats come from the email
    cache on the event loop, until a change to the user drops the entry."""
    import idmint.api.mint as front

    hops: list[object] = []
    real = front.run_in_threadpool

    async def counting(func: Callable[..., object], *args: object) -> object:
        hops.append(func)
        return await real(func, *args)

    monkeypatch.setattr(front, "run_in_threadpool", counting)
    headers = outseta(jane.workspace)

    def mint(username: str = "jane@example.com") -> dict[str, object]:
        response = jane.client.post(TOKENS, json={"username": username}, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body

    mint()
    assert len(hops) == 1
    mint()
    mint("JANE@example.com")  # the same cache entry: emails compare without case
    assert len(hops) == 1
    first = verify_with_pyjwt(jane, str(mint()["access_token"]))
    assert (first["isAdmin"], len(hops)) == (True, 1)
    response = jane.mint(
        user_id="jane", organization_id="org-j", email="jane@example.com", is_admin=False
    )
    assert response.status_code == 200, response.text
    body = mint()  # the change dropped the entry: read again, and the token says so
    assert len(hops) == 2
    claims = verify_with_pyjwt(jane, str(body["access_token"]))
    assert claims["isAdmin"] is False
    assert_error(
        jane.client.post(TOKENS, json={"username": "nobody@example.com"}, headers=headers),
        404,
        "NOT_FOUND",
        "user_not_found",
    )
    assert len(hops) == 3  # an unknown email is not cached: it is always a store read
