"""What a browser on another origin meets: CORS, the allowed domains, sign-out, the SDK route."""

from __future__ import annotations

import pytest

from idmint.service.origins import check_patterns, origin_allowed

from .conftest import Api, assert_error

ANN = {"userId": "user-1", "organizationId": "org-1", "email": "ann@example.com"}


@pytest.mark.parametrize(
    ("origin", "patterns", "allowed"),
    [
        ("https://app.example.com", [], True),
        ("https://app.example.com", ["app.example.com"], True),
        ("https://evil.com", ["app.example.com"], False),
        ("https://a.example.com", ["*.example.com"], True),
        ("https://b.a.example.com", ["*.example.com"], True),
        ("https://example.com", ["*.example.com"], False),
        ("https://notexample.com", ["*.example.com"], False),
        ("https://example.com.evil.com", ["example.com"], False),
        ("http://localhost:5173", ["localhost:5173"], True),
        ("http://localhost:5174", ["localhost:5173"], False),
        ("http://localhost:5173", ["localhost"], True),
        ("null", ["app.example.com"], False),
        ("file://", ["app.example.com"], False),
    ],
)
def test_origin_matching(origin: str, patterns: list[str], allowed: bool) -> None:
    assert origin_allowed(origin, patterns) is allowed


@pytest.mark.parametrize(
    "bad", ["https://app.example.com", "*", "*.", "a b.com", "exa_mple.com", ""]
)
def test_domain_patterns_are_checked(bad: str) -> None:
    with pytest.raises(Exception, match="domain pattern"):
        check_patterns([bad])


def test_identify_from_an_allowed_origin_gets_cors_headers(api: Api) -> None:
    api.patch_workspace(allowedDomains=["*.example.com"])
    token = api.token()
    origin = {"Origin": "https://app.example.com"}
    preflight = api.client.options(
        "/v1/identify",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "content-type" in preflight.headers["access-control-allow-headers"]
    response = api.client.post(
        "/v1/identify",
        json={"apiKey": api.workspace.api_key, "user": ANN, "authToken": token},
        headers=origin,
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-credentials" not in response.headers


def test_identify_from_another_origin_is_refused(api: Api) -> None:
    api.patch_workspace(allowedDomains=["app.example.com"])
    token = api.token()
    response = api.client.post(
        "/v1/identify",
        json={"apiKey": api.workspace.api_key, "user": ANN, "authToken": token},
        headers={"Origin": "https://evil.example.net"},
    )
    assert_error(response, 403, "PERMISSION_DENIED", "origin_not_allowed")
    # Readable by the SDK, so it can emit the code; the refusal itself is the server's.
    assert response.headers["access-control-allow-origin"] == "https://evil.example.net"


def test_allowed_domains_are_validated(api: Api) -> None:
    response = api.client.patch(
        f"/admin/v1/workspaces/{api.workspace.api_key}",
        json={"allowedDomains": ["https://app.example.com/"]},
        headers=api.admin,
    )
    assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument")


def test_sign_out_ends_the_session(api: Api) -> None:
    session = api.identify(ANN, api.token()).json()["session"]
    body = {"apiKey": api.workspace.api_key, "sessionId": session["id"]}
    assert api.client.post("/v1/sign-out", json=body).json() == {"signedOut": True}
    assert api.client.post("/v1/sign-out", json=body).json() == {"signedOut": False}
    record = api.idmint.store.session_record(session["id"])
    assert record is not None
    assert record.ended_at is not None
