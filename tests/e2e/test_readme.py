"""The README's example commands, run as written against a real server."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .conftest import Server

README = Path(__file__).resolve().parents[2] / "README.md"


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)


def test_readme_names_the_two_commands() -> None:
    text = README.read_text()
    assert "make run" in text
    assert "make test" in text


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_readme_examples_run(server: Server) -> None:
    script = "set -euo pipefail\n" + "\n".join(_bash_blocks())
    script = script.replace("http://127.0.0.1:8000", server.base_url)
    result = subprocess.run(
        ["bash", "-c", script],
        env={**server.env, "API_KEY": server.api_key, "AUTH_TOKEN": server.auth_token},
        cwd=README.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"token_type":"bearer"' in result.stdout
    assert '"mode":"jwt"' in result.stdout
    assert result.stdout.rstrip().endswith("user-1 org-1 ann@example.com")
