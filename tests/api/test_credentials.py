"""Issue 13 over HTTP: scoped auth tokens on the admin API, the throttle's answers (429 with
``Retry-After``, 401 challenges before it), the client address (from the socket, or from
``X-Forwarded-For`` behind a trusted proxy) in the audit log, quotas and retention."""

from __future__ import annotations

from typing import Any

import pytest

from idmint.api._common import TrustedProxies, client_address

from .conftest import ADMIN_TOKEN, Api, AppFactory, assert_error, iso

ADMIN = "/admin/v1/workspaces"


def _events(api: Api, **params: Any) -> list[dict[str, Any]]:
    response = api.client.get(
        f"{ADMIN}/{api.workspace.api_key}/audit", params=params, headers=api.admin
    )
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def _create_token(api: Api, secret: str, **body: Any) -> Any:
    return api.client.post(
        f"{ADMIN}/{api.workspace.api_key}/auth-tokens",
        json={"name": "made", **body},
        headers=api.bearer(secret),
    )


# --- scopes ------------------------------------------------------------------------------------


def test_a_workspace_made_over_the_admin_api_gets_a_mint_only_token(api: Api) -> None:
    response = api.client.post(ADMIN, json={"name": "shop"}, headers=api.admin)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["authToken"]["scopes"] == ["mint"]
    assert created["authToken"]["overPrivileged"] is False
    api_key, secret = created["workspace"]["apiKey"], created["secret"]
    denied = api.client.get(f"{ADMIN}/{api_key}", headers=api.bearer(secret))
    assert_error(denied, 403, "PERMISSION_DENIED", "auth_token_scope_missing")
    assert denied.json()["error"]["scope"] == "admin"
    # ... audited as the admin that made it, not as "cli".
    events = api.client.get(f"{ADMIN}/{api_key}/audit", headers=api.admin).json()["events"]
    assert {e["action"]: e["actor"] for e in events}["workspace.create"] == "admin"


def test_an_admin_only_token_cannot_mint(api: Api) -> None:
    made = _create_token(api, api.workspace.secret, scopes=["admin"])
    assert made.status_code == 201, made.text
    secret = made.json()["secret"]
    body = api.mint_body()
    body["data"]["authToken"] = secret
    with api.unchanged():
        response = api.client.post("/v1/auth/token/get", json=body)
    assert_error(response, 403, "PERMISSION_DENIED", "auth_token_scope_missing")
    assert api.client.get(f"{ADMIN}/{api.workspace.api_key}", headers=api.bearer(secret)).is_success


def test_a_token_cannot_grant_more_than_it_has(api: Api) -> None:
    admin_only = _create_token(api, api.workspace.secret, scopes=["admin"]).json()["secret"]
    with api.unchanged():
        wider = _create_token(api, admin_only, scopes=["admin", "mint"])
    assert_error(wider, 403, "PERMISSION_DENIED", "auth_token_scope_exceeded")
    # One that expires may not make one that outlives it, nor one that never expires.
    day = api.clock.now() + 86400
    short = _create_token(api, api.workspace.secret, scopes=["admin"], expiresAt=iso(day))
    short_secret = short.json()["secret"]
    with api.unchanged():
        longer = _create_token(api, short_secret, scopes=["admin"], expiresAt=iso(day + 60))
    assert_error(longer, 403, "PERMISSION_DENIED", "auth_token_scope_exceeded")
    capped = _create_token(api, short_secret, scopes=["admin"])
    assert capped.status_code == 201, capped.text
    assert capped.json()["authToken"]["expiresAt"] == iso(day)
    # The admin credential grants anything.
    both = _create_token(api, ADMIN_TOKEN, scopes=["mint", "admin"])
    assert both.json()["authToken"]["overPrivileged"] is True


def test_unknown_scope_is_invalid(api: Api) -> None:
    with api.unchanged():
        response = _create_token(api, ADMIN_TOKEN, scopes=["root"])
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_argument"


def test_admin_actions_name_the_exact_credential(api: Api) -> None:
    made = _create_token(api, api.workspace.secret, scopes=["mint"])
    record = made.json()["authToken"]
    api.client.patch(
        f"{ADMIN}/{api.workspace.api_key}", json={"tokenTtlSeconds": 600}, headers=api.admin
    )
    actors = {(e["action"], e["subject"]): e["actor"] for e in _events(api)}
    assert actors[("auth_token.create", record["id"])] == f"auth_token:{api.workspace.token_id}"
    assert actors[("workspace.settings", None)] == "admin"


# --- throttle and challenges -------------------------------------------------------------------


@pytest.fixture
def strict(client_factory: AppFactory) -> Api:
    return client_factory(throttle_per_address="3/minute", throttle_per_api_key="1000/minute")


def test_guessing_over_the_admin_api_is_challenged_then_throttled(strict: Api) -> None:
    path = f"{ADMIN}/{strict.workspace.api_key}"
    for n in range(3):
        response = strict.client.get(path, headers=strict.bearer(f"sk_guess{n}"))
        assert_error(response, 401, "UNAUTHENTICATED", "auth_token_not_found")
        assert response.headers["www-authenticate"] == 'Bearer realm="idmint"'
    blocked = strict.client.get(path, headers=strict.bearer("sk_guess-more"))
    assert_error(blocked, 429, "RESOURCE_EXHAUSTED", "rate_limited")
    retry = int(blocked.headers["retry-after"])
    assert 1 <= retry <= 60
    assert blocked.json()["error"]["retryAfter"] == retry
    # The whole address is blocked, the admin credential too, and both mint routes.
    assert strict.client.get(path, headers=strict.admin).status_code == 429
    assert strict.mint().status_code == 429
    events = _events_via_service(strict)
    assert [(e.action, e.subject) for e in events if e.action == "throttle.block"] == [
        ("throttle.block", "address:testclient")
    ]


