"""The console's first pages over HTTP: sign-in, the workspace list, the settings page with
the Require JWT Token toggle, sign-out; CSRF, cross-site posts, roles, cookies and headers."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import Api

OWNER = "owner@example.com"
PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def console(api: Api) -> Api:
    api.idmint.console.create_account(OWNER, "owner", password=PASSWORD)
    return api


def _sign_in(api: Api, email: str = OWNER, password: str = PASSWORD) -> Any:
    return api.client.post(
        "/console/sign-in",
        data={"email": email, "password": password},
        follow_redirects=False,
    )


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def _settings(api: Api) -> Any:
    return api.client.get(f"/console/w/{api.workspace.api_key}/settings")


def test_signed_out_pages_lead_to_sign_in(console: Api) -> None:
    for path in (
        "/console",
        "/console/workspaces",
        f"/console/w/{console.workspace.api_key}/settings",
    ):
        response = console.client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/console/sign-in"
    page = console.client.get("/console/sign-in")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert "<script" not in page.text
    assert '<label for="email">' in page.text


def test_a_wrong_password_is_refused_and_sets_no_cookie(console: Api) -> None:
    response = _sign_in(console, password="wrong")
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert OWNER in response.text  # the email stays in the form


def test_the_guides_walk_turns_require_jwt_off_and_on(console: Api) -> None:
    signed = _sign_in(console)
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
    listed = console.client.get("/console/workspaces")
    assert console.workspace.api_key in listed.text
    page = _settings(console)
    assert "Require JWT Token" in page.text
    token = _csrf(page.text)
    path = f"/console/w/{console.workspace.api_key}/settings/require-jwt"
    # Turning it off needs the confirmation.
    unconfirmed = console.client.post(path, data={"csrf": token, "state": "off"})
    assert unconfirmed.status_code == 400
    assert console.idmint.workspaces.get(console.workspace.api_key).require_jwt is True
    off = console.client.post(
        path, data={"csrf": token, "state": "off", "confirm": "yes"}, follow_redirects=False
    )
    assert off.status_code == 303
    assert console.idmint.workspaces.get(console.workspace.api_key).require_jwt is False
    assert "development mode" in _settings(console).text
    on = console.client.post(path, data={"csrf": token, "state": "on"}, follow_redirects=False)
    assert on.status_code == 303
    assert console.idmint.workspaces.get(console.workspace.api_key).require_jwt is True
    # Audited with the account as the actor.
    console.idmint.audit.flush()
    workspace = console.idmint.workspaces.get(console.workspace.api_key)
    events = console.idmint.audit.events(workspace.id)
    actors = [e.actor for e in events if e.action == "workspace.settings"]
    assert actors[:2] == ["console:owner@example.com"] * 2


def test_a_post_without_the_csrf_token_or_from_another_site_changes_nothing(
    console: Api,
) -> None:
    _sign_in(console)
    token = _csrf(_settings(console).text)
    path = f"/console/w/{console.workspace.api_key}/settings/require-jwt"
    form = {"state": "off", "confirm": "yes"}
    assert console.client.post(path, data=form).status_code == 403
    assert console.client.post(path, data={**form, "csrf": "x" * 64}).status_code == 403
    cross = console.client.post(
        path, data={**form, "csrf": token}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    fetched = console.client.post(
        path, data={**form, "csrf": token}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert fetched.status_code == 403
    assert console.idmint.workspaces.get(console.workspace.api_key).require_jwt is True


def test_a_session_cookie_from_before_sign_out_no_longer_works(console: Api) -> None:
    signed = _sign_in(console)
    cookie_name, secret = signed.headers["set-cookie"].split(";")[0].split("=", 1)
    token = _csrf(_settings(console).text)
    out = console.client.post("/console/sign-out", data={"csrf": token}, follow_redirects=False)
    assert out.status_code == 303
    console.client.cookies.set(cookie_name, secret)
    again = console.client.get("/console/workspaces", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == "/console/sign-in"


def test_a_viewer_reads_and_cannot_change(console: Api) -> None:
    workspace = console.idmint.workspaces.get(console.workspace.api_key)
    console.idmint.console.create_account(
        "viewer@example.com", "member", password=PASSWORD, memberships={workspace.id: "viewer"}
    )
    _sign_in(console, "viewer@example.com")
    page = _settings(console)
    assert page.status_code == 200
    assert "may read its settings, not change them" in page.text
    token = _csrf(page.text)
    path = f"/console/w/{console.workspace.api_key}/settings/require-jwt"
    refused = console.client.post(path, data={"csrf": token, "state": "off", "confirm": "yes"})
    assert refused.status_code == 403
    assert console.idmint.workspaces.get(console.workspace.api_key).require_jwt is True


def test_a_workspace_the_account_may_not_see_is_not_found(console: Api) -> None:
    other = console.new_workspace()
    console.idmint.console.create_account("member@example.com", "member", password=PASSWORD)
    _sign_in(console, "member@example.com")
    assert other.api_key not in console.client.get("/console/workspaces").text
    assert console.client.get(f"/console/w/{other.api_key}/settings").status_code == 404
    assert console.client.get("/console/w/pk_nothing/settings").status_code == 404


def test_sign_in_guessing_is_throttled(client_factory: Any) -> None:
    api = client_factory(throttle_per_address="3/minute", throttle_per_api_key="1000/minute")
    api.idmint.console.create_account(OWNER, "owner", password=PASSWORD)
    statuses = [_sign_in(api, password=f"guess-{n}").status_code for n in range(5)]
    assert statuses[:3] == [401] * 3
    assert statuses[3:] == [429, 429]
    blocked = _sign_in(api)
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0


def test_bad_forms_are_4xx(console: Api) -> None:
    for body in (b"\xff\xfe", b"email=" + b"a" * 20_000):
        response = console.client.post(
            "/console/sign-in",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert 400 <= response.status_code < 500, body[:10]


def test_the_stylesheet_is_served(console: Api) -> None:
    css = console.client.get("/console/static/console.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


def test_auth_tokens_created_with_scopes_shown_once_and_revoked(console: Api) -> None:
    _sign_in(console)
    base = f"/console/w/{console.workspace.api_key}/auth-tokens"
    page = console.client.get(base)
    assert page.status_code == 200
    token = _csrf(page.text)
    created = console.client.post(base, data={"csrf": token, "name": "billing", "scope": ["mint"]})
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    secret = re.search(r'value="(sk_[^"]+)"', created.text)
    assert secret, created.text
    # It mints, it is mint-only, and the page never shows it again.
    body = console.mint_body()
    body["data"]["authToken"] = secret.group(1)
    assert console.client.post("/v1/auth/token/get", json=body).status_code == 200
    assert secret.group(1) not in console.client.get(base).text
    [record] = [
        t
        for t in console.idmint.workspaces.auth_tokens(console.workspace.api_key)
        if t.name == "billing"
    ]
    assert record.scopes == "mint"
    # Revoking needs the confirmation; then minting with it fails.
    path = f"{base}/{record.id}/revoke"
    assert console.client.post(path, data={"csrf": token}).status_code == 400
    done = console.client.post(path, data={"csrf": token, "confirm": "yes"}, follow_redirects=False)
    assert done.status_code == 303
    assert console.client.post("/v1/auth/token/get", json=body).status_code == 403
    console.idmint.audit.flush()
    workspace = console.idmint.workspaces.get(console.workspace.api_key)
    actors = {
        e.action: e.actor
        for e in console.idmint.audit.events(workspace.id)
        if e.action.startswith("auth_token.") and e.subject == record.id
    }
    assert actors == {
        "auth_token.create": "console:owner@example.com",
        "auth_token.revoke": "console:owner@example.com",
    }


def test_a_viewer_walks_every_state_changing_route_and_gets_403(console: Api) -> None:
    workspace = console.idmint.workspaces.get(console.workspace.api_key)
    console.idmint.console.create_account(
        "viewer@example.com", "member", password=PASSWORD, memberships={workspace.id: "viewer"}
    )
    _sign_in(console, "viewer@example.com")
    token = _csrf(_settings(console).text)
    base = f"/console/w/{console.workspace.api_key}"
    routes = {
        f"{base}/settings/require-jwt": {"state": "off", "confirm": "yes"},
        f"{base}/auth-tokens": {"name": "x", "scope": "admin"},
        f"{base}/auth-tokens/{console.workspace.token_id}/revoke": {"confirm": "yes"},
        f"{base}/keys/rotate": {"when": "now"},
        f"{base}/revocations": {"kind": "user", "value": "user-1"},
    }
    with console.unchanged():
        for path, form in routes.items():
            assert console.client.post(path, data={"csrf": token, **form}).status_code == 403, path


def test_keys_rotate_and_a_users_tokens_revoked_from_the_console(console: Api) -> None:
    _sign_in(console)
    base = f"/console/w/{console.workspace.api_key}"
    page = console.client.get(f"{base}/keys")
    assert page.status_code == 200
    assert "active" in page.text
    token = _csrf(page.text)
    before = {
        k["kid"]
        for k in console.client.get(f"/w/{console.workspace.api_key}/.well-known/jwks.json").json()[
            "keys"
        ]
    }
    assert (
        console.client.post(f"{base}/keys/rotate", data={"csrf": token, "when": "soon"}).status_code
        == 400
    )
    rotated = console.client.post(
        f"{base}/keys/rotate", data={"csrf": token, "when": "later"}, follow_redirects=False
    )
    assert rotated.status_code == 303
    after = {
        k["kid"]
        for k in console.client.get(f"/w/{console.workspace.api_key}/.well-known/jwks.json").json()[
            "keys"
        ]
    }
    assert len(after - before) == 1  # published before it signs
    assert "next" in console.client.get(f"{base}/keys").text

    # The guide: revoke a user's tokens, and identify answers token_revoked.
    minted = console.token(user_id="user-1")
    assert (
        console.identify(
            {"userId": "user-1", "organizationId": "org-1", "email": "ann@example.com"}, minted
        ).status_code
        == 200
    )
    console.clock.advance(1)
    revoked = console.client.post(
        f"{base}/revocations",
        data={"csrf": token, "kind": "user", "value": "user-1", "reason": "laptop stolen"},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    answer = console.identify(
        {"userId": "user-1", "organizationId": "org-1", "email": "ann@example.com"}, minted
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "token_revoked"
    listed = console.client.get(f"{base}/revocations").text
    assert "laptop stolen" in listed
    assert (
        console.client.post(
            f"{base}/revocations", data={"csrf": token, "kind": "everyone", "value": "x"}
        ).status_code
        == 400
    )


def test_the_overview_has_ready_to_paste_examples_without_secrets(console: Api) -> None:
    _sign_in(console)
    page = console.client.get(f"/console/w/{console.workspace.api_key}")
    assert page.status_code == 200
    issuer = console.idmint.settings.issuer_for(console.workspace.api_key)
    assert f"{issuer}/.well-known/jwks.json" in page.text
    assert f"{issuer}/.well-known/openid-configuration" in page.text
    assert "/v1/auth/token/get" in page.text
    assert "/api/v1/tokens" in page.text
    assert f'apiKey: "{console.workspace.api_key}"' in page.text
    assert console.workspace.secret not in page.text  # the secret is $AUTH_TOKEN
