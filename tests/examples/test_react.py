"""The React example (``examples/react``) built with Vite, in real Chromium, against a real
``idmint serve`` and the FastAPI example backend, which serves the build at ``/react/``.

The page renders the guide's component (``YourAuthComponent.jsx``: a token from
``/generate-jwt-token`` for the logged-in user, ``identify``, and the ``token_expired`` effect
on ``useIdmintEventCallback('error')``) under ``<IdmintProvider>`` in ``<StrictMode>``, or with
``?refresh=provider`` the ``authProvider`` variant.  The build is a development one, so
StrictMode mounts every effect twice here, as it does while an application is developed.
Every wait is bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import Example, Idmint

pytestmark = pytest.mark.browser

# The page renders once its /config answer is in: until then there is no #session.
IDENTIFIED = "document.getElementById('session')?.textContent.startsWith('ses_') === true"
TTL = 3


@pytest.fixture(scope="module")
def fastapi(processes: tuple[Idmint, dict[str, Example]], react_build: Path) -> Example:
    """The FastAPI example, once the React example is built into the folder it serves."""
    return processes[1]["fastapi"]


@pytest.fixture
def three_second_tokens(idmint_server: Idmint) -> Iterator[int]:
    """The workspace mints tokens that live 3 seconds, for the duration of a test."""
    before = idmint_server.workspace()
    idmint_server.patch_workspace(tokenTtlSeconds=TTL)
    try:
        yield TTL
    finally:
        idmint_server.patch_workspace(tokenTtlSeconds=before["tokenTtlSeconds"])


class Traffic:
    """The page's requests to idmint's identify and the backend's token route, and its errors."""

    def __init__(self, context: Any) -> None:
        self.identify: list[str] = []
        self.tokens: list[str] = []
        self.problems: list[str] = []
        context.on("request", self._request)
        context.on("response", self._response)

    def _request(self, request: Any) -> None:
        if request.url.endswith("/v1/identify"):
            self.identify.append(request.url)
        elif request.url.endswith("/generate-jwt-token"):
            self.tokens.append(request.url)

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def watch(self, page: Any) -> Any:
        page.on("pageerror", lambda error: self.problems.append(f"pageerror: {error}"))
        page.on(
            "console",
            lambda message: (
                self.problems.append(f"console.{message.type}: {message.text}")
                if message.type in ("error", "warning")
                else None
            ),
        )
        return page


def open_logged_in(context: Any, traffic: Traffic, example: Example, query: str = "") -> Any:
    """ann logs in (the cookie lands in the browser context; the redirect is not followed, so
    no other page starts), then the React page opens."""
    login = context.request.get(f"{example.url}/login?user=ann&next=/react/", max_redirects=0)
    assert login.status == 303
    assert login.headers["location"] == "/react/"
    page = traffic.watch(context.new_page())
    page.goto(f"{example.url}/react/" + (f"?{query}" if query else ""))
    page.wait_for_function(IDENTIFIED, timeout=10_000)
    return page


def session_id(page: Any) -> str:
    text: str = page.locator("#session").text_content()
    return text


def error_codes(page: Any) -> list[str]:
    codes: list[str] = page.eval_on_selector_all(
        "#events li.error", "items => items.map(i => i.dataset.code)"
    )
    return codes


def test_not_logged_in_the_react_page_offers_a_login(context: Any, fastapi: Example) -> None:
    page = context.new_page()
    page.goto(f"{fastapi.url}/react/")
    page.wait_for_function("document.getElementById('status')?.textContent === 'Not logged in.'")
    assert page.locator("#login a").first.get_attribute("href") == "/login?user=ann&next=/react/"


def test_the_guides_component_identifies_once_under_strict_mode(
    context: Any, fastapi: Example, idmint_server: Idmint
) -> None:
    traffic = Traffic(context)
    page = open_logged_in(context, traffic, fastapi)
    assert (
        page.locator("#status").text_content() == "Identified as ann (verified: true, mode: jwt)."
    )
    assert page.locator("#user").text_content() == "ann (ann@example.com, org-1)"
    page.wait_for_function("document.getElementById('guide-user')?.textContent === 'User: ann'")
    page.wait_for_timeout(500)  # a second identify, had StrictMode made one, would be here by now
    # StrictMode mounted the provider's effects twice: still one client, one token, one session.
    assert len(traffic.tokens) == 1
    assert traffic.identify == [f"{idmint_server.base_url}/v1/identify"]
    sessions = page.locator("#events li.session").all_text_contents()
    assert len(sessions) == 1
    assert sessions[0].endswith(f"{session_id(page)} for ann")
    assert error_codes(page) == []
    assert traffic.problems == []


@pytest.mark.slow
def test_a_three_second_token_fires_the_guides_effect_once_and_the_session_goes_on(
    context: Any, fastapi: Example, three_second_tokens: int
) -> None:
    traffic = Traffic(context)
    page = open_logged_in(context, traffic, fastapi)
    first = session_id(page)
    # token_expired at 3 s; the guide's effect fetches a fresh token and identifies again.
    page.wait_for_function(
        f"document.getElementById('refreshes')?.dataset.count === '1' && "
        f"{IDENTIFIED} && document.getElementById('session').textContent !== {first!r}",
        timeout=three_second_tokens * 1000 + 5_000,
    )
    second = session_id(page)
    page.wait_for_timeout(1_000)  # within the fresh token's 3 seconds: nothing more fires
    assert page.locator("#refreshes").get_attribute("data-count") == "1"
    assert error_codes(page) == ["token_expired"]
    assert len(traffic.identify) == 2
    assert len(traffic.tokens) == 2
    assert session_id(page) == second
    assert page.locator("#status").text_content().startswith("Identified as ann")
    # The fresh token expires in its turn: once more, and the session goes on again.
    page.wait_for_function(
        f"document.getElementById('refreshes')?.dataset.count === '2' && "
        f"{IDENTIFIED} && document.getElementById('session').textContent !== {second!r}",
        timeout=three_second_tokens * 1000 + 5_000,
    )
    assert error_codes(page) == ["token_expired", "token_expired"]
    assert len(traffic.identify) == 3
    assert traffic.problems == []


@pytest.mark.slow
def test_the_auth_provider_variant_never_emits_token_expired(
    context: Any, fastapi: Example, three_second_tokens: int
) -> None:
    traffic = Traffic(context)
    page = open_logged_in(context, traffic, fastapi, query="refresh=provider")
    seen = [session_id(page)]
    # The provider refreshes at 80-90 % of the 3-second lifetime: three tokens in a row.
    for _ in range(3):
        page.wait_for_function(
            f"{IDENTIFIED} && document.getElementById('session').textContent !== {seen[-1]!r}",
            timeout=three_second_tokens * 1000 + 3_000,
        )
        seen.append(session_id(page))
    assert len(set(seen)) == 4
    assert error_codes(page) == []
    assert page.locator("#refreshes").count() == 0, "no token code of the page's own"
    # One token and one identify per session: StrictMode started one sign-in, one refresh loop.
    assert len(traffic.identify) == len(traffic.tokens) == len(seen)
    assert page.locator("#status").text_content().startswith("Identified as ann")
    assert traffic.problems == []


def test_login_returns_only_to_a_known_page(fastapi: Example) -> None:
    for target in ("https://elsewhere.example", "//elsewhere.example", "/react/../x"):
        answer = httpx.get(
            f"{fastapi.url}/login", params={"user": "ann", "next": target}, timeout=10
        )
        assert answer.status_code == 400, target
        assert "set-cookie" not in answer.headers
