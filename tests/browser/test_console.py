"""The console in real Chromium against a real ``idmint serve``: the setup guide's first step.

Sign in with the owner account ``idmint init`` printed, turn Require JWT Token off (the page
asks to confirm) and see identify accept a user without a token, turn it back on and see
identify refuse one (``jwt_required``); sign out, and the old cookie no longer opens a page.
The same walk is then done with the keyboard alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ADMIN_TOKEN, free_port, idmint_init, idmint_serve

pytestmark = pytest.mark.browser


class Served:
    def __init__(self, base_url: str, created: dict[str, Any]) -> None:
        self.base_url = base_url
        self.api_key: str = created["apiKey"]
        self.email: str = created["consoleEmail"]
        self.password: str = created["consolePassword"]

    def identify_without_token(self) -> httpx.Response:
        return httpx.post(
            f"{self.base_url}/v1/identify",
            json={"apiKey": self.api_key, "user": {"userId": "ann"}},
            timeout=10,
        )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    port = free_port()
    data_dir = tmp_path_factory.mktemp("idmint-console")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IDMINT_")},
        "IDMINT_DATA_DIR": str(data_dir),
        "IDMINT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "IDMINT_ADMIN_TOKEN": ADMIN_TOKEN,
        "IDMINT_CREDENTIAL_CACHE_SECONDS": "0",
    }
    created = idmint_init(env)
    with idmint_serve(env, port, Path(data_dir) / "server.log") as base_url:
        yield Served(base_url, created)


def test_the_guide_through_the_console(browser: Any, served: Served) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    try:
        page.goto(f"{served.base_url}/console")
        assert page.url.endswith("/console/sign-in")
        page.get_by_label("Email").fill(served.email)
        page.get_by_label("Password").fill(served.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/console/workspaces")
        assert served.api_key in page.content()
        cookie = next(c for c in context.cookies() if c["name"] == "idmint_console")
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"

        page.get_by_role("link", name="Settings").click()
        page.wait_for_url(f"**/console/w/{served.api_key}/settings")
        assert served.identify_without_token().status_code == 401  # on by default
        # Off needs the confirmation the form explains.
        page.get_by_label("I understand").check()
        page.get_by_role("button", name="Turn Require JWT Token off").click()
        page.wait_for_url("**changed=off")
        assert "development mode" in page.content()
        answer = served.identify_without_token()
        assert answer.status_code == 200, answer.text
        assert answer.json()["session"]["mode"] == "development"

        page.get_by_role("button", name="Turn Require JWT Token on").click()
        page.wait_for_url("**changed=on")
        refused = served.identify_without_token()
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "jwt_required"

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/console/sign-in")
        # The old session's cookie opens nothing.
        stale = httpx.get(
            f"{served.base_url}/console/workspaces",
            cookies={"idmint_console": cookie["value"]},
            follow_redirects=False,
        )
        assert (stale.status_code, stale.headers["location"]) == (303, "/console/sign-in")
        assert errors == []  # no CSP violation, no script error
    finally:
        context.close()


def test_the_walk_with_the_keyboard_at_390_px(browser: Any, served: Served) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(f"{served.base_url}/console/sign-in")
        page.keyboard.press("Tab")  # the brand link
        page.keyboard.press("Tab")
        page.keyboard.type(served.email)
        page.keyboard.press("Tab")
        page.keyboard.type(served.password)
        page.keyboard.press("Enter")
        page.wait_for_url("**/console/workspaces")
        page.goto(f"{served.base_url}/console/w/{served.api_key}/settings")
        # Nothing is wider than the phone's screen.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width
    finally:
        context.close()


def test_no_serious_accessibility_violation_on_any_page(browser: Any, served: Served) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    found: dict[str, list[str]] = {}
    try:
        pages = ["/console/sign-in"]
        page.goto(f"{served.base_url}/console/sign-in")
        results = {"/console/sign-in": axe.run(page)}
        page.get_by_label("Email").fill(served.email)
        page.get_by_label("Password").fill(served.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/console/workspaces")
        workspace = f"/console/w/{served.api_key}"
        for path in (
            "/console/workspaces",
            workspace,
            f"{workspace}/settings",
            f"{workspace}/auth-tokens",
            f"{workspace}/keys",
            f"{workspace}/revocations",
        ):
            pages.append(path)
            page.goto(f"{served.base_url}{path}")
            results[path] = axe.run(page)
        for path in pages:
            bad = [
                f"{v['id']} ({v['impact']})"
                for v in results[path].response["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            if bad:
                found[path] = bad
    finally:
        context.close()
    assert found == {}
