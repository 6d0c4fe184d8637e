"""One parser, one set of rules, for every request body (idmint.api.bodies).

The hot routes are answered by the front, every other route by FastAPI; both read bodies
with ``read_json``.  The corpus below is posted to each hot route twice, once through the
front and once through FastAPI's declaration of the same route (an app whose front hands
the hot routes on), and the two answers must be the same, status and envelope.  A lone
surrogate or a non-character, wherever it sits (member, nested member, object key, array
item, profile data), is a 400 that names the field, on the hot routes and on the admin API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import Receive, Scope, Send

from idmint.api import create_app
from idmint.api.bodies import BodyRoute, read_json
from idmint.api.fast import FORM_PREFIX, FastPath
from idmint.jose.errors import InvalidArgumentError

from .conftest import (
    BACKENDS,
    Api,
    AppFactory,
    assert_envelope,
    assert_error,
)
from .test_error_shape import _walk

JSON = {"Content-Type": "application/json"}
_HEX = re.compile(r"(?<=\\u)[0-9a-f]{4}")
REFUSED = "contains a lone surrogate or a Unicode non-character."
HOT_PATHS = {"mint": "/v1/auth/token/get", "email": "/api/v1/tokens", "identify": "/v1/identify"}

SURROGATES = ["\ud800", "\udfff", "x\udbffy"]
NON_CHARACTERS = ["\ufdd0", "\ufdef", "\ufffe", "\uffff", "\U0001fffe", "\U0010ffff"]
# Their neighbours, and what only looks like them, are text.
TEXT = ["\ufdcf", "\ufdf0", "\ufffd", "\U0001fffd", "\U00010000", "\U0001f600", "\\ud800", "é"]
# Not UTF-8: a stray byte, a continuation byte, overlong "/", truncated "€", U+D800 and
# U+110000 in the forms UTF-8 forbids.
NOT_UTF8 = [b"\xff", b"\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xe2\x82", b"\xed\xa0\x80"]
NOT_UTF8 += [b"\xf4\x90\x80\x80"]


# --- the two paths ---------------------------------------------------------------------------


@dataclass
class Paths:
    """The same app and store, through the front (``front``) and through FastAPI (``framework``:
    its front hands the hot routes on); ``reached`` is every path FastAPI was handed there."""

    api: Api
    front: TestClient
    framework: TestClient
    reached: list[str]

    def post_both(self, route: str, body: bytes) -> tuple[httpx.Response, httpx.Response]:
        headers = dict(JSON)
        if route == "email":
            ws = self.api.workspace
            headers["Authorization"] = f"Outseta {ws.api_key}:{ws.secret}"
        path = HOT_PATHS[route]
        return (
            self.front.post(path, content=body, headers=headers),
            self.framework.post(path, content=body, headers=headers),
        )


def _paths(api: Api) -> Paths:
    """Both paths to ``api``'s service, with identify in development mode and the user of the
    email route made."""
    api.patch_workspace(requireJwt=False)
    assert api.mint(email="ann@example.com").status_code == 200
    app = create_app(api.settings, service=api.idmint)
    framework = app.framework
    reached: list[str] = []

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope["path"])
        await framework(scope, receive, send)

    app.fast_path = FastPath(
        recording, app.routes, limit=api.settings.max_body_bytes, serve_hot_routes=False
    )
    return Paths(api, api.client, TestClient(app, raise_server_exceptions=False), reached)


@pytest.fixture
def paths(backend_api: Api) -> Paths:
    return _paths(backend_api)


def _same_answer(front: httpx.Response, framework: httpx.Response) -> str | None:
    """Why the two answers differ, or None."""
    if front.status_code != framework.status_code:
        return (
            f"status {front.status_code} != {framework.status_code}: {front.text} {framework.text}"
        )
    if front.status_code >= 400:
        assert_envelope(front)
        if front.json() != framework.json():
            return f"{front.text} != {framework.text}"
    elif set(front.json()) != set(framework.json()):
        return f"{front.text} != {framework.text}"
    return None


# --- the corpus ------------------------------------------------------------------------------


def _valid(route: str, api: Api) -> dict[str, Any]:
    if route == "mint":
        return api.mint_body(email="ann@example.com")
    if route == "email":
        return {"username": "ann@example.com"}
    return {"apiKey": api.workspace.api_key, "user": {"userId": "user-1", "name": "Ann"}}


def _refused(c: int) -> bool:
    """The definition: a surrogate, or a non-character (U+FDD0-U+FDEF, U+nFFFE, U+nFFFF)."""
    return 0xD800 <= c <= 0xDFFF or 0xFDD0 <= c <= 0xFDEF or c & 0xFFFE == 0xFFFE


def _key(text: str) -> str:
    """A bad key as a field names it: its refused characters as JSON escapes."""
    return "".join(json.dumps(c)[1:-1] if _refused(ord(c)) else c for c in text)


# Where a string goes: (route, field, put) with put(body, s) placing s in the body.
Put = Callable[[dict[str, Any], str], None]
POSITIONS: list[tuple[str, str, Put]] = [
    ("mint", "note", lambda b, s: b.update(note=s)),
    ("mint", "data.userId", lambda b, s: b["data"].update(userId=s)),
    (
        "mint",
        "data.userProperties.email",
        lambda b, s: b["data"]["userProperties"].update(email=f"ann{s}@example.com"),
    ),
    ("mint", "data.userProperties.{key}", lambda b, s: b["data"]["userProperties"].update({s: 1})),
    (
        "mint",
        "data.userProperties.organizationId.1",
        lambda b, s: b["data"]["userProperties"].update(organizationId=["org-1", s]),
    ),
    ("email", "username", lambda b, s: b.update(username=s)),
    ("email", "{key}", lambda b, s: b.update({s: "x"})),
    ("email", "username.1", lambda b, s: b.update(username=["ann@example.com", s])),
    ("email", "x.y", lambda b, s: b.update(x={"y": s})),
    ("identify", "apiKey", lambda b, s: b.update(apiKey=s)),
    ("identify", "user.name", lambda b, s: b["user"].update(name=s)),
    ("identify", "user.nick", lambda b, s: b["user"].update(nick=s)),
    ("identify", "user.{key}", lambda b, s: b["user"].update({s: 1})),
    ("identify", "user.tags.1", lambda b, s: b["user"].update(tags=["a", s])),
    ("identify", "user.a.b.0.c", lambda b, s: b["user"].update(a={"b": [{"c": s}]})),
]
ROUTES = sorted(HOT_PATHS)
NESTED = {"mint": "data.userId", "email": "username", "identify": "user.name"}


def _positions(route: str) -> list[tuple[str, Put]]:
    return [(field, put) for where, field, put in POSITIONS if where == route]


def _bad_strings(route: str, api: Api) -> Iterator[tuple[str, bytes, str]]:
    """(id, body, field): each refused character in each position, escaped and raw."""
    for template, put in _positions(route):
        for s in SURROGATES + NON_CHARACTERS:
            body = _valid(route, api)
            put(body, s)
            field = template.replace("{key}", _key(s))
            yield f"{template} {s!a} escaped", json.dumps(body).encode(), field
            if s in NON_CHARACTERS:
                raw = json.dumps(body, ensure_ascii=False).encode()
                yield f"{template} {s!a} raw", raw, field
    first, _, rest = json.dumps(_valid(route, api)).encode().partition(b"{")
    # Of two equal keys the last counts, on both paths: this bad one stays.
    yield "duplicate key, bad last", first + b'{"x": 1, "x": "\\ud800", ' + rest, "x"
    yield "a string body", b'"\\ud800"', "body"


def _other_bodies(route: str, api: Api) -> Iterator[tuple[str, bytes]]:
    """(id, body): valid bodies and every other kind of trouble, compared but not predicted."""
    valid = _valid(route, api)
    plain = json.dumps(valid).encode()
    yield "valid", plain
    yield "valid, raw UTF-8", json.dumps(valid, ensure_ascii=False).encode()
    yield "byte order mark", b"\xef\xbb\xbf" + plain
    for template, put in _positions(route):
        for s in TEXT:
            body = _valid(route, api)
            put(body, s)
            yield f"text {template} {s!a}", json.dumps(body, ensure_ascii=False).encode()
    marked = _valid(route, api)
    dict(_positions(route))[NESTED[route]](marked, "@@")
    for bad in NOT_UTF8:
        yield f"not UTF-8 {bad!r}", json.dumps(marked).encode().replace(b"@@", bad)
    yield "truncated UTF-8 at the end", plain + b"\xe2\x82"
    values = ["10" * 15, "-9223372036854775809", "18446744073709551616", "1e400", "-1e400"]
    values += ["NaN", "Infinity", "-Infinity", "1.5", "-0"]
    values += ["[" * depth + "]" * depth for depth in (20, 300, 1100)]
    for value in values:
        name = value if len(value) < 40 else f"nested {len(value) // 2}"
        yield f"member {name}", plain[:-1] + b', "n": ' + value.encode() + b"}"
        if route == "mint":
            yield f"expiresIn {name}", plain[:-2] + b', "expiresIn": ' + value.encode() + b"}}"
        if route == "identify":
            yield f"profile {name}", plain[:-2] + b', "n": ' + value.encode() + b"}}"
    yield "unclosed nesting", b"[" * 5000
    first, _, rest = plain.partition(b"{")
    # Of two equal keys the last counts, on both paths: the bad one is gone.
    yield "duplicate key, bad first", first + b'{"x": "\\ud800", "x": 1, ' + rest
    for other in [b"", b" ", b"{", b"null", b"[]", b"1", b'"x"', b"{}"]:
        yield f"body {other!r}", other


@pytest.mark.parametrize("route", ROUTES)
def test_a_bad_string_is_refused_alike_on_both_paths(paths: Paths, route: str) -> None:
    wrong = []
    for name, body, field in _bad_strings(route, paths.api):
        front, framework = paths.post_both(route, body)
        error = front.json()["error"] if front.status_code == 400 else {}
        if error.get("field") != field or not error.get("message", "").endswith(REFUSED):
            wrong.append(f"{name}: {front.text}")
        difference = _same_answer(front, framework)
        if difference:
            wrong.append(f"{name}: {difference}")
    assert wrong == []
    assert paths.reached == []  # the front refused them before FastAPI saw them


@pytest.mark.parametrize("route", ROUTES)
def test_every_other_body_gets_the_same_answer_on_both_paths(paths: Paths, route: str) -> None:
    wrong = []
    for name, body in _other_bodies(route, paths.api):
        front, framework = paths.post_both(route, body)
        if front.status_code >= 500:
            wrong.append(f"{name}: {front.text}")
        if name in ("valid", "valid, raw UTF-8", "byte order mark") and front.status_code != 200:
            wrong.append(f"{name}: {front.text}")
        if front.status_code == 400 and front.json()["error"]["message"].endswith(REFUSED):
            wrong.append(f"{name}: refused as bad text: {front.text}")
        difference = _same_answer(front, framework)
        if difference:
            wrong.append(f"{name}: {difference}")
    assert wrong == []
    assert HOT_PATHS[route] in paths.reached  # FastAPI's route answered the second


@pytest.mark.parametrize("route", ROUTES)
def test_bodies_that_are_not_utf8_are_refused_naming_body(paths: Paths, route: str) -> None:
    for name, body in _other_bodies(route, paths.api):
        if name.startswith(("not UTF-8", "truncated UTF-8")):
            for response in paths.post_both(route, body):
                assert_error(
                    response,
                    400,
                    "INVALID_ARGUMENT",
                    "invalid_argument",
                    message="The request body is not valid UTF-8.",
                    field="body",
                )


def test_numbers_are_read_exactly(paths: Paths) -> None:
    """An integer beyond 64 bits is the integer, on both paths: validation refuses it where
    it must, and says why (orjson alone would read it as a float)."""
    api = paths.api
    body = json.dumps(api.mint_body(expires_in=10**30)).encode()
    for response in paths.post_both("mint", body):
        assert_error(response, 400, "INVALID_ARGUMENT", "lifetime_out_of_bounds")
    profile = b'{"apiKey": "%s", "user": {"userId": "p", "n": 100000000000000000000000000000}}'
    for response in paths.post_both("identify", profile % api.workspace.api_key.encode()):
        assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument", field="user")


def test_a_byte_order_mark_is_ignored(paths: Paths) -> None:
    body = b"\xef\xbb\xbf" + json.dumps(_valid("identify", paths.api)).encode()
    for response in paths.post_both("identify", body):
        assert response.status_code == 200, response.text


# --- the admin API ----------------------------------------------------------------------------

ADMIN_POSITIONS: list[tuple[str, Put]] = [
    ("userId", lambda b, s: b.update(userId=s)),
    ("name", lambda b, s: b.update(name=f"Ann {s}")),
    ("email", lambda b, s: b.update(email=f"ann{s}@example.com")),
    ("organizationId.0", lambda b, s: b.update(organizationId=[s])),
    ("{key}", lambda b, s: b.update({s: True})),
    ("x.y.0", lambda b, s: b.update(x={"y": [s]})),
]


def test_the_admin_api_refuses_a_bad_string_naming_the_field(backend_api: Api) -> None:
    api = backend_api
    url = f"/admin/v1/workspaces/{api.workspace.api_key}/users"
    headers = {**api.admin, **JSON}
    wrong = []
    with api.unchanged():
        for template, put in ADMIN_POSITIONS:
            for s in SURROGATES + NON_CHARACTERS:
                body: dict[str, Any] = {"userId": "u1", "name": "Ann"}
                put(body, s)
                field = template.replace("{key}", _key(s))
                contents = [json.dumps(body)]
                if s in NON_CHARACTERS:  # a raw surrogate is not UTF-8 at all: below
                    contents.append(json.dumps(body, ensure_ascii=False))
                for content in contents:
                    response = api.client.post(url, content=content, headers=headers)
                    error = assert_envelope(response)
                    if (response.status_code, error.get("field")) != (400, field):
                        wrong.append(f"{template} {s!a}: {response.text}")
        raw = b'{"userId": "u1", "name": "\xed\xa0\x80"}'
        response = api.client.post(url, content=raw, headers=headers)
        assert_error(response, 400, "INVALID_ARGUMENT", "invalid_argument", field="body")
    assert wrong == []
    response = api.client.post(
        url, content='{"userId": "u1", "name": "Ann \ufffd"}', headers=headers
    )
    assert response.status_code == 201, response.text


def test_every_route_reads_its_body_through_the_front(api: Api) -> None:
    routes = [route for _prefix, route in _walk(api.client.app.routes)]
    # The console's pages take HTML forms, read by their own routes (idmint.console).
    api_routes = [
        route
        for route in routes
        if isinstance(route, APIRoute) and not route.path.startswith(FORM_PREFIX.rstrip("/"))
    ]
    assert api_routes
    assert all(isinstance(route, BodyRoute) for route in api_routes), api_routes


def test_fastapi_without_the_front_still_refuses_a_bad_string(api: Api) -> None:
    """Served without its front (``app.framework``), a route parses by the same rules."""
    client = TestClient(api.client.app.framework, raise_server_exceptions=False)
    url = f"/admin/v1/workspaces/{api.workspace.api_key}/users"
    with api.unchanged():
        response = client.post(
            url, content=b'{"userId": "u1", "nick": "\\ud800"}', headers={**api.admin, **JSON}
        )
    assert response.status_code == 400, response.text
    assert_envelope(response)


# --- read_json itself -------------------------------------------------------------------------


def test_read_json_refuses_exactly_the_surrogates_and_non_characters() -> None:
    """Every code point of the BMP, and of the other planes their first and last 32 and a
    sample between, raw and escaped (lowercase and uppercase hex, an astral one as its
    surrogate pair): refused exactly when it is a surrogate or a non-character."""
    lows = [*range(32), *range(0xFFE0, 0x10000)]
    ends = [plane << 16 | low for plane in range(1, 17) for low in lows]
    code_points = [*range(0x10000), *ends, *range(0x10000, 0x110000, 251)]
    wrong = []
    for c in code_points:
        escaped = json.dumps(chr(c))
        forms = [escaped.encode(), _HEX.sub(lambda m: m.group().upper(), escaped).encode()]
        if not 0xD800 <= c <= 0xDFFF:
            forms.append(json.dumps(chr(c), ensure_ascii=False).encode())
        for body in forms:
            try:
                read_json(body)
            except InvalidArgumentError:
                refused = True
            else:
                refused = False
            if refused != _refused(c):
                wrong.append(f"U+{c:04X} {body!r}")
    assert wrong == []


# --- any JSON at all ---------------------------------------------------------------------------

# A list of characters, not st.text: an alphabet's characters are drawn evenly from all of
# Unicode, which would make the refused ones as rare as any other.
_TEXT = st.lists(
    st.characters(exclude_categories=())  # surrogates too
    | st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff", *NON_CHARACTERS]),
    max_size=12,
).map("".join)
# Mostly names that validation takes, so that what surrounds them decides.
_IDS = st.sampled_from(["u1", "user-2", "org-1", "Ann"]) | _TEXT
_KEYS = st.sampled_from(["nick", "name", "tags", "plan"]) | _TEXT
_EMAILS = st.just("ann@example.com") | _TEXT.map(lambda text: f"ann{text}@example.com") | _TEXT
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=4),
    max_leaves=12,
)


@st.composite
def _bodies(draw: st.DrawFn, route: str, api_key: str, secret: str) -> bytes:
    """Any JSON value, or (two times in three) one shaped like the route's body with any text
    and extra members; written with escapes (a surrogate as \\ud800) or as UTF-8 (where a
    surrogate makes the body invalid UTF-8)."""
    value: Any
    if draw(st.integers(0, 2)) == 0:
        value = draw(_VALUES)
    elif route == "mint":
        properties = {"organizationId": draw(_IDS), "email": draw(_EMAILS)}
        data = {"apiKey": api_key, "authToken": secret, "userId": draw(_IDS)}
        value = {"data": {**data, "userProperties": properties}}
    elif route == "email":
        value = {"username": draw(_EMAILS)}
    elif route == "identify":
        user = draw(st.dictionaries(_KEYS, _TEXT | _VALUES, max_size=4))
        value = {"apiKey": api_key, "user": {**user, "userId": draw(_IDS)}}
    else:
        value = {"userId": draw(_IDS), "name": draw(_IDS), "email": draw(_EMAILS)}
    if draw(st.booleans()):
        return json.dumps(value).encode()
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module", params=BACKENDS)
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Paths]:
    """One app for the module (hypothesis runs many examples), with both paths."""
    factory = AppFactory(tmp_path_factory)
    yield _paths(factory(request.param, lifespan=False))
    factory.close()


@given(data=st.data())
@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_any_json_body_gets_a_4xx_envelope_or_success(fuzzed: Paths, data: st.DataObject) -> None:
    api = fuzzed.api
    route = data.draw(st.sampled_from([*ROUTES, "admin"]), label="route")
    body = data.draw(_bodies(route, api.workspace.api_key, api.workspace.secret), label="body")
    if route == "admin":
        url = f"/admin/v1/workspaces/{api.workspace.api_key}/users"
        answers = [api.client.post(url, content=body, headers={**api.admin, **JSON})]
    else:
        answers = list(fuzzed.post_both(route, body))
        assert _same_answer(*answers) is None
    for response in answers:
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert_envelope(response)
    api.idmint.store.drain()  # whatever was accepted was written
