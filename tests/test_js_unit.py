"""The browser SDK's own unit tests (``node --test clients/js/test/``), run as part of pytest.

The SDK's (``client``, ``pure``) need nothing installed; the React bindings' (``react*``) need
clients/js's npm dev dependencies (React, React DOM, @testing-library/react, happy-dom), which
``make js-env`` installs (``make test`` does).
"""

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


TESTS = PACKAGE / "test"
REACT_TESTS = sorted(TESTS.glob("react*.test.mjs"))
SDK_TESTS = sorted(set(TESTS.glob("*.test.mjs")) - set(REACT_TESTS))


def _node_test(files: list[Path]) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    assert files
    result = subprocess.run(
        [node, "--test", *(str(f.relative_to(ROOT)) for f in files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
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


def test_node_unit_tests_pass() -> None:
    _node_test(SDK_TESTS)


def test_react_binding_unit_tests_pass() -> None:
    if not (PACKAGE / "node_modules" / "@testing-library" / "react").is_dir():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed, so neither are the React bindings' test packages")
        pytest.fail("clients/js's npm dev dependencies are missing: run `make js-env`")
    assert [f.name for f in REACT_TESTS] == ["react-ssr.test.mjs", "react.test.mjs"]
    _node_test(REACT_TESTS)
