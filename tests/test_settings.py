"""Settings: the issuer base (public URL or the served address) and production's demands."""

from __future__ import annotations

import os
from typing import Any

import pytest
from pydantic import ValidationError

from idmint.settings import Settings


@pytest.fixture(autouse=True)
def _no_idmint_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read IDMINT_* variables; the machine's must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("IDMINT_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("values", "base"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"port": 8010}, "http://127.0.0.1:8010"),
        ({"host": "0.0.0.0", "port": 9000}, "http://127.0.0.1:9000"),  # noqa: S104
        ({"host": "::"}, "http://[::1]:8000"),
        ({"host": "::1"}, "http://[::1]:8000"),
        ({"host": "fd00::5", "port": 81}, "http://[fd00::5]:81"),
        ({"host": "10.1.2.3"}, "http://10.1.2.3:8000"),
        ({"host": "localhost"}, "http://localhost:8000"),
        ({"port": 8010, "public_url": "https://id.example.com/"}, "https://id.example.com"),
    ],
)
def test_base_url_is_the_public_url_or_the_served_address(
    values: dict[str, Any], base: str
) -> None:
    settings = Settings(**values)
    assert settings.base_url == base
    assert settings.issuer_for("pk_1") == f"{base}/w/pk_1"


def test_base_url_follows_the_environment_as_workers_read_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IDMINT_HOST", "0.0.0.0")  # noqa: S104
    monkeypatch.setenv("IDMINT_PORT", "8123")
    assert Settings().base_url == "http://127.0.0.1:8123"
    monkeypatch.setenv("IDMINT_PUBLIC_URL", "https://id.example.com")
    assert Settings().base_url == "https://id.example.com"


def test_public_url_must_be_http_or_https() -> None:
    with pytest.raises(ValidationError, match="http:// or https://"):
        Settings(public_url="id.example.com")


@pytest.mark.parametrize("public_url", [None, "http://id.example.com"])
def test_production_requires_an_https_public_url(public_url: str | None) -> None:
    with pytest.raises(ValidationError, match="public_url must be set to an https:// URL"):
        Settings(environment="production", public_url=public_url)
    assert Settings(environment="production", public_url="https://id.example.com").base_url == (
        "https://id.example.com"
    )


@pytest.mark.parametrize(
    "token",
    [
        "a",
        "changeme",
        "x" * 40,
        "changeme-changeme-changeme-changeme",
        "my-secret-admin-token-for-the-cluster-2026",
        "short-but-random-Q7v2Lk",
    ],
)
@pytest.mark.parametrize("environment", ["development", "production"])
def test_a_weak_admin_token_is_refused_in_every_mode(token: str, environment: str) -> None:
    with pytest.raises(ValidationError, match=r"secrets.token_urlsafe\(32\)"):
        Settings(
            admin_token=token,
            environment=environment,
            public_url="https://id.example.com",
        )


def test_a_random_admin_token_is_accepted() -> None:
    import secrets

    for _ in range(200):
        token = secrets.token_urlsafe(32)
        assert Settings(admin_token=token).admin_token is not None


@pytest.mark.parametrize(
    ("given", "parsed"),
    [
        ("127.0.0.1", ["127.0.0.1"]),
        ("127.0.0.1, 10.0.0.0/8", ["127.0.0.1", "10.0.0.0/8"]),
        ('["127.0.0.1", "::1"]', ["127.0.0.1", "::1"]),
        ("", []),
    ],
)
def test_trusted_proxies_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, given: str, parsed: list[str]
) -> None:
    monkeypatch.setenv("IDMINT_TRUSTED_PROXIES", given)
    assert Settings().trusted_proxies == parsed


@pytest.mark.parametrize("given", ["nope", "[broken", '["10.0.0.0/33"]'])
def test_trusted_proxies_that_are_no_addresses_are_refused(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.setenv("IDMINT_TRUSTED_PROXIES", given)
    with pytest.raises(ValidationError, match=r"trusted_proxies"):
        Settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IDMINT_THROTTLE_PER_ADDRESS", "often"),
        ("IDMINT_THROTTLE_PER_API_KEY", "0/minute x"),
        ("IDMINT_REDIS_URL", "http://127.0.0.1:6379"),
        ("IDMINT_AUDIT_RETENTION_DAYS", "0"),
    ],
)
def test_abuse_settings_are_checked(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.removeprefix("IDMINT_").lower()):
        Settings()
