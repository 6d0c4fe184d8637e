"""The base install is the core and the client on cryptography, httpx and orjson alone; the
server is the ``server`` extra.

Checked two ways: in this environment with every server package blocked from importing, and
for real: the wheel built by ``uv build``, installed into a fresh virtual environment, runs the
docs' client snippets against a real ``idmint serve``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import free_port, idmint_init, idmint_serve

ROOT = Path(__file__).resolve().parents[1]
UV = str(Path(sys.executable).with_name("uv"))

SERVER_PACKAGES = (
    "alembic",
    "fastapi",
    "psycopg",
    "pydantic",
    "pydantic_settings",
    "rich",
    "sqlalchemy",
    "starlette",
    "typer",
    "uvicorn",
)

# Imports idmint's client and core while every server package refuses to import, then mints
# and verifies a token offline with them.
_BLOCKED = """
import importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: the base install does not have it")
        return None

sys.meta_path.insert(0, Block())
import idmint
from idmint import KeyRing, SigningKey, TokenMinter, TokenVerifier
from idmint.client import AsyncIdmintClient, AsyncRemoteVerifier, IdmintClient, RemoteVerifier

ring = KeyRing([SigningKey.generate("ES256")])
minted = TokenMinter(ring, issuer="https://id.example/w/pk_1", audience="pk_1").mint("u1")
claims = TokenVerifier(ring, issuer="https://id.example/w/pk_1", audience="pk_1").verify(
    minted.token
).claims
assert claims.subject == "u1", claims
loaded = sorted(name for name in sys.modules if name.split(".")[0] in BLOCKED)
assert not loaded, loaded
print("ok")
"""


def test_the_client_and_core_import_with_every_server_package_blocked() -> None:
    script = f"BLOCKED = {set(SERVER_PACKAGES)!r}\n" + _BLOCKED
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def _python_block(document: str, heading: str) -> str:
    """The first ```python block after ``heading`` in docs/<document>."""
    text = (ROOT / "docs" / document).read_text()
    after = text[text.index(heading) :]
    match = re.search(r"```python\n(.*?)```", after, re.S)
    assert match, heading
    return match.group(1)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel and sdist of this checkout, built by ``uv build``; returns the wheel."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [UV, "build", "--out-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    (sdist,) = out.glob("idmint-*.tar.gz")
    assert sdist.stat().st_size > 0
    (built,) = out.glob("idmint-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_installs_slim_and_runs_the_docs_client_snippets(
    wheel: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [UV, "pip", "install", "--python", python, str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    listed = subprocess.run(
        [UV, "pip", "list", "--python", python, "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    installed = {entry["name"].lower() for entry in json.loads(listed.stdout)}
    assert {"idmint", "cryptography", "httpx", "orjson"} <= installed
    assert not installed & {name.replace("_", "-") for name in SERVER_PACKAGES}, installed
    assert len(installed) <= 15, installed  # the three and what they need, nothing of a server

    # Without the server extra, the command says how to get it.
    command = subprocess.run(
        [str(venv / "bin" / "idmint"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert command.returncode == 1
    assert "idmint[server]" in command.stderr

    # The docs' snippets, against a real server (this environment's).
    port = free_port()
    env = {**os.environ, "IDMINT_DATA_DIR": str(tmp_path / "data")}
    created = idmint_init(env)
    with idmint_serve(env, port, tmp_path / "server.log") as base_url:
        client_env = {
            "PATH": os.environ["PATH"],
            "IDMINT_URL": base_url,
            "IDMINT_API_KEY": created["apiKey"],
            "IDMINT_AUTH_TOKEN": created["authToken"],
        }
        mint = _python_block("sdk-python.md", "## Mint a token")
        mint += "\nprint(t2.token)\n"
        minted = subprocess.run(
            [python, "-c", mint], env=client_env, capture_output=True, text=True, timeout=60
        )
        assert minted.returncode == 0, minted.stderr
        token = minted.stdout.split()[-1]

        issuer = f"{base_url}/w/{created['apiKey']}"
        verify = (
            _python_block("sdk-python.md", "## Verify tokens in another service")
            .replace("https://idmint.example.com/w/pk_...", issuer)
            .replace("pk_...", created["apiKey"])
            .replace("eyJ...", token)
        )
        verified = subprocess.run(
            [python, "-c", verify], env=client_env, capture_output=True, text=True, timeout=60
        )
        assert verified.returncode == 0, verified.stderr
        assert verified.stdout.split() == ["user-1", "org-1", "ann@example.com", "False"]
