"""One error envelope everywhere (as datasette's tests/test_error_shape.py checks its own).

The routes are walked from ``app.routes``, so a new route is covered without editing this
file: each gets bad requests of every kind (no credentials, unknown path parameters, a body
that is not an object, malformed JSON, an oversized body, NUL characters), an unknown
method and an unknown sub-path, and every answer must be the envelope
``{"error": {"message", "status", "code"[, "field"]}}`` with a 4xx status that matches its
code. None of it may change stored data.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Route

from idmint.api import create_app

from .conftest import BACKENDS, Api, AppFactory, assert_envelope, isolated_settings

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    path_params: tuple[str, ...]
    has_body: bool
    family: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, **values: str) -> str:
        url = self.path
        for name in self.path_params:
            url = url.replace("{" + name + "}", values.get(name, f"unknown-{name}"))
        return url


def _walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """Every route of the app, through FastAPI's included routers (whatever their class)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from _walk(included.routes, prefix + getattr(context, "prefix", ""))
        elif hasattr(route, "routes") and not isinstance(route, Route):
            yield from _walk(route.routes, prefix + getattr(route, "path", ""))
        else:
            yield prefix, route


def _family(path: str) -> str:
    if path.startswith("/admin/"):
        return "admin"
    if path.startswith("/w/"):
        return "jwks"
    if path in ("/v1/identify", "/v1/sign-out"):
        return "identify"
    if path.startswith("/sdk/"):
        return "sdk"  # a static file: no request to get wrong
    if path in ("/v1/auth/token/get", "/api/v1/tokens"):
        return "mint"
    return "docs"


def _endpoints() -> list[Endpoint]:
    app = create_app(isolated_settings(data_dir=Path("unused")))
    found = []
    for prefix, route in _walk(app.routes):
        # "{user_id:path}" (user ids may hold "/") is "{user_id}" in the OpenAPI document.
        path = (prefix + getattr(route, "path", "")).replace(":path}", "}")
        for method in sorted(getattr(route, "methods", None) or ()):
            if method == "HEAD":
                continue
            found.append(
                Endpoint(
                    method=method,
                    path=path,
                    path_params=tuple(getattr(route, "param_convertors", {})),
                    has_body=isinstance(route, APIRoute) and route.body_field is not None,
                    family=_family(path),
                )
            )
    return found


ENDPOINTS = _endpoints()
API_ENDPOINTS = [e for e in ENDPOINTS if e.family not in ("docs", "sdk")]
BODY_ENDPOINTS = [e for e in API_ENDPOINTS if e.has_body]
PATHS = sorted({e.path for e in ENDPOINTS})


def test_the_walk_finds_every_route_family(api: Api) -> None:
    assert {e.family for e in ENDPOINTS} == {"mint", "identify", "jwks", "admin", "docs", "sdk"}
    documented = {
        (method.upper(), path)
        for path, operations in api.client.get("/openapi.json").json()["paths"].items()
        for method in operations
    }
    sdk = {(e.method, e.path) for e in ENDPOINTS if e.family == "sdk"}
    assert {(e.method, e.path) for e in API_ENDPOINTS} == documented - sdk
    assert len(BODY_ENDPOINTS) >= 7


# --- bad requests, one route at a time ---------------------------------------------------------


@pytest.mark.parametrize("endpoint", API_ENDPOINTS, ids=str)
def test_bad_request_without_credentials(api: Api, endpoint: Endpoint) -> None:
    kwargs: dict[str, Any] = {}
    if endpoint.has_body:
        kwargs["json"] = []
    with api.unchanged():
        response = api.client.request(endpoint.method, endpoint.url(), **kwargs)
    assert 400 <= response.status_code < 500, response.text
    assert_envelope(response)


