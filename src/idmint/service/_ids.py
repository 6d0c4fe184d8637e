"""Identifiers and secrets: public ids, API keys and 256-bit auth tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["hash_secret", "new_api_key", "new_id", "new_secret", "secrets_equal"]


def new_id(prefix: str) -> str:
    """A public identifier like ``ws_3kTq...`` (96 random bits)."""
    return f"{prefix}_{secrets.token_urlsafe(12)}"


def new_api_key() -> str:
    """A workspace API key (public: it names the workspace, proves nothing)."""
    return f"pk_{secrets.token_urlsafe(18)}"


def new_secret() -> str:
    """An auth token: 256 random bits, base64url, with a recognisable prefix for secret scanners."""
    return f"sk_{secrets.token_urlsafe(32)}"


def hash_secret(secret: str) -> str:
    """SHA-256 of an auth token, hex.

    The token is 256 random bits, so a fast hash is enough: nothing is left to brute-force,
    and a slow password hash would only slow down every mint.
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secrets_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets or hashes."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
