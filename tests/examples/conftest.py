"""The examples under ``examples/`` run as real processes against a real ``idmint serve``.

Three loopback processes: idmint (set up with ``idmint init --json``, with an admin token so
the tests can change the workspace's settings), and each example application (FastAPI under
uvicorn, Flask under its own ``flask run``) with ``IDMINT_URL``, ``IDMINT_API_KEY`` and
``IDMINT_AUTH_TOKEN`` in its environment, exactly as examples/README.md runs them.  The FastAPI
one also serves the React example (``examples/react``) at ``/react/`` from ``REACT_DIST``, a
temporary folder that ``react_build`` fills with Vite (test_react.py).  Every
process logs to a file, not a pipe: nobody reads a pipe while the tests run, and a full one
stalls the process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    ADMIN_TOKEN,
    IDMINT,
    RunningIdmint,
    free_port,
    idmint_init,
    launch,
    stop,
    wait_ready,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@dataclass(frozen=True)
class Idmint(RunningIdmint):
    data_dir: Path  # the store, for the `idmint` command


@dataclass(frozen=True)
class Example:
    name: str
    url: str


def _example_command(name: str, port: int) -> list[str]:
    """How examples/README.md starts each example (uvicorn; Flask's own server)."""
    host = ["--host", "127.0.0.1", "--port", str(port)]
    if name == "fastapi":
        app_dir = str(EXAMPLES / "fastapi_app")
        return [sys.executable, "-m", "uvicorn", "--app-dir", app_dir, "app:app", *host]
    app = str(EXAMPLES / "flask_app" / "app.py")
    return [sys.executable, "-m", "flask", "--app", app, "run", *host]


@pytest.fixture(scope="session")
def react_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the React example is built to (empty until ``react_build``): the FastAPI
    example's ``REACT_DIST``."""
    return tmp_path_factory.mktemp("react-dist")


@pytest.fixture(scope="session")
def processes(
    tmp_path_factory: pytest.TempPathFactory, react_dist: Path
) -> Iterator[tuple[Idmint, dict[str, Example]]]:
    """``idmint serve`` (what ``make run`` starts) and both examples, started side by side.

    The examples need idmint only when they mint, so all three start at once.
    """
    logs = tmp_path_factory.mktemp("examples")
    idmint_port = free_port()
    base_url = f"http://127.0.0.1:{idmint_port}"
    env = {
        **os.environ,
        "IDMINT_DATA_DIR": str(logs / "idmint"),
        "IDMINT_PUBLIC_URL": base_url,
        "IDMINT_ADMIN_TOKEN": ADMIN_TOKEN,
        # settings changes (token lifetimes) apply to the next request
        "IDMINT_CREDENTIAL_CACHE_SECONDS": "0",
        # no leeway, so that idmint itself answers token_expired right at exp
        "IDMINT_LEEWAY_SECONDS": "0",
    }
    created = idmint_init(env)
    server = Idmint(base_url, created["apiKey"], created["authToken"], logs / "idmint")
    app_env = {
        **os.environ,
        "IDMINT_URL": server.base_url,
        "IDMINT_API_KEY": server.api_key,
        "IDMINT_AUTH_TOKEN": server.auth_token,
        "REACT_DIST": str(react_dist),
    }
    started: list[tuple[subprocess.Popen[bytes], Path, str]] = []
    try:
        command = [IDMINT, "serve", "--host", "127.0.0.1", "--port", str(idmint_port)]
        process = launch(command, env, logs / "idmint.log", cwd=ROOT)
        started.append((process, logs / "idmint.log", f"{base_url}/sdk/idmint.js"))
        examples = {}
        for name in ("fastapi", "flask"):
            port = free_port()
            process = launch(_example_command(name, port), app_env, logs / f"{name}.log", cwd=ROOT)
            examples[name] = Example(name, f"http://127.0.0.1:{port}")
            started.append((process, logs / f"{name}.log", f"{examples[name].url}/config"))
        for process, log_path, url in started:
            wait_ready(process, log_path, url)
        # The guide's first step: "Require JWT Token" (on by default; set it all the same).
        assert server.patch_workspace(requireJwt=True)["requireJwt"] is True
        yield server, examples
    finally:
        for process, _, _ in started:
            stop(process)


@pytest.fixture(scope="session")
def idmint_server(processes: tuple[Idmint, dict[str, Example]]) -> Idmint:
    return processes[0]


@pytest.fixture(scope="session", params=["fastapi", "flask"])
def example(
    request: pytest.FixtureRequest, processes: tuple[Idmint, dict[str, Example]]
) -> Example:
    """One example application, with IDMINT_URL, IDMINT_API_KEY and IDMINT_AUTH_TOKEN set."""
    return processes[1][request.param]


REACT_EXAMPLE = EXAMPLES / "react"


@pytest.fixture(scope="session")
def react_build(react_dist: Path) -> Path:
    """The React example built with Vite, from its lock-installed npm packages (``make js-env``
    installs them), into ``react_dist``.  A development build: React's StrictMode then really
    mounts every effect twice in the browser, which the bindings must survive."""
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        pytest.skip("node or npm is not installed")
    vite = REACT_EXAMPLE / "node_modules" / "vite" / "bin" / "vite.js"
    if not vite.exists():
        pytest.fail(
            "the React example's npm packages are not installed: run `make js-env` (make test "
            "does), or `npm ci` in examples/react"
        )
    result = subprocess.run(
        [node, str(vite), "build", "--outDir", str(react_dist), "--emptyOutDir"],
        cwd=REACT_EXAMPLE,
        env={**os.environ, "NODE_ENV": "development"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (react_dist / "index.html").is_file()
    return react_dist


@pytest.fixture
def short_tokens(idmint_server: Idmint) -> Iterator[int]:
    """Tokens that live 4 seconds for the duration of a test, so that refreshes show."""
    before = idmint_server.workspace()
    idmint_server.patch_workspace(tokenTtlSeconds=4)
    try:
        yield 4
    finally:
        idmint_server.patch_workspace(tokenTtlSeconds=before["tokenTtlSeconds"])


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile (its own cookies, so its own login) per test."""
    ctx = browser.new_context()
    ctx.set_default_timeout(10_000)
    try:
        yield ctx
    finally:
        ctx.close()