@pytest.mark.parametrize("endpoint", [e for e in API_ENDPOINTS if e.path_params], ids=str)
def test_unknown_path_parameters_with_credentials(api: Api, endpoint: Endpoint) -> None:
    kwargs: dict[str, Any] = {"headers": api.admin}
    if endpoint.has_body:
        kwargs["json"] = {}
    with api.unchanged():
        response = api.client.request(endpoint.method, endpoint.url(), **kwargs)
    assert 400 <= response.status_code < 500, response.text
    assert_envelope(response)


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS, ids=str)
@pytest.mark.parametrize(
    "content",
    [b"{", b"[]", b"null", b"1", b'"x"', b"\xff", b'{"a": NaN', b"[" * 4000],
    ids=["truncated", "array", "null", "number", "string", "not-utf8", "nan", "deep"],
)
def test_malformed_body(api: Api, endpoint: Endpoint, content: bytes) -> None:
    url = endpoint.url(api_key=api.workspace.api_key)
    headers = {**api.admin, "Content-Type": "application/json"}
    with api.unchanged():
        response = api.client.request(endpoint.method, url, content=content, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    error = assert_envelope(response)
    assert error["status"] in ("INVALID_ARGUMENT", "UNAUTHENTICATED"), error


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS, ids=str)
def test_oversized_body(api: Api, endpoint: Endpoint) -> None:
    url = endpoint.url(api_key=api.workspace.api_key)
    content = json.dumps({"x": "y" * api.settings.max_body_bytes})
    headers = {**api.admin, "Content-Type": "application/json"}
    with api.unchanged():
        response = api.client.request(endpoint.method, url, content=content, headers=headers)
    assert response.status_code == 413, response.text
    assert assert_envelope(response)["code"] == "request_too_large"


@pytest.mark.parametrize("path", PATHS)
def test_unknown_method(api: Api, path: str) -> None:
    allowed = {e.method for e in ENDPOINTS if e.path == path}
    url = Endpoint("GET", path, tuple(p[1:-1] for p in path.split("/") if p[:1] == "{"), False, "")
    for method in METHODS:
        if method in allowed:
            continue
        with api.unchanged():
            response = api.client.request(method, url.url(api_key=api.workspace.api_key))
        assert response.status_code == 405, (method, response.text)
        assert assert_envelope(response)["code"] == "method_not_allowed"


def test_405_names_the_allowed_methods(api: Api) -> None:
    """RFC 9110 §15.5.6: a 405 answer MUST carry ``Allow``. Starlette sends it with its own
    405; the envelope handler drops the exception's headers."""
    missing = []
    for path in PATHS:
        allowed = {e.method for e in ENDPOINTS if e.path == path}
        method = next(m for m in METHODS if m not in allowed)
        response = api.client.request(method, path)
        assert response.status_code == 405
        header = {m.strip() for m in response.headers.get("allow", "").split(",")}
        if not allowed <= header:
            missing.append(path)
    assert missing == [], f"405 without a correct Allow header: {missing}"


# Below .../users every sub-path is a user id (user ids may contain "/"): see the test after.
@pytest.mark.parametrize("path", [p for p in PATHS if "/users" not in p])
def test_unknown_sub_path(api: Api, path: str) -> None:
    for method in ("GET", "POST"):
        url = path.rstrip("/") + "/no/such/thing"
        response = api.client.request(method, url, headers=api.admin)
        assert response.status_code == 404, response.text
        assert assert_envelope(response)["code"] == "not_found"


def test_user_ids_with_slashes_are_reachable(api: Api) -> None:
    api.create_user("team/ann")
    base = f"/admin/v1/workspaces/{api.workspace.api_key}/users"
    assert api.client.get(f"{base}/team/ann", headers=api.admin).json()["userId"] == "team/ann"
    response = api.client.get(f"{base}/no/such/thing", headers=api.admin)
    assert response.status_code == 404
    assert assert_envelope(response)["code"] == "user_not_found"
    assert api.client.delete(f"{base}/team/ann", headers=api.admin).status_code == 204


