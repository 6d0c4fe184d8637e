"""Headers every answer carries: nosniff everywhere, no-store on whatever carries a token, a
secret or personal data, the cache rules of public documents kept, a strict CSP on HTML, and
HSTS when the public URL is https."""

from __future__ import annotations

import pytest

from .conftest import Api, AppFactory


def _answers(api: Api) -> dict[str, object]:
    token = api.token()
    return {
        "mint by user id": api.mint(),
        "mint by email": api.client.post(
            "/api/v1/tokens",
            json={"username": "nobody@example.com"},
            headers={"Authorization": f"idmint {api.workspace.api_key}:{api.workspace.secret}"},
        ),
        "identify": api.identify({"userId": "user-1", "organizationId": "org-1"}, token),
        "admin": api.client.get(f"/admin/v1/workspaces/{api.workspace.api_key}", headers=api.admin),
        "an auth token's secret": api.client.post(
            f"/admin/v1/workspaces/{api.workspace.api_key}/auth-tokens",
            json={"name": "x"},
            headers=api.admin,
        ),
        "an error": api.client.post("/v1/auth/token/get", json={}),
        "no route": api.client.get("/nowhere"),
    }


def test_every_answer_is_nosniff_and_private_ones_are_no_store(api: Api) -> None:
    for name, response in _answers(api).items():
        assert response.headers["x-content-type-options"] == "nosniff", name  # type: ignore[attr-defined]
        assert response.headers["cache-control"] == "no-store", name  # type: ignore[attr-defined]
        assert "strict-transport-security" not in response.headers, name  # type: ignore[attr-defined]


def test_public_documents_keep_their_cache_rules(api: Api) -> None:
    jwks = api.client.get(f"/w/{api.workspace.api_key}/.well-known/jwks.json")
    assert jwks.headers["cache-control"].startswith("public, max-age=")
    assert jwks.headers["x-content-type-options"] == "nosniff"
    sdk = api.client.get("/sdk/idmint.js")
    assert sdk.headers["cache-control"] == "public, max-age=300"
    assert sdk.headers["x-content-type-options"] == "nosniff"


def test_html_pages_have_a_strict_csp_and_no_frames(api: Api) -> None:
    page = api.client.get("/docs")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize(("public_url", "hsts"), [("https://id.example.com", True), (None, False)])
def test_hsts_when_the_public_url_is_https(
    client_factory: AppFactory, public_url: str | None, hsts: bool
) -> None:
    api = client_factory(public_url=public_url)
    response = api.client.get(f"/w/{api.workspace.api_key}/.well-known/jwks.json")
    assert ("strict-transport-security" in response.headers) is hsts
    if hsts:
        assert response.headers["strict-transport-security"].startswith("max-age=31536000")
