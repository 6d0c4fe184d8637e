"""The admin API: every route, with the admin credential and with a workspace auth token."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import ADMIN_TOKEN, Api, AppFactory, Workspace, assert_envelope, assert_error, iso

ADMIN = "/admin/v1"


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # with {api_key}, {token_id}, {user_id}
    ok: int
    body: dict[str, Any] | None = None
    admin_only: bool = False

    def url(self, api_key: str, token_id: str = "at_nope", user_id: str = "nobody") -> str:
        return self.path.format(api_key=api_key, token_id=token_id, user_id=user_id)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


ROUTES = [
    Route("GET", f"{ADMIN}/workspaces", 200, admin_only=True),
    Route("POST", f"{ADMIN}/workspaces", 201, {"name": "created"}, admin_only=True),
    Route("GET", f"{ADMIN}/workspaces/{{api_key}}", 200),
    Route("PATCH", f"{ADMIN}/workspaces/{{api_key}}", 200, {"requireJwt": False}),
    Route("GET", f"{ADMIN}/workspaces/{{api_key}}/auth-tokens", 200),
    Route("POST", f"{ADMIN}/workspaces/{{api_key}}/auth-tokens", 201, {"name": "ci"}),
    Route("DELETE", f"{ADMIN}/workspaces/{{api_key}}/auth-tokens/{{token_id}}", 200),
    Route("GET", f"{ADMIN}/workspaces/{{api_key}}/users", 200),
    Route("POST", f"{ADMIN}/workspaces/{{api_key}}/users", 201, {"userId": "created"}),
    Route("GET", f"{ADMIN}/workspaces/{{api_key}}/users/{{user_id}}", 200),
    Route("PATCH", f"{ADMIN}/workspaces/{{api_key}}/users/{{user_id}}", 200, {"isAdmin": True}),
    Route("DELETE", f"{ADMIN}/workspaces/{{api_key}}/users/{{user_id}}", 204),
    Route("POST", f"{ADMIN}/workspaces/{{api_key}}/revocations", 201, {"userId": "someone"}),
    Route("GET", f"{ADMIN}/workspaces/{{api_key}}/revocations", 200),
    Route("GET", f"{ADMIN}/workspaces/{{api_key}}/keys", 200),
    Route("POST", f"{ADMIN}/workspaces/{{api_key}}/keys/rotate", 201, {"now": False}),
    Route("GET", f"{ADMIN}/workspaces/{{api_key}}/audit", 200),
]
WORKSPACE_ROUTES = [r for r in ROUTES if not r.admin_only]


def test_the_table_covers_every_admin_route(api: Api) -> None:
    served = {
        (method.upper(), path)
        for path, operations in api.client.get("/openapi.json").json()["paths"].items()
        for method in operations
        if path.startswith(ADMIN)
    }
    assert served == {(r.method, r.path) for r in ROUTES}


def _call(api: Api, route: Route, headers: dict[str, str], ws: Workspace | None = None) -> Any:
    """Call ``route`` against ``ws`` (default: the first workspace), with a spare auth token
    and an existing user for the routes that name one."""
    ws = ws or api.workspace
    spare = api.client.post(
        f"{ADMIN}/workspaces/{ws.api_key}/auth-tokens", json={"name": "spare"}, headers=api.admin
    ).json()["authToken"]["id"]
    api.client.post(
        f"{ADMIN}/workspaces/{ws.api_key}/users", json={"userId": "target"}, headers=api.admin
    )
    url = route.url(ws.api_key, token_id=spare, user_id="target")
    kwargs: dict[str, Any] = {"headers": headers}
    if route.body is not None:
        kwargs["json"] = route.body
    return api.client.request(route.method, url, **kwargs)


# --- who may call what ----------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_admin_credential_reaches_every_route(api: Api, route: Route) -> None:
    response = _call(api, route, api.admin)
    assert response.status_code == route.ok, response.text
    if route.ok == 204:
        assert response.content == b""
    else:
        assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("route", WORKSPACE_ROUTES, ids=str)
def test_auth_token_reaches_its_own_workspace(api: Api, route: Route) -> None:
    response = _call(api, route, api.bearer(api.workspace.secret))
    assert response.status_code == route.ok, response.text


@pytest.mark.parametrize("route", WORKSPACE_ROUTES, ids=str)
def test_auth_token_cannot_touch_another_workspace(
    api: Api, route: Route, workspace: Callable[..., Workspace]
) -> None:
    other = workspace("other")
    _call(api, route, api.admin, ws=other)  # make the spare token and the user exist
    url = route.url(other.api_key, token_id=other.token_id, user_id="target")
    with api.unchanged():
        response = api.client.request(
            route.method,
            url,
            headers=api.bearer(api.workspace.secret),
            **({"json": route.body} if route.body is not None else {}),
        )
    assert_error(response, 403, "PERMISSION_DENIED", "auth_token_wrong_workspace")


@pytest.mark.parametrize("route", [r for r in ROUTES if r.admin_only], ids=str)
def test_auth_token_cannot_list_or_create_workspaces(api: Api, route: Route) -> None:
    with api.unchanged():
        response = api.client.request(
            route.method,
            route.path,
            headers=api.bearer(api.workspace.secret),
            **({"json": route.body} if route.body is not None else {}),
        )
    assert_error(response, 403, "PERMISSION_DENIED", "admin_required")


def _request(api: Api, route: Route, headers: dict[str, str]) -> Any:
    url = route.url(api.workspace.api_key, token_id=api.workspace.token_id, user_id="u")
    return api.client.request(
        route.method, url, headers=headers, **({"json": route.body} if route.body else {})
    )


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_missing_bearer(api: Api, route: Route) -> None:
    with api.unchanged():
        response = _request(api, route, {})
    assert_error(response, 401, "UNAUTHENTICATED", "credentials_missing")
    assert "www-authenticate" in response.headers


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer ", f"Basic {ADMIN_TOKEN}", ADMIN_TOKEN, f"Token {ADMIN_TOKEN}"],
    ids=["empty", "bare-scheme", "empty-bearer", "basic", "no-scheme", "token-scheme"],
)
def test_not_a_bearer(api: Api, authorization: str) -> None:
    for route in (ROUTES[0], ROUTES[3]):
        with api.unchanged():
            response = _request(api, route, {"Authorization": authorization})
        assert_error(response, 401, "UNAUTHENTICATED", "credentials_missing")


@pytest.mark.parametrize("route", WORKSPACE_ROUTES, ids=str)
def test_unknown_bearer(api: Api, route: Route) -> None:
    with api.unchanged():
        response = _request(api, route, api.bearer("sk_unknown"))
    assert_error(response, 401, "UNAUTHENTICATED", "auth_token_not_found")
    assert response.headers["www-authenticate"] == 'Bearer realm="idmint"'


def test_revoked_auth_token_loses_the_admin_api(api: Api) -> None:
    mine = api.bearer(api.workspace.secret)
    assert (
        api.client.get(f"{ADMIN}/workspaces/{api.workspace.api_key}", headers=mine).status_code
        == 200
    )
    api.revoke()
    response = api.client.get(f"{ADMIN}/workspaces/{api.workspace.api_key}", headers=mine)
    assert_error(response, 401, "UNAUTHENTICATED", "auth_token_revoked")


def test_without_an_admin_token_setting_nobody_is_admin(
    client_factory: AppFactory,
) -> None:
    api = client_factory(admin_token=None)
    response = api.client.get(f"{ADMIN}/workspaces", headers=api.admin)
    assert_error(response, 403, "PERMISSION_DENIED", "admin_required")
    mine = api.bearer(api.workspace.secret)
    assert (
        api.client.get(f"{ADMIN}/workspaces/{api.workspace.api_key}", headers=mine).status_code
        == 200
    )


def test_unknown_workspace_is_not_found(api: Api) -> None:
    """The admin routes name a workspace in the path and declare 404 for "no such workspace"
    (as the JWKS routes answer ``workspace_not_found``), not the mint body's 400."""
    answers = {}
    with api.unchanged():
        for route in WORKSPACE_ROUTES:
            response = api.client.request(
                route.method,
                route.url("pk_unknown"),
                headers=api.admin,
                **({"json": route.body} if route.body else {}),
            )
            error = assert_envelope(response)
            answers[str(route)] = (response.status_code, error["code"])
    assert answers == {str(r): (404, "workspace_not_found") for r in WORKSPACE_ROUTES}


