"""examples/static/index.html in real Chromium, served by each example application.

The page is on the application's origin and imports the SDK from idmint's, so identify is a
cross-origin request, as in production.  It logs in through the demo ``/login``, fetches its
token from ``/generate-jwt-token`` and shows the idmint session and every error event.
Every wait is bounded.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Example, Idmint

pytestmark = pytest.mark.browser

IDENTIFIED = "document.getElementById('session').textContent.startsWith('ses_')"


def texts(page: Any, selector: str) -> list[str]:
    result: list[str] = page.locator(selector).all_text_contents()
    return result


def open_logged_in(context: Any, example: Example, user: str, query: str = "") -> Any:
    page = context.new_page()
    page.goto(f"{example.url}/login?user={user}")  # redirects to the page
    if query:
        page.goto(f"{example.url}/?{query}")
    page.wait_for_function(IDENTIFIED, timeout=10_000)
    return page


def test_not_logged_in_the_page_offers_a_login(context: Any, example: Example) -> None:
    page = context.new_page()
    page.goto(f"{example.url}/")
    page.wait_for_function("document.getElementById('status').textContent === 'Not logged in.'")
    assert page.locator("#login").is_visible()
    assert texts(page, "#events li") == []


@pytest.mark.parametrize("user", ["ann", "bob"])
def test_the_page_identifies_the_logged_in_user(
    context: Any, example: Example, idmint_server: Idmint, user: str
) -> None:
    identify = []
    context.on("response", lambda r: identify.append(r) if r.url.endswith("/v1/identify") else None)
    page = open_logged_in(context, example, user)
    status = page.locator("#status").text_content()
    assert status == f"Identified as {user} (verified: true, mode: jwt)."
    assert page.locator("#user").text_content().startswith(f"{user} ({user}@example.com")
    assert texts(page, "#events li.error") == []
    sessions = texts(page, "#events li.session")
    assert len(sessions) == 1
    assert sessions[0].endswith(f"for {user}")
    # Cross-origin: the page is the application's, identify went to idmint with CORS.
    assert len(identify) == 1
    assert identify[0].url == f"{idmint_server.base_url}/v1/identify"
    assert identify[0].status == 200
    assert identify[0].headers["access-control-allow-origin"] == example.url


def test_the_auth_provider_refreshes_before_the_token_expires(
    context: Any, example: Example, short_tokens: int
) -> None:
    page = open_logged_in(context, example, "ann")
    first = page.locator("#session").text_content()
    # The provider refreshes at 80-90 % of the 4-second lifetime, before token_expired.
    page.wait_for_function(
        f"document.getElementById('session').textContent.startsWith('ses_') && "
        f"document.getElementById('session').textContent !== {first!r}",
        timeout=short_tokens * 1000 + 5_000,
    )
    assert texts(page, "#events li.error") == []
    assert page.locator("#status").text_content().startswith("Identified as ann")


def test_refresh_by_hand_on_token_expired(
    context: Any, example: Example, short_tokens: int
) -> None:
    page = open_logged_in(context, example, "ann", query="refresh=manual")
    first = page.locator("#session").text_content()
    # token_expired at 4 s; the page's error handler then identifies with a fresh token.
    page.wait_for_function(
        "document.querySelector('#events li.error[data-code=token_expired]') && "
        "[...document.querySelectorAll('#events li')].at(-1).className === 'session' && "
        "[...document.querySelectorAll('#events li')].at(-1).textContent.includes('ses_')",
        timeout=short_tokens * 1000 + 5_000,
    )
    codes = page.eval_on_selector_all("#events li.error", "items => items.map(i => i.dataset.code)")
    assert codes == ["token_expired"]
    second = page.locator("#session").text_content()
    assert second.startswith("ses_")
    assert second != first
    assert page.locator("#status").text_content().startswith("Identified as ann")
