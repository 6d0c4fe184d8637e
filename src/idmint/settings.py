"""The one typed settings object, read from ``IDMINT_*`` environment variables.

It is built once and passed into :func:`idmint.api.create_app` and the service; nothing in
idmint reads the environment anywhere else.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from idmint.jose.algorithms import ALGORITHMS

__all__ = ["Settings"]

_PLACEHOLDERS = {"", "changeme", "change-me", "secret", "admin", "password", "test", "example"}
MIN_ADMIN_TOKEN_CHARS = 32
_GENERATE = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'


class Settings(BaseSettings):
    """idmint's configuration. Every field is an environment variable ``IDMINT_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="IDMINT_", extra="ignore", frozen=True)

    environment: Literal["development", "production"] = Field(
        "development",
        description="'production' refuses weak or placeholder secrets and a missing or "
        "non-HTTPS public URL.",
    )
    data_dir: Path = Field(
        Path(".idmint"),
        description="Directory (mode 0700, made by `idmint init`) for the embedded SQLite "
        "database and the generated master key file.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the store, e.g. postgresql+psycopg://user@host/db. "
        "Default: SQLite at <data_dir>/idmint.db.",
    )
    master_key: SecretStr | None = Field(
        None,
        description="Base64url 32-byte key that seals private signing keys at rest. "
        "Unset: read from <data_dir>/master.key (mode 0600), which `idmint init` generates "
        "for a new store.",
    )
    admin_token: SecretStr | None = Field(
        None,
        description="Admin credential for the admin API across all workspaces (Bearer). "
        "Unset: only workspace auth tokens reach the admin API, each for its own workspace.",
    )
    public_url: str | None = Field(
        None,
        description="The externally visible base URL; workspace issuers are "
        "<public_url>/w/<apiKey>. Unset: http://<host>:<port>, where the server listens (a "
        "wildcard host as loopback). Required, https://, in production.",
    )
    host: str = Field("127.0.0.1", description="Address `idmint serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `idmint serve` listens on.")
    workers: int = Field(1, ge=1, le=64, description="Worker processes for `idmint serve`.")
    signing_algorithm: str = Field(
        "ES256",
        description="Algorithm of new workspaces' signing keys (ES256, EdDSA, RS256, PS256, ...).",
    )
    leeway_seconds: int = Field(
        30, ge=0, le=300, description="Clock skew tolerated on exp, nbf and iat (0 to 300 s)."
    )
    jwks_max_age_seconds: int = Field(
        300,
        ge=0,
        le=86400,
        description="Cache-Control max-age of the JWKS and discovery documents.",
    )
    credential_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="How long an instance may reuse a checked credential, key ring or user "
        "found by email before re-reading the store (changes on the same instance take effect "
        "at once).",
    )
    commit_timeout_seconds: float = Field(
        5.0,
        ge=0.1,
        le=60,
        description="How long a mint or identify waits for its writes (user change, session, "
        "audit event) to be committed before it is answered 503 unavailable; its writes are "
        "then withdrawn, never written later. Writes are committed in groups, and every 2xx "
        "answer comes after its own commit.",
    )
    sqlite_synchronous: Literal["normal", "full"] = Field(
        "normal",
        description="SQLite only: 'normal' (SQLite's own choice for WAL mode): an acknowledged "
        "write survives a crash or kill -9 of idmint, but not a power loss or an operating "
        "system crash; 'full' syncs every commit to disk first (survives those too), paid once "
        "per group of requests: about 20% of mint throughput on a slow disk.",
    )
    access_log: bool = Field(
        False,
        description="Log every request (uvicorn's access log). Off by default: it costs about "
        "8% of mint throughput, and errors and audit events are recorded regardless.",
    )
    key_prepublish_seconds: int = Field(
        3600,
        ge=0,
        le=30 * 86400,
        description="How long a new signing key is published in the JWKS before it signs, so "
        "verifiers holding a cached JWKS know it first. At least twice the JWKS max-age plus "
        "the credential cache time.",
    )
    key_rotation_days: int = Field(
        0,
        ge=0,
        le=3650,
        description="Rotate every workspace's signing key every N days (0: only on demand).",
    )
    max_body_bytes: int = Field(
        65536, ge=1024, le=10_485_760, description="Largest accepted request body, in bytes."
    )
    redis_url: str | None = Field(
        None,
        description="Redis (redis://host:port/db) for what several instances share: the "
        "throttle's counters. Unset: each instance counts in its own memory. Unreachable: "
        "counting falls back to memory, and the log says so.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        [],
        description="Addresses or networks (CIDR) of the proxies in front of idmint, as JSON "
        '(["127.0.0.1", "10.0.0.0/8"]): from them the client address is read from '
        "X-Forwarded-For; from any other peer it is the socket's.",
    )
    throttle_per_address: str = Field(
        "20/5 minutes",
        description="Guesses (unknown API keys or auth tokens, on the mint routes and the admin "
        "API) one client address may make in a moving window; past it, rate_limited (429) "
        "until the window clears.",
    )
    throttle_per_api_key: str = Field(
        "300/5 minutes",
        description="Guesses against one API key from all addresses together, in a moving "
        "window; past it, rate_limited (429) for that API key but for tokens in use.",
    )
    audit_retention_days: int = Field(
        90,
        ge=1,
        le=3650,
        description="How long audit events are kept; older ones are purged by the server's upkeep.",
    )
    console_idle_minutes: int = Field(
        30,
        ge=1,
        le=1440,
        description="A console session unused this long ends; the account signs in again.",
    )
    console_session_hours: int = Field(
        12,
        ge=1,
        le=720,
        description="A console session ends this long after sign-in, however busy it is.",
    )
    max_header_bytes: int = Field(
        16384,
        ge=1024,
        le=1_048_576,
        description="Largest request line and headers together, in bytes; more is answered 431 "
        "and the connection closed (nginx's default buffers hold 4 x 8 KiB).",
    )
    max_headers: int = Field(
        100,
        ge=8,
        le=10_000,
        description="Most header lines a request may carry; more is answered 431.",
    )
    header_timeout_seconds: float = Field(
        10.0,
        ge=0.5,
        le=300,
        description="Time a client has to send a request's line and headers, from its first "
        "byte (or from connecting); slower is answered 408 and closed (slowloris).",
    )
    body_timeout_seconds: float = Field(
        10.0,
        ge=0.5,
        le=300,
        description="Time a client has to send a request's body once its headers are in; "
        "slower is answered 408 and closed.",
    )
    max_connections: int = Field(
        2048,
        ge=1,
        le=1_000_000,
        description="Open connections one worker keeps; a connection past it is answered 503 "
        "(with Retry-After) and closed at once.",
    )
    keep_alive_seconds: int = Field(
        75,
        ge=1,
        le=3600,
        description="How long an idle keep-alive connection stays open: longer than the load "
        "balancer's idle timeout in front (AWS ALB 60 s, nginx upstream keepalive 60 s), so "
        "that the balancer, not idmint, closes it and no request races a close. Google Cloud "
        "load balancers keep 600 s: set 620 behind them.",
    )

    @field_validator("signing_algorithm")
    @classmethod
    def _known_algorithm(cls, value: str) -> str:
        if value not in ALGORITHMS:
            raise ValueError(f"unsupported signing algorithm {value!r}")
        return value

    @field_validator("throttle_per_address", "throttle_per_api_key")
    @classmethod
    def _a_rate(cls, value: str) -> str:
        from idmint.service.throttle import parse_rate

        parse_rate(value)
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _a_list(cls, value: object) -> object:
        # From the environment: a JSON list, or addresses separated by commas or spaces.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except ValueError:
                    raise ValueError("trusted_proxies is not a valid JSON list") from None
            return [entry for entry in re.split(r"[,\s]+", text) if entry]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://")):
            raise ValueError("redis_url must start with redis:// or rediss://")
        return value

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("public_url must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _prepublish_outlasts_caches(self) -> Settings:
        needed = 2 * self.jwks_max_age_seconds + self.credential_cache_seconds
        if self.key_prepublish_seconds < needed:
            raise ValueError(
                f"key_prepublish_seconds ({self.key_prepublish_seconds}) must be at least twice "
                f"jwks_max_age_seconds plus credential_cache_seconds ({needed:g}): a verifier "
                "must see a new key before it signs"
            )
        return self

    @field_validator("admin_token")
    @classmethod
    def _strong_admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        # In every mode: a weak admin credential opens every workspace, development or not.
        if value is None:
            return None
        token = value.get_secret_value()
        lowered = token.lower()
        if (
            len(token) < MIN_ADMIN_TOKEN_CHARS
            or any(word in lowered for word in _PLACEHOLDERS if len(word) >= 6)
            or len(set(token)) < 12  # "aaaa...", "changeme-changeme-...": not random
        ):
            raise ValueError(
                f"admin_token must be at least {MIN_ADMIN_TOKEN_CHARS} random characters, not a "
                f"placeholder; generate one with: {_GENERATE}"
            )
        return value

    @model_validator(mode="after")
    def _production_is_strict(self) -> Settings:
        if self.environment != "production":
            return self
        if self.public_url is None or not self.public_url.startswith("https://"):
            raise ValueError("public_url must be set to an https:// URL in production")
        return self

    @property
    def resolved_database_url(self) -> str:
        """The store URL, defaulting to SQLite in the data directory."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'idmint.db').resolve()}"

    @property
    def base_url(self) -> str:
        """The base of every URL idmint hands out (issuers, JWKS, the curl examples): the
        public URL, or by default where ``idmint serve`` listens, ``http://<host>:<port>``.

        A wildcard bind (``0.0.0.0``, ``::``) is not an address a client can use: it becomes
        the loopback address of its family.  IPv6 literals are bracketed.
        """
        if self.public_url is not None:
            return self.public_url
        return f"http://{_url_host(self.host)}:{self.port}"

    @property
    def master_key_file(self) -> Path:
        """Where the master key is kept when ``IDMINT_MASTER_KEY`` is unset."""
        return self.data_dir / "master.key"

    def issuer_for(self, api_key: str) -> str:
        """The issuer URL (``iss``) of a workspace's tokens."""
        return f"{self.base_url}/w/{api_key}"


def _url_host(host: str) -> str:
    """``host`` as the host part of a URL that reaches a server bound to it."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # a name such as localhost, used as it is
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"[{address}]" if address.version == 6 else str(address)
