"""One route table: the routes the fast path answers are the FastAPI declarations marked with
``fast_route``, so the paths it serves are the ones the OpenAPI document names."""

from __future__ import annotations

from pathlib import Path

from idmint.api import create_app

from .conftest import isolated_settings


def test_the_fast_path_serves_exactly_the_marked_declarations() -> None:
    app = create_app(isolated_settings(data_dir=Path("unused")))
    fast = app.fast_path  # type: ignore[attr-defined]
    assert set(fast.posts) == {"/v1/auth/token/get", "/api/v1/tokens", "/v1/identify"}
    assert [(prefix, suffix) for prefix, suffix, _handler in fast.gets] == [
        ("/w/", "/.well-known/jwks.json")
    ]
    documented = app.openapi()["paths"]
    for path in fast.posts:
        assert "post" in documented[path], path
    assert "get" in documented["/w/{api_key}/.well-known/jwks.json"]


def test_a_path_declared_elsewhere_is_not_served_by_the_fast_path() -> None:
    app = create_app(isolated_settings(data_dir=Path("unused")))
    fast = app.fast_path  # type: ignore[attr-defined]
    declared = set(app.openapi()["paths"])
    assert set(fast.posts) <= declared
    assert "/v1/sign-out" in declared
    assert "/v1/sign-out" not in fast.posts  # declared, not marked