# --- workspaces ---------------------------------------------------------------------------------

WORKSPACE_FIELDS = {
    "mintRateLimit",
    "id",
    "apiKey",
    "name",
    "issuer",
    "jwksUri",
    "requireJwt",
    "tokenTtlSeconds",
    "minTtlSeconds",
    "maxTtlSeconds",
    "autoCreateUsers",
    "allowedDomains",
    "createdAt",
    "updatedAt",
}
TOKEN_FIELDS = {
    "id",
    "name",
    "prefix",
    "scopes",
    "overPrivileged",
    "createdAt",
    "lastUsedAt",
    "revokedAt",
    "expiresAt",
}


def test_create_workspace(backend_api: Api) -> None:
    api = backend_api
    response = api.client.post(f"{ADMIN}/workspaces", json={"name": "acme"}, headers=api.admin)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"workspace", "authToken", "secret"}
    ws = body["workspace"]
    assert set(ws) == WORKSPACE_FIELDS
    assert ws["name"] == "acme"
    assert ws["requireJwt"] is True
    assert ws["tokenTtlSeconds"] == 172_800
    assert ws["autoCreateUsers"] is True
    assert ws["issuer"] == f"{api.settings.base_url}/w/{ws['apiKey']}"
    assert ws["createdAt"] == iso(api.clock.now())
    assert set(body["authToken"]) == TOKEN_FIELDS
    assert body["secret"].startswith(body["authToken"]["prefix"])
    listed = api.client.get(f"{ADMIN}/workspaces", headers=api.admin).json()["workspaces"]
    assert {w["apiKey"] for w in listed} == {api.workspace.api_key, ws["apiKey"]}
    created = Workspace(ws["apiKey"], body["secret"], body["authToken"]["id"], ws["issuer"])
    assert api.mint(created).status_code == 200


