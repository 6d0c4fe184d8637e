"""docs/api.md describes every route of the OpenAPI document, and names only real error codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from idmint.api import create_app
from idmint.api.errors import http_error_classes
from idmint.jose.errors import error_classes

from .conftest import isolated_settings
from .test_error_shape import ENDPOINTS

DOCS = Path(__file__).resolve().parents[2] / "docs"
CODES = {cls.code for cls in [*error_classes(), *http_error_classes()]}
_HEADING = re.compile(r"^#{2,4} `(GET|POST|PUT|PATCH|DELETE) (/\S*)`\s*$", re.M)


def _openapi() -> dict[str, dict[str, object]]:
    document = create_app(isolated_settings(data_dir=Path("unused"))).openapi()
    paths: dict[str, dict[str, object]] = document["paths"]
    return paths


OPERATIONS = sorted(
    (method.upper(), path) for path, operations in _openapi().items() for method in operations
)


def _documented_routes() -> set[tuple[str, str]]:
    return {(m.group(1), m.group(2)) for m in _HEADING.finditer((DOCS / "api.md").read_text())}


def _section(method: str, path: str) -> str:
    text = (DOCS / "api.md").read_text()
    start = text.index(f"`{method} {path}`\n")
    following = _HEADING.search(text, start + 1)
    return text[start : following.start() if following else len(text)]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=lambda v: str(v))
def test_route_is_documented(method: str, path: str) -> None:
    assert (method, path) in _documented_routes(), f"docs/api.md has no heading `{method} {path}`"
    section = _section(method, path)
    assert "**Auth:**" in section, f"{method} {path}: auth not documented"
    assert "**Success:**" in section, f"{method} {path}: success answer not documented"
    if path.startswith(("/v1/", "/api/", "/admin/", "/w/")):
        assert "**Errors:**" in section, f"{method} {path}: error codes not documented"


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=lambda v: str(v))
def test_request_body_is_documented(method: str, path: str) -> None:
    operation = _openapi()[path][method.lower()]
    assert isinstance(operation, dict)
    if "requestBody" in operation:
        assert "**Request body:**" in _section(method, path), f"{method} {path}: no body docs"


def test_documented_routes_exist() -> None:
    served = {(e.method, e.path) for e in ENDPOINTS}
    assert _documented_routes() - served == set()


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/auth/token/get"), ("POST", "/api/v1/tokens"), ("POST", "/v1/identify")],
)
def test_curl_example(method: str, path: str) -> None:
    section = _section(method, path)
    assert re.search(rf"curl [^\n]*{re.escape(path)}", section), f"{path}: no curl example"


def test_every_code_in_errors_md_exists() -> None:
    listed = re.findall(r"^\| `([a-z_]+)` \| `\w+` \|", (DOCS / "errors.md").read_text(), re.M)
    assert listed
    assert set(listed) - CODES == set()
    assert len(listed) == len(set(listed)), "a code is listed twice"


def test_every_code_in_api_md_exists() -> None:
    text = (DOCS / "api.md").read_text()
    blocks = re.findall(r"\*\*Errors:\*\*(.*?)(?:\n\n|\Z)", text, re.S)
    assert blocks
    named = {code for block in blocks for code in re.findall(r"`([a-z_]+)` \(\d{3}", block)}
    named |= set(re.findall(r'"code": "([a-z_]+)"', text))
    assert named
    assert named - CODES == set(), f"docs/api.md names unknown codes: {named - CODES}"


def test_openapi_document_is_served() -> None:
    from fastapi.testclient import TestClient

    app = create_app(isolated_settings(data_dir=Path("unused")))
    response = TestClient(app).get("/openapi.json")
    assert response.status_code == 200
    assert {(m.upper(), p) for p, ops in response.json()["paths"].items() for m in ops} == set(
        OPERATIONS
    )