def _events_via_service(api: Api) -> list[Any]:
    api.idmint.audit.flush()
    return list(api.idmint.store.audit_events(None, limit=1000))


def test_mint_by_email_guessing_is_challenged_then_throttled(strict: Api) -> None:
    for n in range(3):
        response = strict.client.post(
            "/api/v1/tokens",
            json={"username": "ann@example.com"},
            headers={"Authorization": f"idmint {strict.workspace.api_key}:sk_guess{n}"},
        )
        assert_error(response, 401, "UNAUTHENTICATED", "auth_token_not_found")
        assert response.headers["www-authenticate"].startswith("Basic realm=")
    response = strict.client.post(
        "/api/v1/tokens",
        json={"username": "ann@example.com"},
        headers={"Authorization": f"idmint {strict.workspace.api_key}:{strict.workspace.secret}"},
    )
    assert_error(response, 429, "RESOURCE_EXHAUSTED", "rate_limited")
    assert "retry-after" in response.headers


def test_the_body_route_keeps_the_seed_answer_until_the_limit(strict: Api) -> None:
    body = strict.mint_body()
    body["data"]["authToken"] = "sk_wrong"
    for _ in range(3):
        response = strict.client.post("/v1/auth/token/get", json=body)
        assert_error(
            response,
            400,
            "INVALID_ARGUMENT",
            "auth_token_not_found",
            message="Auth token not found.",
        )
        assert "www-authenticate" not in response.headers
    assert strict.client.post("/v1/auth/token/get", json=body).status_code == 429


# --- the client address ------------------------------------------------------------------------


def _scope(peer: str, *forwarded: str) -> dict[str, Any]:
    return {
        "client": (peer, 50000),
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


def test_the_client_address_is_the_socket_unless_the_peer_is_a_trusted_proxy() -> None:
    none = TrustedProxies([])
    proxies = TrustedProxies(["127.0.0.1", "10.0.0.0/8"])
    assert client_address(_scope("203.0.113.5", "1.2.3.4"), none) == "203.0.113.5"
    # A client that is not a proxy cannot pick its address.
    assert client_address(_scope("203.0.113.5", "1.2.3.4"), proxies) == "203.0.113.5"
    # Behind the proxy: the nearest hop that is not a trusted proxy; what the client wrote
    # at the left is ignored.
    assert client_address(_scope("127.0.0.1", "6.6.6.6, 198.51.100.7"), proxies) == ("198.51.100.7")
    assert (
        client_address(_scope("127.0.0.1", "6.6.6.6, 198.51.100.7, 10.1.2.3"), proxies)
        == "198.51.100.7"
    )
    assert client_address(_scope("127.0.0.1", "6.6.6.6", "198.51.100.8"), proxies) == (
        "198.51.100.8"
    )
    assert client_address(_scope("127.0.0.1"), proxies) == "127.0.0.1"
    assert client_address(_scope("10.0.0.9", "2001:db8::1"), proxies) == "2001:db8::1"


def test_audit_rows_record_the_client_address(api: Api) -> None:
    api.token()
    api.identify({"userId": "user-2"}, api.token())  # a failure, aggregated
    events = _events(api)
    mint = next(e for e in events if e["action"] == "token.mint")
    identify = next(e for e in events if e["action"] == "identify")
    assert mint["clientAddress"] == "testclient"
    assert identify["clientAddress"] == "testclient"
    assert identify["detail"]["count"] == 1


def test_the_audit_purge_keeps_what_is_within_retention(api: Api) -> None:
    api.token()
    api.idmint.audit.flush()
    before = len(_events_via_service(api))
    assert before > 0
    assert api.idmint.audit.purge() == 0
    api.clock.advance(91 * 86400)
    api.token()
    api.idmint.audit.flush()
    purged = api.idmint.audit.purge()
    assert purged == before
    assert [e.action for e in _events_via_service(api)] == ["token.mint"]


@pytest.mark.parametrize(
    "rate",
    [
        "0/second",
        "1/0 seconds",
        "1/second;2/minute",
        "99999999999999999999999/second",
        "1 per 99999999999 years",
        "-1/second",
        "5/fortnight",
        "\u0661/second",  # an Arabic-Indic digit one
    ],
)
def test_a_quota_that_is_not_one_sane_rate_is_refused(api: Api, rate: str) -> None:
    with api.unchanged():
        response = api.client.patch(
            f"{ADMIN}/{api.workspace.api_key}", json={"mintRateLimit": rate}, headers=api.admin
        )
    assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument", field="mintRateLimit")


def test_mint_quota_over_http(api: Api) -> None:
    patched = api.patch_workspace(mintRateLimit="2/minute")
    assert patched["mintRateLimit"] == "2/minute"
    assert api.mint().status_code == 200
    assert api.mint().status_code == 200
    refused = api.mint()
    assert_error(refused, 429, "RESOURCE_EXHAUSTED", "rate_limited")
    assert "retry-after" in refused.headers
    bad = api.client.patch(
        f"{ADMIN}/{api.workspace.api_key}", json={"mintRateLimit": "lots"}, headers=api.admin
    )
    assert_error(bad, 400, "INVALID_ARGUMENT", "invalid_argument", field="mintRateLimit")
    assert api.patch_workspace(mintRateLimit="off")["mintRateLimit"] is None
    assert api.mint().status_code == 200