def test_create_workspace_without_require_jwt(api: Api) -> None:
    response = api.client.post(
        f"{ADMIN}/workspaces", json={"name": "dev", "requireJwt": False}, headers=api.admin
    )
    assert response.json()["workspace"]["requireJwt"] is False
    api_key = response.json()["workspace"]["apiKey"]
    identified = api.client.post("/v1/identify", json={"apiKey": api_key, "user": {"userId": "u"}})
    assert identified.json()["session"]["mode"] == "development"


def test_create_workspace_defaults(api: Api) -> None:
    response = api.client.post(f"{ADMIN}/workspaces", json={}, headers=api.admin)
    assert response.status_code == 201, response.text
    assert response.json()["workspace"]["name"] == "default"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"name": 5}, "name"),
        ({"requireJwt": "no"}, "requireJwt"),
        ({"apiKey": "pk_mine"}, "apiKey"),
    ],
)
def test_create_workspace_refuses_bad_bodies(api: Api, body: dict[str, Any], field: str) -> None:
    with api.unchanged():
        response = api.client.post(f"{ADMIN}/workspaces", json=body, headers=api.admin)
    assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument", field=field)


def test_get_workspace(api: Api) -> None:
    response = api.client.get(f"{ADMIN}/workspaces/{api.workspace.api_key}", headers=api.admin)
    body = response.json()
    assert set(body) == WORKSPACE_FIELDS
    assert body["apiKey"] == api.workspace.api_key
    assert body["issuer"] == api.workspace.issuer
    assert (body["minTtlSeconds"], body["tokenTtlSeconds"], body["maxTtlSeconds"]) == (
        1,
        172_800,
        604_800,
    )


