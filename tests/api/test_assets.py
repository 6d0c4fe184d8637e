"""Static assets from memory: the browser SDK at its stable and its content-hashed URL, with a
strong ETag and 304s, and /docs with Swagger UI from the pinned package, no CDN."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from .conftest import Api, assert_error

SDK = Path(__file__).resolve().parents[2] / "src" / "idmint" / "static" / "idmint.js"


def test_the_sdk_is_served_with_a_strong_etag_and_its_immutable_url(api: Api) -> None:
    response = api.client.get("/sdk/idmint.js")
    assert response.status_code == 200
    body = SDK.read_bytes()
    assert response.content == body
    digest = hashlib.sha256(body).hexdigest()[:16]
    assert response.headers["etag"] == f'"{digest}"'
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["content-location"] == f"/sdk/idmint.{digest}.js"
    assert response.headers["content-type"].startswith("text/javascript")

    pinned = api.client.get(response.headers["content-location"])
    assert pinned.status_code == 200
    assert pinned.content == body
    assert pinned.headers["etag"] == response.headers["etag"]
    assert pinned.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_a_matching_if_none_match_is_answered_304_without_a_body(api: Api) -> None:
    etag = api.client.get("/sdk/idmint.js").headers["etag"]
    for url in ("/sdk/idmint.js", f"/sdk/idmint.{etag.strip(chr(34))}.js"):
        for header in (etag, f"W/{etag}", f'"other", {etag}'):
            cached = api.client.get(url, headers={"If-None-Match": header})
            assert cached.status_code == 304, (url, header)
            assert cached.content == b""
            assert cached.headers["etag"] == etag
    stale = api.client.get("/sdk/idmint.js", headers={"If-None-Match": '"0000000000000000"'})
    assert stale.status_code == 200


def test_another_versions_url_is_not_found_and_names_the_current_one(api: Api) -> None:
    current = api.client.get("/sdk/idmint.js").headers["content-location"]
    response = api.client.get("/sdk/idmint.0123456789abcdef.js")
    error = assert_error(response, 404, "NOT_FOUND", "not_found")
    assert current in error["message"]


def test_the_hashed_sdk_url_answers_cors_like_the_stable_one(api: Api) -> None:
    current = api.client.get("/sdk/idmint.js").headers["content-location"]
    origin = "https://app.example.com"
    response = api.client.get(current, headers={"Origin": origin})
    assert response.headers["access-control-allow-origin"] == origin


def test_docs_load_swagger_ui_from_the_server_itself_with_no_inline_script(api: Api) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "cdn" not in html.lower()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline script"
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, html
    for source in sources:
        assert source.startswith("/docs/assets/"), source
        asset = api.client.get(source)
        assert asset.status_code == 200, source
        assert asset.headers["etag"]
        assert len(asset.content) > 100, source
    assert "SwaggerUIBundle" in api.client.get("/docs/assets/swagger-ui-bundle.js").text
    assert "/openapi.json" in api.client.get("/docs/assets/docs.js").text


def test_an_unknown_docs_asset_is_not_found(api: Api) -> None:
    for name in ("index.html", "swagger-ui.js.map", "..%2Fdocs.js", "nothing"):
        response = api.client.get(f"/docs/assets/{name}")
        assert response.status_code == 404, name
