"""Console passwords: argon2id hashes (``argon2-cffi``, RFC 9106's low-memory profile), strong
generated passwords, and the verification that takes as long whether an account exists or
not."""

from __future__ import annotations

import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from idmint.jose.errors import InvalidArgumentError

__all__ = ["MAX_PASSWORD", "MIN_PASSWORD", "Passwords", "generate_password"]

MIN_PASSWORD = 12
# argon2 hashes any length in the same time, but a megabyte password is still a megabyte to
# read: a cap a person never meets.
MAX_PASSWORD = 1024


def generate_password() -> str:
    """24 characters of base64url: 144 random bits, for an account made or reset without
    one."""
    return secrets.token_urlsafe(18)


def check_password(password: str) -> str:
    """:raises InvalidArgumentError: shorter than 12 characters or longer than 1024."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidArgumentError(
            f"A console password has {MIN_PASSWORD} to {MAX_PASSWORD} characters.",
            field="password",
        )
    return password


class Passwords:
    """Hashes and verifies passwords with argon2id."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4
        self._dummy: str | None = None
        self._lock = threading.Lock()

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``.  Without a hash (no such account)
        a dummy hash of the same parameters is verified, so that the answer takes as long
        and says nothing of whether the account exists."""
        if password_hash is None:
            password_hash = self._dummy_hash()
            password = password + "\x00"  # never the dummy's own password
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether a hash was made with other parameters than today's (rehash on sign-in)."""
        return self._hasher.check_needs_rehash(password_hash)

    def _dummy_hash(self) -> str:
        with self._lock:
            if self._dummy is None:
                self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
            return self._dummy

    def warm(self) -> None:
        """Make the dummy hash now, so the first sign-in of an unknown email costs no more
        than any other."""
        self._dummy_hash()
