"""What a browser on another origin meets: CORS, the allowed domains, sign-out, the SDK route."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idmint.jose.errors import InvalidArgumentError
from idmint.service.origins import check_patterns, origin_allowed

from .conftest import Api, assert_error

ROOT = Path(__file__).resolve().parents[2]
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
        ("https://APP.Example.COM", ["app.example.com"], True),
        ("http://localhost:5173", ["localhost:5173"], True),
        ("https://localhost:5173", ["localhost:5173"], True),
        ("http://localhost:5174", ["localhost:5173"], False),
        ("http://localhost:5173", ["localhost"], True),
        ("http://127.0.0.1:8000", ["127.0.0.1"], True),
        ("http://127.0.0.1:8000", ["127.0.0.1:8000"], True),
        ("http://[::1]:8000", ["[::1]"], True),
        ("http://[::1]:8000", ["[::1]:8000"], True),
        ("http://[0:0::1]:8000", ["[::1]"], True),  # the same address, spelt out
        ("http://127.0.0.2:8000", ["127.0.0.1"], False),
        ("null", ["app.example.com"], False),
        ("file://", ["app.example.com"], False),
    ],
)
def test_origin_matching(origin: str, patterns: list[str], allowed: bool) -> None:
    assert origin_allowed(origin, patterns) is allowed


@pytest.mark.parametrize(
    ("origin", "patterns", "allowed"),
    [
        # a pattern without a scheme is https only, but on a loopback host
        ("http://app.example.com", ["app.example.com"], False),
        ("http://a.example.com", ["*.example.com"], False),
        ("http://app.example.com:8443", ["app.example.com:8443"], False),
        ("https://app.example.com:8443", ["app.example.com:8443"], True),
        ("http://localhost.example.com", ["localhost.example.com"], False),
        ("http://a.localhost", ["*.localhost"], False),
        # http only where the pattern says so, and a scheme given is that scheme only
        ("http://intranet.example.com", ["http://intranet.example.com"], True),
        ("https://intranet.example.com", ["http://intranet.example.com"], False),
        ("http://a.example.com", ["http://*.example.com"], True),
        ("http://example.com", ["http://*.example.com"], False),
        ("https://app.example.com", ["https://app.example.com"], True),
        ("http://app.example.com", ["https://app.example.com"], False),
        ("http://localhost:5173", ["https://localhost:5173"], False),
        # a port in the pattern is that port; an origin without one has its scheme's default
        ("https://app.example.com", ["app.example.com:443"], True),
        ("https://app.example.com:443", ["app.example.com"], True),
        ("http://intranet.example.com", ["http://intranet.example.com:80"], True),
        ("https://app.example.com:8443", ["app.example.com"], True),
        ("https://a.example.com:8443", ["*.example.com:8443"], True),
        ("https://a.example.com", ["*.example.com:8443"], False),
    ],
)
def test_origin_schemes_and_ports(origin: str, patterns: list[str], allowed: bool) -> None:
    assert origin_allowed(origin, patterns) is allowed


@pytest.mark.parametrize(
    "origin",
    [
        "https://app.example.com:99999",  # urlsplit(...).port raised ValueError
        "https://[::1",  # urlsplit raised ValueError
        "https://app.example.com:abc",  # so did this (.port)
        ":abc",
        "https://app.example.com:0",
        "https://app.example.com:",
        "https://app.example.com:-1",
        "https://app.example.com:\u0668\u0660",  # Arabic-Indic digits: int() reads them
        "https://app.example.com/",
        "https://app.example.com/path",
        "https://app.example.com?x",
        "https://user@app.example.com",
        "https://evil.com#@app.example.com",
        "https://app.example.com.",
        "https://app.example.\u212aom",  # the Kelvin sign lowers to "k"
        "ftp://app.example.com",
        "//app.example.com",
        "app.example.com",
        "https://",
        "https://[zz]",
        "",
        "\x00",
    ],
)
def test_malformed_origins_match_no_pattern(origin: str) -> None:
    assert origin_allowed(origin, ["app.example.com", "*.example.com", "[::1]"]) is False


def test_an_empty_list_allows_every_origin_even_a_malformed_one() -> None:
    for origin in ["https://app.example.com", "null", "capacitor://localhost", "https://[::1"]:
        assert origin_allowed(origin, []) is True


@settings(max_examples=500, deadline=None, database=None)
@given(
    origin=st.one_of(
        st.text(),
        st.builds(
            lambda scheme, rest: f"{scheme}://{rest}",
            st.sampled_from(["http", "https", "HTTPS", "ftp", ""]),
            st.text(alphabet="[]:.0123456789abcdefz-*@/?#%\u212a\u0668 "),
        ),
    ),
    patterns=st.lists(
        st.one_of(st.text(), st.sampled_from(["app.example.com", "*.example.com", "[::1]:3000"])),
        max_size=3,
    ),
)
def test_origin_allowed_answers_a_bool_for_any_text(origin: str, patterns: list[str]) -> None:
    assert origin_allowed(origin, patterns) in (True, False)
    assert origin_allowed(origin, []) is True


@settings(max_examples=300, deadline=None, database=None)
@given(patterns=st.lists(st.text(), max_size=3))
def test_check_patterns_normalises_or_names_the_first_bad_entry(patterns: list[str]) -> None:
    failure: InvalidArgumentError | None = None
    try:
        checked = check_patterns(patterns)
    except InvalidArgumentError as exc:
        failure = exc
    if failure is None:
        assert check_patterns(checked) == checked  # normal forms stay as they are
        return
    index = next(i for i in range(len(patterns)) if failure.field == f"allowedDomains.{i}")
    check_patterns(patterns[:index])
    with pytest.raises(InvalidArgumentError):
        check_patterns([patterns[index]])


@pytest.mark.parametrize(
    ("pattern", "normal"),
    [
        ("App.Example.COM", "app.example.com"),
        (" *.example.com ", "*.example.com"),
        ("localhost:05173", "localhost:5173"),
        ("HTTP://Intranet.Example.com", "http://intranet.example.com"),
        ("http://*.example.com", "http://*.example.com"),
        ("https://app.example.com:8443", "https://app.example.com:8443"),
        ("[0:0::1]:3000", "[::1]:3000"),
        ("127.0.0.1", "127.0.0.1"),
    ],
)
def test_domain_patterns_are_normalised(pattern: str, normal: str) -> None:
    assert check_patterns([pattern]) == [normal]


@pytest.mark.parametrize(
    "bad",
    [
        "*",
        "*.",
        "a b.com",
        "exa_mple.com",
        "",
        "https://app.example.com/",
        "https://",
        "ftp://app.example.com",
        "HTTPS:/app.example.com",
        "app.example.com:99999",
        "app.example.com:0",
        "app.example.com:",
        "[::1",
        "[zz]",
        "*.[::1]",
        "user@app.example.com",
        "app.\u212aom",
    ],
)
def test_domain_patterns_are_checked(bad: str) -> None:
    with pytest.raises(InvalidArgumentError, match="domain pattern") as raised:
        check_patterns(["app.example.com", bad])
    assert raised.value.field == "allowedDomains.1"


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


def test_the_sdk_route_serves_the_module(api: Api) -> None:
    response = api.client.get("/sdk/idmint.js", headers={"Origin": "https://app.example.com"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    # src/idmint/static/idmint.js is a symlink to the npm package's module
    assert response.content == (ROOT / "clients" / "js" / "idmint.js").read_bytes()
    assert b"export function createClient(" in response.content
