"""The app that opens its own store (``create_app(settings)``, as uvicorn's factory runs it):
its lifespan refuses to start without a store or with a master key that does not fit."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from idmint.api import create_app
from idmint.jose.errors import MasterKeyMismatchError, StoreNotFoundError
from idmint.jose.keys import MasterKey
from idmint.service import Idmint

from .conftest import isolated_settings


def test_app_without_a_store_refuses_to_start_and_creates_nothing(tmp_path: Path) -> None:
    settings = isolated_settings(data_dir=tmp_path / "data")

    with pytest.raises(StoreNotFoundError), TestClient(create_app(settings)):
        pass  # pragma: no cover - the lifespan fails before the block runs

    assert not (tmp_path / "data").exists()


def test_app_with_another_master_key_refuses_to_start(tmp_path: Path) -> None:
    service = Idmint.open(isolated_settings(data_dir=tmp_path), create=True)
    api_key = service.init_workspace().workspace.api_key
    service.close()
    other = SecretStr(MasterKey.generate().to_text())

    with (
        pytest.raises(MasterKeyMismatchError),
        TestClient(create_app(isolated_settings(data_dir=tmp_path, master_key=other))),
    ):
        pass  # pragma: no cover - the lifespan fails before the block runs

    # With the store's own key the same app starts and serves the workspace's keys.
    with TestClient(create_app(isolated_settings(data_dir=tmp_path))) as client:
        assert client.get(f"/w/{api_key}/.well-known/jwks.json").status_code == 200
