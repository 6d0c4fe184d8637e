"""The browser SDK (``/sdk/idmint.js``) in real Chromium, cross-origin, against a real server.

Timings are measured with the page's own clock (``performance.now()``); every wait is bounded.
Each test has its own browser profile and its own user, so tabs and channels do not mix.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import App, Idmint

pytestmark = pytest.mark.browser


def user(user_id: str) -> dict[str, str]:
    return {
        "userId": user_id,
        "organizationId": "org-1",
        "email": f"{user_id}@example.com",
        "name": user_id.title(),
    }


def token_query(who: dict[str, str], **extra: Any) -> dict[str, Any]:
    """The application backend's /token query for ``who``."""
    return {
        "userId": who["userId"],
        "organizationId": who["organizationId"],
        "email": who["email"],
        **extra,
    }


def open_app(context: Any, app: App, idmint: Idmint) -> Any:
    page = context.new_page()
    page.goto(app.page_url(idmint))
    page.wait_for_function(
        "window.ready === true || window.loadError !== undefined", timeout=10_000
    )
    assert page.evaluate("window.loadError ?? null") is None
    return page


def errors(page: Any) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate("log.errors")
    return result


def sessions(page: Any) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate("log.sessions.filter((s) => s.id)")
    return result


# A fresh client identifies ``who`` with the application's token for ``query``; the error, or null.
IDENTIFY_ERROR = """async ({ who, query }) => {
    const client = makeClient();
    return errorOf(client.identify(who, { authToken: await getToken(query) }));
}"""


def start_provider(
    page: Any, who: dict[str, str], query: dict[str, Any], *, retry_count: int, retry_delay: int
) -> None:
    """A fresh client with an auth provider on the application's /token; sign-in not awaited.

    Sets ``window.t0`` (page time just before) and ``window.signIn`` (the sign-in promise).
    """
    page.evaluate(
        """({ who, query, retryConfig }) => {
            const client = makeClient();
            window.t0 = performance.now();
            window.signIn = client.setAuthProvider({
                user: who,
                generateToken: () => fetch(tokenUrl(query)),  // a Response: the SDK reads it
                retryConfig,
            });
        }""",
        {
            "who": who,
            "query": query,
            "retryConfig": {"retryCount": retry_count, "retryDelay": retry_delay},
        },
    )