def test_patch_workspace_settings(api: Api) -> None:
    api.clock.advance(10)
    body = api.patch_workspace(
        name="renamed",
        requireJwt=False,
        tokenTtlSeconds=3600,
        minTtlSeconds=60,
        maxTtlSeconds=7200,
        autoCreateUsers=False,
        allowedDomains=["app.example.com", "*.example.org"],
    )
    assert body["name"] == "renamed"
    assert body["requireJwt"] is False
    assert (body["minTtlSeconds"], body["tokenTtlSeconds"], body["maxTtlSeconds"]) == (
        60,
        3600,
        7200,
    )
    assert body["autoCreateUsers"] is False
    assert body["allowedDomains"] == ["app.example.com", "*.example.org"]
    assert body["updatedAt"] == iso(api.clock.now())
    again = api.client.get(f"{ADMIN}/workspaces/{api.workspace.api_key}", headers=api.admin)
    assert again.json() == body
    # and the settings apply: the default lifetime is the new one
    api.create_user("user-1")
    assert api.mint().json()["result"]["data"]["expiresIn"] == 3600


def test_patch_with_nothing_changes_nothing(api: Api) -> None:
    before = api.client.get(f"{ADMIN}/workspaces/{api.workspace.api_key}", headers=api.admin).json()
    after = api.patch_workspace()
    assert {k: v for k, v in after.items() if k != "updatedAt"} == {
        k: v for k, v in before.items() if k != "updatedAt"
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"tokenTtlSeconds": 604_801},  # above the maximum
        {"tokenTtlSeconds": 0},
        {"minTtlSeconds": 200_000},  # above the default
        {"maxTtlSeconds": 3600},  # below the default
        {"maxTtlSeconds": 31 * 86_400},  # above the 30-day cap
        {"minTtlSeconds": -5},
        {"minTtlSeconds": 100, "tokenTtlSeconds": 50, "maxTtlSeconds": 200},
        {"tokenTtlSeconds": 2**70},
    ],
)
def test_patch_refuses_lifetimes_that_do_not_nest(api: Api, changes: dict[str, int]) -> None:
    with api.unchanged():
        response = api.client.patch(
            f"{ADMIN}/workspaces/{api.workspace.api_key}", json=changes, headers=api.admin
        )
    assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument", field="tokenTtlSeconds")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"requireJwt": "false"}, "requireJwt"),
        ({"requireJwt": 0}, "requireJwt"),
        ({"tokenTtlSeconds": "3600"}, "tokenTtlSeconds"),
        ({"tokenTtlSeconds": 3600.5}, "tokenTtlSeconds"),
        ({"autoCreateUsers": "yes"}, "autoCreateUsers"),
        ({"allowedDomains": "example.com"}, "allowedDomains"),
        ({"allowedDomains": [""]}, "allowedDomains.0"),
        ({"name": ""}, "name"),
        ({"apiKey": "pk_new"}, "apiKey"),
        ({"require_jwt": False}, "require_jwt"),
    ],
)
def test_patch_refuses_bad_values(api: Api, changes: dict[str, Any], field: str) -> None:
    with api.unchanged():
        response = api.client.patch(
            f"{ADMIN}/workspaces/{api.workspace.api_key}", json=changes, headers=api.admin
        )
    assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument", field=field)


# --- auth tokens --------------------------------------------------------------------------


def _tokens_url(api: Api) -> str:
    return f"{ADMIN}/workspaces/{api.workspace.api_key}/auth-tokens"


