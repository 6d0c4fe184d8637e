"""The docs describe every error code (as datasette's test_docs checks its own)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from idmint.api.errors import http_error_classes, status_of
from idmint.jose.errors import IdmintError, error_classes

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("cls", [*error_classes(), *http_error_classes()], ids=lambda cls: cls.code)
def test_error_code_is_documented_with_its_statuses(cls: type[IdmintError]) -> None:
    text = (DOCS / "errors.md").read_text()
    row = re.search(rf"^\| `{cls.code}` \| `{cls.__name__}` \| (\d+) \| (\w+) \|", text, re.M)
    assert row, f"docs/errors.md has no row for {cls.code}"
    assert (int(row.group(1)), row.group(2)) == status_of(cls)