@pytest.mark.parametrize(
    "path", ["/", "/v1", "/v2/identify", "/admin", "/admin/v2/workspaces", "/w", "/%00", "/.env"]
)
def test_unknown_route(api: Api, path: str) -> None:
    for method in METHODS:
        response = api.client.request(method, path)
        assert response.status_code == 404, (method, path, response.text)
        assert assert_envelope(response)["code"] == "not_found"


# --- NUL characters reach the store -------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def nul_api(request: pytest.FixtureRequest, client_factory: AppFactory) -> Api:
    """The app on each backend, without the lifespan's background audit flusher, so that the
    tests flush the audit log themselves and see its failures."""
    return client_factory(request.param, lifespan=False)


def _flush_failure(api: Api) -> list[str]:
    try:
        api.idmint.audit.flush()
    except Exception as exc:
        return [f"audit flush: {type(exc).__name__}"]
    return []


def _string_leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _string_leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_leaves(item, (*path, index))


def _with_nul(body: Any, leaf: tuple[Any, ...]) -> Any:
    body = copy.deepcopy(body)
    target = body
    for part in leaf[:-1]:
        target = target[part]
    target[leaf[-1]] = target[leaf[-1]][:1] + "\x00" + target[leaf[-1]][1:]
    return body


def _valid_requests(api: Api) -> dict[str, tuple[dict[str, str], Any]]:
    """A request that succeeds, per body route: (headers, body)."""
    ws = api.workspace
    api.create_user("jane", email="jane@example.com", organizationId="org-1")
    pair = {"Authorization": f"Outseta {ws.api_key}:{ws.secret}"}
    token = api.token(None, "jane", email="jane@example.com")
    admin = api.admin
    return {
        "POST /v1/auth/token/get": ({}, api.mint_body(user_id="minted")),
        "POST /api/v1/tokens": (pair, {"username": "jane@example.com"}),
        "POST /v1/identify": (
            {},
            {
                "apiKey": ws.api_key,
                "authToken": token,
                "user": {
                    "userId": "jane",
                    "organizationId": "org-1",
                    "email": "jane@example.com",
                    "name": "Jane",
                    "photoUrl": "https://example.com/j.png",
                    "plan": "pro",
                },
            },
        ),
        "POST /admin/v1/workspaces": (admin, {"name": "made"}),
        "PATCH /admin/v1/workspaces/{api_key}": (
            admin,
            {"name": "renamed", "allowedDomains": ["app.example.com"]},
        ),
        "POST /admin/v1/workspaces/{api_key}/auth-tokens": (admin, {"name": "made"}),
        "POST /admin/v1/workspaces/{api_key}/users": (
            admin,
            {"userId": "made", "email": "made@example.com", "organizationId": "o", "name": "M"},
        ),
        "PATCH /admin/v1/workspaces/{api_key}/users/{user_id}": (
            admin,
            {"email": "jane.new@example.com", "organizationId": "org-2"},
        ),
        "POST /admin/v1/workspaces/{api_key}/revocations": (
            admin,
            {"userId": "jane", "reason": "lost laptop"},
        ),
        "POST /admin/v1/workspaces/{api_key}/keys/rotate": (admin, {"alg": "EdDSA"}),
        "POST /v1/sign-out": ({}, {"apiKey": ws.api_key, "sessionId": "ses_unknown"}),
    }


def test_nul_in_any_body_string_is_not_a_server_error(nul_api: Api) -> None:
    """PostgreSQL text cannot hold NUL; a request carrying one must get a 4xx, not a 500,
    and must not leave an audit event behind that the store cannot write."""
    api = nul_api
    requests = _valid_requests(api)
    assert {str(e) for e in BODY_ENDPOINTS} <= set(requests), "add a valid request"
    server_errors = []
    for endpoint in BODY_ENDPOINTS:
        headers, body = requests[str(endpoint)]
        url = endpoint.url(api_key=api.workspace.api_key, user_id="jane")
        for leaf in _string_leaves(body):
            response = api.client.request(
                endpoint.method, url, json=_with_nul(body, leaf), headers=headers
            )
            if response.status_code >= 500:
                server_errors.append(f"{endpoint} {'.'.join(map(str, leaf))}")
            elif response.status_code >= 300:
                assert_envelope(response)
    server_errors += _flush_failure(api)
    assert server_errors == [], "500 for a NUL in:\n" + "\n".join(server_errors)


