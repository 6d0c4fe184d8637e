"""docs/settings.md documents every setting as its environment variable, with its default."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from idmint.settings import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "settings.md"
_ROW = re.compile(r"^\| `(IDMINT_[A-Z0-9_]+)` \|(.*)\|\s*$", re.M)


def _rows() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for match in _ROW.finditer(DOCS.read_text()):
        rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def _shown(default: Any) -> str:
    """A default as the table writes it."""
    if default is None:
        return "unset"
    if isinstance(default, SecretStr):  # pragma: no cover - no secret has a default
        return "unset"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_setting_is_documented(name: str) -> None:
    variable = f"IDMINT_{name.upper()}"
    rows = _rows()
    assert variable in rows, f"docs/settings.md has no row for {variable}"
    kind, default, description = rows[variable]
    assert kind, f"{variable}: no type"
    assert default == _shown(Settings.model_fields[name].default), (
        f"{variable}: documented default {default}, actual {_shown(Settings.model_fields[name].default)}"
    )
    assert len(description) > 20, f"{variable}: no description"


def test_no_documented_setting_is_stale() -> None:
    known = {f"IDMINT_{name.upper()}" for name in Settings.model_fields}
    assert set(_rows()) - known == set()


def test_rows_have_four_cells() -> None:
    for variable, cells in _rows().items():
        assert len(cells) == 3, f"{variable}: expected Type | Default | Description"