def test_auth_token_secret_is_shown_once(backend_api: Api) -> None:
    api = backend_api
    created = api.client.post(_tokens_url(api), json={"name": "deploy"}, headers=api.admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"authToken", "secret"}
    assert set(body["authToken"]) == TOKEN_FIELDS
    secret = body["secret"]
    assert body["authToken"]["name"] == "deploy"
    assert body["authToken"]["prefix"] == secret[: len(body["authToken"]["prefix"])]
    assert body["authToken"]["revokedAt"] is None

    listing = api.client.get(_tokens_url(api), headers=api.admin)
    assert listing.status_code == 200
    assert secret not in listing.text
    assert api.workspace.secret not in listing.text
    tokens = listing.json()["authTokens"]
    assert [t["name"] for t in tokens] == ["default", "deploy"]
    for token in tokens:
        assert set(token) == TOKEN_FIELDS

    # the new token mints
    new = Workspace(api.workspace.api_key, secret, body["authToken"]["id"], api.workspace.issuer)
    assert api.mint(new).status_code == 200


def test_revoke_auth_token(backend_api: Api) -> None:
    api = backend_api
    assert api.mint().status_code == 200  # cached as a checked credential
    api.clock.advance(5)
    response = api.client.delete(f"{_tokens_url(api)}/{api.workspace.token_id}", headers=api.admin)
    assert response.status_code == 200, response.text
    record = response.json()
    assert set(record) == TOKEN_FIELDS
    assert record["revokedAt"] == iso(api.clock.now())
    assert_error(api.mint(), 403, "PERMISSION_DENIED", "auth_token_revoked")
    listed = api.client.get(_tokens_url(api), headers=api.admin).json()["authTokens"]
    assert listed[0]["revokedAt"] == record["revokedAt"]
    # revoking again keeps the first time
    api.clock.advance(5)
    again = api.client.delete(f"{_tokens_url(api)}/{api.workspace.token_id}", headers=api.admin)
    assert again.status_code == 200
    assert again.json()["revokedAt"] == record["revokedAt"]


def test_revoking_one_token_leaves_the_others(api: Api) -> None:
    created = api.client.post(_tokens_url(api), json={"name": "second"}, headers=api.admin).json()
    second = Workspace(api.workspace.api_key, created["secret"], created["authToken"]["id"], "")
    api.revoke(token_id=second.token_id)
    assert_error(api.mint(second), 403, "PERMISSION_DENIED", "auth_token_revoked")
    assert api.mint().status_code == 200


def test_revoke_unknown_auth_token(api: Api) -> None:
    with api.unchanged():
        response = api.client.delete(f"{_tokens_url(api)}/at_nope", headers=api.admin)
    assert_error(response, 404, "NOT_FOUND", "not_found")


def test_revoke_auth_token_of_another_workspace(
    api: Api, workspace: Callable[..., Workspace]
) -> None:
    other = workspace("other")
    with api.unchanged():
        response = api.client.delete(f"{_tokens_url(api)}/{other.token_id}", headers=api.admin)
    assert_error(response, 404, "NOT_FOUND", "not_found")
    assert api.mint(other).status_code == 200


def test_auth_token_with_expiry(api: Api) -> None:
    expires = api.clock.now() + 600
    created = api.client.post(
        _tokens_url(api), json={"name": "brief", "expiresAt": iso(expires)}, headers=api.admin
    )
    assert created.status_code == 201, created.text
    assert created.json()["authToken"]["expiresAt"] == iso(expires)
    token = Workspace(api.workspace.api_key, created.json()["secret"], "", "")
    assert api.mint(token).status_code == 200
    api.clock.advance(600)
    assert_error(api.mint(token), 403, "PERMISSION_DENIED", "auth_token_expired")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "x", "expiresAt": "tomorrow"}, "expiresAt"),
        ({"name": "x", "expiresAt": "2001-01-01T00:00:00Z"}, "expiresAt"),
        ({"name": "x", "expiresAt": 1}, "expiresAt"),
        ({"name": "x", "secret": "sk_chosen"}, "secret"),
    ],
)
def test_create_auth_token_refuses_bad_bodies(api: Api, body: dict[str, Any], field: str) -> None:
    with api.unchanged():
        response = api.client.post(_tokens_url(api), json=body, headers=api.admin)
    assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument", field=field)