def settle(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Whether ``condition`` holds within ``timeout`` seconds (polled; for a refresh in flight)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_identify_cross_origin_then_sign_out(context: Any, app: App, idmint_server: Idmint) -> None:
    page = open_app(context, app, idmint_server)
    identify_answers = []
    page.on(
        "response",
        lambda r: identify_answers.append(r) if r.url.endswith("/v1/identify") else None,
    )
    ann = user("ann")
    result = page.evaluate(
        """async ({ who, query }) => {
            const client = makeClient();
            const token = await getToken(query);
            const session = await client.identify(who, { authToken: token });
            const seen = { session, user: client.getUser(), current: client.getSession() };
            seen.signedOut = await client.signOut();
            seen.after = { user: client.getUser(), session: client.getSession() };
            seen.again = await client.signOut();
            return seen;
        }""",
        {"who": ann, "query": token_query(ann, expiresIn=600)},
    )
    session = result["session"]
    assert session["id"].startswith("ses_")
    assert session["verified"] is True
    assert session["mode"] == "jwt"
    assert session["organizationId"] == "org-1"
    assert session["user"]["userId"] == "ann"
    assert result["user"]["name"] == "Ann"
    assert result["current"]["id"] == session["id"]
    assert result["signedOut"] is True
    assert result["after"] == {"user": None, "session": None}
    assert result["again"] is False
    assert errors(page) == []
    # It really was a cross-origin request, answered with CORS headers.
    assert app.url != idmint_server.base_url
    assert identify_answers
    assert identify_answers[0].headers["access-control-allow-origin"] == app.url


def test_another_users_token_is_user_mismatch(
    context: Any, app: App, idmint_server: Idmint
) -> None:
    page = open_app(context, app, idmint_server)
    ann, bob = user("ann"), user("bob")
    error = page.evaluate(IDENTIFY_ERROR, {"who": ann, "query": token_query(bob, expiresIn=600)})
    assert error["code"] == "user_mismatch"
    assert error["status"] == 403
    assert error["source"] == "server"
    assert error["message"]
    assert [e["code"] for e in errors(page)] == ["user_mismatch"]
    assert page.evaluate("client.getUser()") is None


def test_a_three_second_token_emits_token_expired_once(
    context: Any, app: App, idmint_server: Idmint
) -> None:
    page = open_app(context, app, idmint_server)
    carol = user("carol")
    page.evaluate(
        """async ({ who, query }) => {
            const client = makeClient();
            const token = await getToken(query);
            window.receivedAt = performance.now();
            await client.identify(who, { authToken: token });
        }""",
        {"who": carol, "query": token_query(carol, expiresIn=3)},
    )
    page.wait_for_function("log.errors.length > 0", timeout=6_000)
    page.wait_for_timeout(1_000)  # nothing more may come
    seen = errors(page)
    assert [e["code"] for e in seen] == ["token_expired"]
    assert seen[0]["source"] == "client"
    assert seen[0]["expiredAt"].endswith("Z")
    assert isinstance(seen[0]["timestamp"], (int, float))
    after = seen[0]["at"] - page.evaluate("window.receivedAt")
    assert 2_950 <= after <= 3_600, after
    assert page.evaluate("client.getSession()") is None


def test_idmint_answering_token_expired_is_emitted_once(
    context: Any, app: App, idmint_server: Idmint
) -> None:
    page = open_app(context, app, idmint_server)
    dave = user("dave")
    result = page.evaluate(
        """async ({ who, query }) => {
            const client = makeClient();
            const token = await getToken(query);
            await new Promise((resolve) => setTimeout(resolve, 1_100));
            const first = await errorOf(client.identify(who, { authToken: token }));
            const second = await errorOf(client.identify(who, { authToken: token }));
            return { first, second };
        }""",
        {"who": dave, "query": token_query(dave, expiresIn=1)},
    )
    assert result["first"]["code"] == "token_expired"
    assert result["first"]["source"] == "server"
    assert result["first"]["status"] == 401
    assert result["first"]["expiredAt"].endswith("Z")
    assert result["second"]["code"] == "token_expired"
    assert [e["code"] for e in errors(page)] == ["token_expired"]


def test_auth_provider_keeps_the_session_past_the_first_tokens_expiry(
    context: Any, app: App, idmint_server: Idmint
) -> None:
    page = open_app(context, app, idmint_server)
    erin = user("erin")
    query = token_query(erin, expiresIn=3, bucket="survive")
    start_provider(page, erin, query, retry_count=2, retry_delay=200)
    session = page.evaluate("signIn")
    assert session["verified"] is True
    page.wait_for_function("performance.now() - window.t0 > 4_500", polling=100, timeout=8_000)
    assert errors(page) == []
    seen = sessions(page)
    assert len(seen) >= 2
    t0 = page.evaluate("window.t0")
    assert seen[1]["at"] - t0 < 3_000  # refreshed before the first token expired
    assert page.evaluate("client.getSession() !== null")
    # every token fetched became a session; a refresh may be in flight right now, so wait for it
    settled = settle(lambda: len(app.calls("survive")) == len(sessions(page)))
    assert settled, (app.calls("survive"), sessions(page))


def test_two_tabs_refresh_once(context: Any, app: App, idmint_server: Idmint) -> None:
    frank = user("frank")
    tabs = [open_app(context, app, idmint_server) for _ in range(2)]
    assert tabs[0].evaluate("Boolean(navigator.locks) && typeof BroadcastChannel")
    # a slow token endpoint, so that the other tab's refresh time may come while one runs
    query = token_query(frank, expiresIn=4, bucket="tabs", delay=300)
    for tab in tabs:
        start_provider(tab, frank, query, retry_count=2, retry_delay=200)
    for tab in tabs:
        tab.wait_for_function("log.sessions.length >= 1", timeout=5_000)
    signed_in = len(app.calls("tabs"))
    assert signed_in == 2  # each tab signs in with its own token
    for tab in tabs:
        tab.wait_for_function("log.sessions.filter((s) => s.id).length >= 2", timeout=6_000)
    assert len(app.calls("tabs")) == signed_in + 1
    tabs[0].wait_for_timeout(400)
    assert len(app.calls("tabs")) == signed_in + 1
    for tab in tabs:
        assert errors(tab) == []
        assert tab.evaluate("client.getSession() !== null")


def test_a_provider_answering_401_stops_at_once(
    context: Any, app: App, idmint_server: Idmint
) -> None:
    page = open_app(context, app, idmint_server)
    gina = user("gina")
    start_provider(
        page, gina, token_query(gina, fail=401, bucket="deny"), retry_count=3, retry_delay=100
    )
    error = page.evaluate("errorOf(signIn)")
    assert error["code"] == "token_refresh_failed"
    assert error["status"] == 401
    assert error["attempts"] == 1
    page.wait_for_timeout(1_000)  # retries would have come by now (100 + 200 + 400 ms)
    assert len(app.calls("deny")) == 1
    seen = errors(page)
    assert [e["code"] for e in seen] == ["token_refresh_failed"]
    assert seen[0]["source"] == "provider"


def test_a_failing_provider_backs_off_then_gives_up(
    context: Any, app: App, idmint_server: Idmint
) -> None:
    page = open_app(context, app, idmint_server)
    hank = user("hank")
    start_provider(
        page, hank, token_query(hank, fail=503, bucket="flaky"), retry_count=2, retry_delay=150
    )
    error = page.evaluate("errorOf(signIn)")
    assert error["code"] == "token_refresh_failed"
    assert error["attempts"] == 3
    assert error["status"] == 503
    calls = app.calls("flaky")
    assert len(calls) == 3
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps[0] >= 0.14
    assert gaps[1] >= 0.29  # doubled
    page.wait_for_timeout(700)
    assert len(app.calls("flaky")) == 3
    assert [e["code"] for e in errors(page)] == ["token_refresh_failed"]


def test_a_disallowed_origin_is_refused(context: Any, app: App, idmint_server: Idmint) -> None:
    page = open_app(context, app, idmint_server)
    ivy = user("ivy")
    args = {"who": ivy, "query": token_query(ivy, expiresIn=600)}
    try:
        idmint_server.patch_workspace(allowedDomains=["app.example.com"])
        error = page.evaluate(IDENTIFY_ERROR, args)
        assert error["code"] == "origin_not_allowed"
        assert error["status"] == 403
        assert error["source"] == "server"
        # the application's own origin, once allowed, may identify
        idmint_server.patch_workspace(allowedDomains=[f"127.0.0.1:{app.port}"])
        assert page.evaluate(IDENTIFY_ERROR, args) is None
    finally:
        idmint_server.patch_workspace(allowedDomains=[])
    assert [e["code"] for e in errors(page)] == ["origin_not_allowed"]