def test_nul_in_path_parameters_is_not_a_server_error(nul_api: Api) -> None:
    api = nul_api
    server_errors = []
    for endpoint in API_ENDPOINTS:
        for name in endpoint.path_params:
            values = {"api_key": api.workspace.api_key, "token_id": "at_x", "user_id": "u"}
            values[name] = values[name] + "%00"
            response = api.client.request(
                endpoint.method,
                endpoint.url(**values),
                headers=api.admin,
                **({"json": {}} if endpoint.has_body else {}),
            )
            if response.status_code >= 500:
                server_errors.append(f"{endpoint} {name}")
            else:
                assert_envelope(response)
    server_errors += _flush_failure(api)
    assert server_errors == [], "500 for a NUL in:\n" + "\n".join(server_errors)


def test_nul_in_query_is_not_a_server_error(nul_api: Api) -> None:
    api = nul_api
    response = api.client.get(
        f"/admin/v1/workspaces/{api.workspace.api_key}/users",
        params={"after": "a\x00b"},
        headers=api.admin,
    )
    assert response.status_code < 500, response.text
    assert _flush_failure(api) == []


def test_a_refused_request_does_not_break_the_audit_log(nul_api: Api) -> None:
    """A userId with a control character is refused (400), but the refusal is audited with
    that userId as subject; on PostgreSQL the batch holding it cannot be written, and every
    event buffered with it is lost."""
    api = nul_api
    refused = api.mint(user_id="evil\x00id")
    assert refused.status_code == 400, refused.text
    minted = api.mint(user_id="good")
    assert minted.status_code == 200, minted.text
    assert _flush_failure(api) == []
    events = api.idmint.store.audit_events(None, limit=100, action="token.mint")
    assert {(e.subject, e.outcome) for e in events} >= {("good", "success")}


# --- an unexpected failure --------------------------------------------------------------------


def _crash(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("a bug, with a secret: sk_must_not_leak")


@pytest.mark.parametrize(
    ("target", "call"),
    [
        ("start_mint", lambda api: api.mint()),
        (
            "start_mint_for_email",
            lambda api: api.client.post(
                "/api/v1/tokens",
                json={"username": "ann@example.com"},
                headers={
                    "Authorization": f"Outseta {api.workspace.api_key}:{api.workspace.secret}"
                },
            ),
        ),
        ("start_identify", lambda api: api.identify({"userId": "user-1"}, "x.y.z")),
        (
            "sign_out",
            lambda api: api.client.post(
                "/v1/sign-out", json={"apiKey": api.workspace.api_key, "sessionId": "ses_1"}
            ),
        ),
    ],
)
def test_an_unexpected_failure_is_a_500_envelope_and_logged(
    api: Api,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    target: str,
    call: Any,
) -> None:
    """Hot routes (served before the framework) and framework routes alike."""
    monkeypatch.setattr(api.idmint.tokens, target, _crash)
    response = call(api)
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "message": "An internal error occurred.",
            "status": "INTERNAL",
            "code": "internal",
        }
    }
    assert "sk_must_not_leak" not in response.text
    assert "RuntimeError" in caplog.text


def test_an_unexpected_failure_of_the_jwks_is_a_500_envelope(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api.idmint.keys, "for_workspace", _crash)
    response = api.client.get(f"/w/{api.workspace.api_key}/.well-known/jwks.json")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal"