@pytest.mark.parametrize("expires_at", ["9999-12-31T23:59:59-23:59", "9999-12-31T23:00:00-01:00"])
def test_expiry_beyond_year_9999_is_refused(api: Api, expires_at: str) -> None:
    """An offset can push a valid ISO date past year 9999 in UTC: the token is stored, then
    the answer (and every later listing) fails to write the date back."""
    response = api.client.post(
        _tokens_url(api), json={"name": "far", "expiresAt": expires_at}, headers=api.admin
    )
    assert response.status_code < 500, response.text
    listing = api.client.get(_tokens_url(api), headers=api.admin)
    assert listing.status_code == 200, listing.text


# --- users ----------------------------------------------------------------------------------

USER_FIELDS = {
    "userId",
    "organizationId",
    "email",
    "emailShared",
    "isAdmin",
    "createdAt",
    "updatedAt",
    "profile",
    "profileUpdatedAt",
}


def _users_url(api: Api) -> str:
    return f"{ADMIN}/workspaces/{api.workspace.api_key}/users"


def test_users_create_get_delete(backend_api: Api) -> None:
    api = backend_api
    created = api.client.post(
        _users_url(api),
        json={
            "userId": "ann",
            "email": "ann@example.com",
            "organizationId": "org-a",
            "name": "Ann",
            "isAdmin": True,
        },
        headers=api.admin,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == USER_FIELDS
    assert body == {
        "userId": "ann",
        "organizationId": "org-a",
        "email": "ann@example.com",
        "emailShared": False,
        "isAdmin": True,
        "createdAt": iso(api.clock.now()),
        "updatedAt": iso(api.clock.now()),
        "profile": {"name": "Ann"},
        "profileUpdatedAt": iso(api.clock.now()),
    }
    assert api.user("ann").json() == body

    deleted = api.client.delete(f"{_users_url(api)}/ann", headers=api.admin)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_error(api.user("ann"), 404, "NOT_FOUND", "user_not_found")
    again = api.client.delete(f"{_users_url(api)}/ann", headers=api.admin)
    assert_error(again, 404, "NOT_FOUND", "user_not_found")


def test_user_exists(api: Api) -> None:
    api.create_user("ann")
    with api.unchanged():
        response = api.client.post(_users_url(api), json={"userId": "ann"}, headers=api.admin)
    assert_error(response, 409, "FAILED_PRECONDITION", "user_exists")


def test_an_email_another_user_holds_is_email_taken(backend_api: Api) -> None:
    api = backend_api
    api.create_user("ann", email="Ann@Example.com")
    with api.unchanged():
        response = api.client.post(
            _users_url(api), json={"userId": "bob", "email": "ann@EXAMPLE.com"}, headers=api.admin
        )
    assert_error(response, 409, "FAILED_PRECONDITION", "email_taken")
    api.create_user("bob", email="bob@example.com")
    with api.unchanged():
        response = api.client.patch(
            f"{_users_url(api)}/bob", json={"email": "ANN@example.com"}, headers=api.admin
        )
    assert_error(response, 409, "FAILED_PRECONDITION", "email_taken")


def test_patch_user_changes_only_what_it_names(backend_api: Api) -> None:
    api = backend_api
    api.create_user("ann", email="ann@example.com", organizationId="org-a", isAdmin=True)
    api.clock.advance(5)
    response = api.client.patch(
        f"{_users_url(api)}/ann", json={"email": "ann@example.org"}, headers=api.admin
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["email"], body["organizationId"], body["isAdmin"]) == (
        "ann@example.org",
        "org-a",
        True,
    )
    assert body["updatedAt"] == iso(api.clock.now())
    response = api.client.patch(
        f"{_users_url(api)}/ann",
        json={"organizationId": None, "isAdmin": False},
        headers=api.admin,
    )
    body = response.json()
    assert (body["email"], body["organizationId"], body["isAdmin"]) == (
        "ann@example.org",
        None,
        False,
    )
    # Minting by email now says what the admin said.
    minted = api.client.post(
        "/api/v1/tokens",
        json={"username": "ann@example.org"},
        headers={"Authorization": f"idmint {api.workspace.api_key}:{api.workspace.secret}"},
    )
    assert minted.status_code == 200, minted.text
    assert_error(
        api.client.patch(f"{_users_url(api)}/nobody", json={"isAdmin": True}, headers=api.admin),
        404,
        "NOT_FOUND",
        "user_not_found",
    )


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"email": "nope"}, "invalid_email", "email"),
        ({"organizationId": ""}, "invalid_argument", "organizationId"),
        ({"isAdmin": "yes"}, "invalid_argument", "isAdmin"),
        ({"userId": "other"}, "invalid_argument", "userId"),
        ({"profile": {}}, "invalid_argument", "profile"),
    ],
)
def test_patch_user_refuses_bad_bodies(
    api: Api, body: dict[str, Any], code: str, field: str
) -> None:
    api.create_user("ann")
    with api.unchanged():
        response = api.client.patch(f"{_users_url(api)}/ann", json=body, headers=api.admin)
    assert_error(response, 400, "INVALID_ARGUMENT", code, field=field)


