"""The public surface: ``idmint.__all__`` is complete and sorted (as httpx checks its own)."""

from __future__ import annotations

from types import ModuleType

import idmint


def test_all_is_sorted() -> None:
    assert idmint.__all__ == sorted(idmint.__all__)


def test_all_names_exist_and_every_public_name_is_listed() -> None:
    public = {
        name
        for name in dir(idmint)
        if not name.startswith("_") and not isinstance(getattr(idmint, name), ModuleType)
    }
    assert set(idmint.__all__) == public
    for name in idmint.__all__:
        assert getattr(idmint, name) is not None
