"""The browser SDK in real Chromium against a real ``idmint serve``, from another origin.

Two loopback origins: idmint itself (``http://127.0.0.1:<port>``) and a small "application"
(``http://127.0.0.1:<other port>``) that serves the test page and plays the application's
backend: its ``/token`` route mints with idmint's ``POST /v1/auth/token/get`` server-side, with
the auth token, so the secret never reaches the page.  The page imports the SDK from
``{idmint}/sdk/idmint.js``, so every identify is a cross-origin (CORS) request.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from conftest import (
    ADMIN_TOKEN,
    RunningIdmint,
    free_port,
    idmint_init,
    idmint_serve,
)

PAGES = Path(__file__).resolve().parent / "pages"


class Idmint(RunningIdmint):
    """The idmint the browser tests run against."""


@pytest.fixture(scope="session")
def idmint_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idmint]:
    """A real ``idmint serve`` on loopback, set up with ``idmint init``."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("idmint-browser")
    env = {
        **os.environ,
        "IDMINT_DATA_DIR": str(data_dir),
        "IDMINT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "IDMINT_ADMIN_TOKEN": ADMIN_TOKEN,
        # settings changes (allowed domains) apply to the next request
        "IDMINT_CREDENTIAL_CACHE_SECONDS": "0",
        # no leeway, so that idmint itself answers token_expired right at exp
        "IDMINT_LEEWAY_SECONDS": "0",
    }
    created = idmint_init(env)
    with idmint_serve(env, port, data_dir / "server.log", ready="/sdk/idmint.js") as base_url:
        yield Idmint(base_url, created["apiKey"], created["authToken"])


@dataclass
class App:
    """The application's origin: the test page and its backend's token endpoint."""

    url: str
    port: int
    _calls: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, bucket: str) -> None:
        with self._lock:
            self._calls[bucket].append(time.monotonic())

    def calls(self, bucket: str) -> list[float]:
        """When the token endpoint was called for ``bucket`` (``time.monotonic()``)."""
        with self._lock:
            return list(self._calls[bucket])

    def page_url(self, idmint: Idmint) -> str:
        query = urlencode({"idmint": idmint.base_url, "apiKey": idmint.api_key})
        return f"{self.url}/app.html?{query}"


def _handler(app: App, idmint: Idmint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, body: object) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/token":
                self._token({k: v[-1] for k, v in parse_qs(parts.query).items()})
                return
            page = PAGES / parts.path.lstrip("/")
            if parts.path.endswith(".html") and page.is_file() and page.parent == PAGES:
                self._send(200, page.read_bytes(), "text/html; charset=utf-8")
                return
            self._json(404, {"error": "not found"})

        def _token(self, query: dict[str, str]) -> None:
            """The application backend's token route (as in the seed's step 2)."""
            app.record(query.get("bucket", "default"))
            if "delay" in query:
                time.sleep(int(query["delay"]) / 1000)
            if "fail" in query:
                self._json(int(query["fail"]), {"error": "the application refuses"})
                return
            properties: dict[str, Any] = {"organizationId": query.get("organizationId", "org-1")}
            if "email" in query:
                properties["email"] = query["email"]
            data: dict[str, Any] = {
                "apiKey": idmint.api_key,
                "authToken": idmint.auth_token,
                "userId": query.get("userId", "user-1"),
                "userProperties": properties,
            }
            if "expiresIn" in query:
                data["expiresIn"] = int(query["expiresIn"])
            minted = httpx.post(
                f"{idmint.base_url}/v1/auth/token/get", json={"data": data}, timeout=10
            )
            if minted.status_code != 200:
                self._json(502, {"error": minted.json()})
                return
            self._json(200, {"token": minted.json()["result"]["data"]["token"]})

    return Handler


@pytest.fixture(scope="session")
def app(idmint_server: Idmint) -> Iterator[App]:
    """The application's origin, on another loopback port than idmint."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = int(server.server_address[1])
    application = App(f"http://127.0.0.1:{port}", port)
    server.RequestHandlerClass = _handler(application, idmint_server)
    thread = threading.Thread(target=server.serve_forever, name="app-origin", daemon=True)
    thread.start()
    try:
        yield application
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile per test (its own tabs, locks and channels)."""
    ctx = browser.new_context()
    try:
        yield ctx
    finally:
        ctx.close()
