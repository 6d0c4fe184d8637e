"""docs/quickstart.md: its snippets are the examples' code, and its commands work as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ADMIN_TOKEN
from idmint.client import IdmintClient
from idmint.jose.errors import TokenError

from .conftest import ROOT, Idmint

QUICKSTART = ROOT / "docs" / "quickstart.md"
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", QUICKSTART.read_text(), re.S)
ELLIPSIS = {"# ...", "// ..."}


def _from_examples() -> list[tuple[str, str]]:
    """(file, block) for each block whose first line names an example file."""
    found = []
    for _, block in BLOCKS:
        first, _, rest = block.partition("\n")
        marker = re.fullmatch(r"(?:#|//) (examples/\S+)", first)
        if marker:
            found.append((marker.group(1), rest))
    return found


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip("\n").splitlines()]


def test_the_quickstart_quotes_every_example() -> None:
    quoted = {path for path, _ in _from_examples()}
    assert quoted == {
        "examples/fastapi_app/app.py",
        "examples/flask_app/app.py",
        "examples/static/index.html",
    }


@pytest.mark.parametrize(
    ("path", "block"),
    [
        pytest.param(path, block, id=f"{n}-{path}")
        for n, (path, block) in enumerate(_from_examples())
    ],
)
def test_a_snippet_is_the_examples_code(path: str, block: str) -> None:
    """Each part between `# ...` lines is a run of lines of the file (indentation aside)."""
    source = _lines((ROOT / path).read_text())
    part: list[str] = []
    parts = []
    for line in [*_lines(block), "# ..."]:
        if line in ELLIPSIS:
            parts.append(part)
            part = []
        else:
            part.append(line)
    for part in parts:
        assert part
        assert any(source[i : i + len(part)] == part for i in range(len(source))), (
            f"{path} has no lines:\n" + "\n".join(part)
        )


def test_the_commands_turn_require_jwt_on(idmint_server: Idmint) -> None:
    idmint_server.patch_workspace(requireJwt=False)
    try:
        script = "set -euo pipefail\n" + "\n".join(b for lang, b in BLOCKS if lang == "bash")
        script = script.replace("http://127.0.0.1:8000", idmint_server.base_url)
        script = script.replace(".venv/bin/", f"{Path(sys.executable).parent}/")
        result = subprocess.run(
            ["bash", "-c", script],
            env={
                **os.environ,
                "IDMINT_DATA_DIR": str(idmint_server.data_dir),
                "API_KEY": idmint_server.api_key,
                "AUTH_TOKEN": idmint_server.auth_token,
                "IDMINT_ADMIN_TOKEN": ADMIN_TOKEN,
            },
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Require JWT is now on." in result.stdout
        assert '"requireJwt":true' in result.stdout.replace(" ", "")
        assert idmint_server.workspace()["requireJwt"] is True
    finally:
        idmint_server.patch_workspace(requireJwt=True)


def test_without_require_jwt_identify_is_development_mode(idmint_server: Idmint) -> None:
    idmint_server.patch_workspace(requireJwt=False)
    try:
        with IdmintClient(idmint_server.base_url, api_key=idmint_server.api_key) as idmint:
            session = idmint.identify({"userId": "ann"})
        assert (session.verified, session.mode) == (False, "development")
    finally:
        idmint_server.patch_workspace(requireJwt=True)


def test_the_offline_verifier_snippet(
    idmint_server: Idmint, monkeypatch: pytest.MonkeyPatch
) -> None:
    (snippet,) = [b for lang, b in BLOCKS if lang == "python" and "RemoteVerifier" in b]
    monkeypatch.setenv("IDMINT_URL", idmint_server.base_url)
    monkeypatch.setenv("IDMINT_API_KEY", idmint_server.api_key)
    namespace: dict[str, object] = {}
    exec(compile(snippet, str(QUICKSTART), "exec"), namespace)  # noqa: S102
    user_of = namespace["user_of"]
    assert callable(user_of)
    with IdmintClient(
        idmint_server.base_url,
        api_key=idmint_server.api_key,
        auth_token=idmint_server.auth_token,
    ) as idmint:
        token = idmint.generate_token("ann", organization_id="org-1").token
    try:
        assert user_of(token) == "ann"
        with pytest.raises(TokenError):
            user_of(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    finally:
        namespace["verifier"].close()  # type: ignore[attr-defined]
