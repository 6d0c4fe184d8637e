"""The browser SDK's own unit tests (``node --test clients/js/test/``), run as part of pytest."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "clients" / "js"
SDK = PACKAGE / "idmint.js"
SERVED = ROOT / "src" / "idmint" / "static" / "idmint.js"


def test_the_server_serves_the_package_module() -> None:
    # The real file is the npm package's (npm pack leaves symlinks out); the server's copy,
    # which GET /sdk/idmint.js reads and the wheel carries, is a relative symlink to it.
    assert SDK.is_file()
    assert not SDK.is_symlink(), "clients/js/idmint.js must be the module itself"
    assert SERVED.is_symlink(), "src/idmint/static/idmint.js must be a symlink to clients/js"
    assert not Path(SERVED.readlink()).is_absolute(), "the symlink must be relative"
    assert SERVED.resolve() == SDK.resolve()


def test_node_unit_tests_pass() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    result = subprocess.run(
        [node, "--test", "clients/js/test/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    passed = re.search(r"^# pass (\d+)$", output, re.M)
    failed = re.search(r"^# fail (\d+)$", output, re.M)
    assert passed, output
    assert int(passed.group(1)) > 0, output
    assert failed, output
    assert int(failed.group(1)) == 0, output