def test_list_users_pages(backend_api: Api) -> None:
    api = backend_api
    for user_id in ["e", "c", "a", "d", "b"]:
        api.create_user(user_id)
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if after is not None:
            params["after"] = after
        response = api.client.get(_users_url(api), params=params, headers=api.admin)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"users", "next"}
        ids = [u["userId"] for u in page["users"]]
        seen += ids
        pages += 1
        if page["next"] is None:
            break
        assert page["next"] == ids[-1]
        after = page["next"]
    assert seen == ["a", "b", "c", "d", "e"]
    assert pages == 3


def test_list_users_default_page(api: Api) -> None:
    api.create_user("only")
    page = api.client.get(_users_url(api), headers=api.admin).json()
    assert [u["userId"] for u in page["users"]] == ["only"]
    assert page["next"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": -1}, "limit"),
        ({"after": "x" * 257}, "after"),
    ],
)
def test_list_users_refuses_bad_paging(api: Api, params: dict[str, Any], field: str) -> None:
    response = api.client.get(_users_url(api), params=params, headers=api.admin)
    assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument", field=field)


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "invalid_argument", "userId"),
        ({"userId": ""}, "invalid_argument", "userId"),
        ({"userId": 3}, "invalid_argument", "userId"),
        ({"userId": "u", "email": "nope"}, "invalid_email", "email"),
        ({"userId": "u", "organizationId": ""}, "invalid_argument", "organizationId"),
        ({"userId": "u", "isAdmin": "yes"}, "invalid_argument", "isAdmin"),
        ({"userId": "u", "profile": {}}, "invalid_argument", "profile"),
    ],
)
def test_create_user_refuses_bad_bodies(
    api: Api, body: dict[str, Any], code: str, field: str
) -> None:
    with api.unchanged():
        response = api.client.post(_users_url(api), json=body, headers=api.admin)
    assert_error(response, 400, "INVALID_ARGUMENT", code, field=field)


def test_get_unknown_user(api: Api) -> None:
    response = api.user("nobody")
    assert_error(response, 404, "NOT_FOUND", "user_not_found")


def test_users_of_other_workspaces_are_invisible(
    api: Api, workspace: Callable[..., Workspace]
) -> None:
    other = workspace("other")
    api.token(other, user_id="theirs")
    assert api.users() == []
    assert_error(api.user("theirs"), 404, "NOT_FOUND", "user_not_found")
    assert [u["userId"] for u in api.users(other)] == ["theirs"]


def test_error_answers_are_envelopes(api: Api) -> None:
    """Every refusal above went through assert_error; one more for an unknown admin route."""
    response = api.client.get(f"{ADMIN}/nothing-here", headers=api.admin)
    assert_envelope(response)
    assert response.status_code == 404
