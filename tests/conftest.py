"""Shared fixtures: the standards vectors and small key/clock factories."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from idmint import FrozenClock, KeyRing, SigningKey

POSTGRES_URL = os.environ.get(
    "IDMINT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ISSUER = "https://idmint.test/w/ws_test"
AUDIENCE = "pk_test_123"
NOW = 1_800_000_000.0


def _vectors_dir() -> Path:
    # The vectors live in the shared folder beside the checkout (../shared/vectors).
    configured = os.environ.get("IDMINT_VECTORS_DIR")
    candidates = [Path(configured)] if configured else []
    candidates += [parent / "shared" / "vectors" for parent in Path(__file__).resolve().parents]
    for candidate in candidates:
        if (candidate / "wycheproof").is_dir():
            return candidate
    raise RuntimeError("Standards vectors not found: set IDMINT_VECTORS_DIR to shared/vectors.")


VECTORS = _vectors_dir()


def load_vectors(relative: str) -> Any:
    """A vector file under shared/vectors, parsed."""
    return json.loads((VECTORS / relative).read_text())


_KEY_CACHE: dict[str, SigningKey] = {}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def key_factory() -> Callable[[str], SigningKey]:
    """Signing keys per algorithm, generated once per test session (RSA is slow)."""

    def make(alg: str = "ES256") -> SigningKey:
        if alg not in _KEY_CACHE:
            _KEY_CACHE[alg] = SigningKey.generate(alg)
        return _KEY_CACHE[alg]

    return make


@pytest.fixture
def ring(key_factory: Callable[[str], SigningKey]) -> KeyRing:
    return KeyRing([key_factory("ES256")])


_postgres_error: list[str] = []


def require_postgres() -> None:
    """PostgreSQL runs need a server. Locally a missing one skips them; in CI (``CI`` set,
    where .ci/run starts PostgreSQL) it fails, so a broken database is never a green run."""
    if not _postgres_error:
        engine = create_engine(POSTGRES_URL)
        try:
            with engine.connect():
                _postgres_error.append("")
        except OperationalError as exc:
            _postgres_error.append(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")
        finally:
            engine.dispose()
    if _postgres_error[0]:
        if os.environ.get("CI"):
            pytest.fail(_postgres_error[0])
        pytest.skip(_postgres_error[0])
