"""The console's sign-in and server-side sessions: the half of
:class:`~idmint.service.console.ConsoleAccounts` that HTTP requests go through.

The browser holds a random session secret; the store only its SHA-256 (the session's id) and
the SHA-256 of the session's CSRF token, an HMAC of the secret (:func:`csrf_token`), so that a
copy of the database opens no session.  A session ends at sign-out, when its account's
password is reset or the account is disabled or deleted, after ``IDMINT_CONSOLE_IDLE_MINUTES``
without use (its last use is written at most once a minute), and
``IDMINT_CONSOLE_SESSION_HOURS`` after sign-in however busy it is.

A sign-in of an unknown email verifies a dummy hash, so that it takes as long as a wrong
password.  Failures are throttled with the API's throttle, per client address and per
``console:<email>`` in the place of an API key (an address that signed in to the account
lately is spared the account's block, so that guessing cannot lock its owner out), and
audited as unknown credentials are: aggregated per minute, one ``throttle.block`` event per
block.  Password checks are CPU-bound (argon2id, some 100 ms): call :meth:`sign_in` from a
worker thread, never on the event loop.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from idmint.jose.clock import Clock
from idmint.jose.errors import SignInFailedError
from idmint.service._cache import TTLCache
from idmint.service._ids import hash_secret, secrets_equal
from idmint.service._passwords import MAX_PASSWORD, Passwords
from idmint.service.access import Access
from idmint.service.audit import AuditLog
from idmint.settings import Settings
from idmint.store import ConsoleAccount, ConsoleSession, Store, email_key

__all__ = ["ConsoleSessions", "SignedIn", "csrf_token"]

TOUCH_SECONDS: Final = 60.0  # a session's last use is written at most this often
USER_AGENT_LENGTH: Final = 256
# How long an address that signed in to an account is spared that account's throttle block.
KNOWN_CLIENT_SECONDS: Final = 30 * 86400.0
_CSRF_CONTEXT: Final = b"idmint console csrf v1"


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live console session: its record, its account, the account's memberships
    (workspace id -> ``admin`` | ``viewer``) and the CSRF token its forms carry."""

    session: ConsoleSession
    account: ConsoleAccount
    memberships: Mapping[str, str]
    csrf_token: str


def csrf_token(secret: str) -> str:
    """The CSRF token of the session whose secret is ``secret``: an HMAC of it, so the store
    needs to keep only its hash."""
    return hmac.new(secret.encode("utf-8"), _CSRF_CONTEXT, hashlib.sha256).hexdigest()


class ConsoleSessions:
    """Sign-in, sessions and CSRF tokens (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        audit: AuditLog,
        access: Access,
        settings: Settings,
        *,
        passwords: Passwords | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit
        self._access = access
        self._passwords = passwords or Passwords()
        self._idle = settings.console_idle_minutes * 60.0
        self._lifetime = settings.console_session_hours * 3600.0
        # (email key, client address) pairs that signed in lately: see Access.check_sign_in.
        self._known: TTLCache[tuple[str, str], bool] = TTLCache(
            clock, ttl=KNOWN_CLIENT_SECONDS, size=100_000
        )

    @staticmethod
    def actor(account: ConsoleAccount) -> str:
        """How the audit log names a signed-in account's actions."""
        return f"console:{account.email}"

    def sign_in(
        self, email: str, password: str, *, client: str | None, user_agent: str | None = None
    ) -> tuple[str, SignedIn]:
        """Check an email and password and open a session.

        :returns: the session secret (for the browser's cookie; never stored) and the
            session.
        :raises RateLimitedError: this address, or this account for an address that has not
            signed in to it lately, failed too often.
        :raises SignInFailedError: a wrong email or password, or a disabled account.
        """
        key = email_key(email[:320])
        self._access.check_sign_in(
            client, f"console:{key}", known_client=self._known.get((key, client or "")) is not None
        )
        self._passwords.warm()  # the dummy hash exists before any account is looked up
        account = self._store.console_account_by_email(email) if len(email) <= 320 else None
        # The hash is verified whether or not the account exists (a dummy's when it does not):
        # an unknown email costs the same time as a wrong password.
        candidate = password[:MAX_PASSWORD]
        matched = self._passwords.verify(
            None if account is None else account.password_hash, candidate
        )
        if not matched or account is None or account.disabled_at is not None:
            self._access.sign_in_failed(
                action="console.sign_in",
                code=SignInFailedError.code,
                client=client,
                key=f"console:{key}",
            )
            raise SignInFailedError()
        now = self._clock.now()
        if self._passwords.needs_rehash(account.password_hash):
            self._store.update_console_account(
                account.id, password_hash=self._passwords.hash(candidate)
            )
        self._known.put((key, client or ""), True)
        secret = secrets.token_urlsafe(32)
        token = csrf_token(secret)
        session = ConsoleSession(
            id=hash_secret(secret),
            account_id=account.id,
            csrf_hash=hash_secret(token),
            created_at=now,
            last_seen_at=now,
            expires_at=now + self._lifetime,
            client_address=None if client is None else client[:64],
            user_agent=None if user_agent is None else user_agent[:USER_AGENT_LENGTH],
        )
        self._store.add(session)
        self._audit.record(
            "console.sign_in", workspace_id=None, actor=self.actor(account), client=client
        )
        memberships = {m.workspace_id: m.role for m in self._store.console_memberships(account.id)}
        return secret, SignedIn(session, account, memberships, token)

    def session(self, secret: str) -> SignedIn | None:
        """The live session whose secret this is, or None: unknown, signed out, idle longer
        than the idle timeout, past its absolute timeout, or of a disabled account.  Notes the
        session's use (written at most once a minute)."""
        if not secret or len(secret) > 256:
            return None
        found = self._store.console_session(hash_secret(secret))
        if found is None:
            return None
        session, account = found
        now = self._clock.now()
        if (
            session.revoked_at is not None
            or now >= session.expires_at
            or now - session.last_seen_at >= self._idle
            or account.disabled_at is not None
        ):
            return None
        if now - session.last_seen_at >= TOUCH_SECONDS:
            self._store.touch_console_session(session.id, now)
            session.last_seen_at = now
        memberships = {m.workspace_id: m.role for m in self._store.console_memberships(account.id)}
        return SignedIn(session, account, memberships, csrf_token(secret))

    @staticmethod
    def check_csrf(signed_in: SignedIn | ConsoleSession, token: str | None) -> bool:
        """Whether ``token`` is the session's CSRF token (compared in constant time)."""
        session = signed_in.session if isinstance(signed_in, SignedIn) else signed_in
        if not token or len(token) > 256:
            return False
        return secrets_equal(hash_secret(token), session.csrf_hash)

    def sign_out(self, secret: str, *, client: str | None = None) -> bool:
        """End the session whose secret this is; False when it was not live."""
        found = self._store.console_session(hash_secret(secret)) if secret else None
        if found is None:
            return False
        session, account = found
        ended = self._store.revoke_console_sessions(self._clock.now(), session_id=session.id)
        if ended:
            self._audit.record(
                "console.sign_out", workspace_id=None, actor=self.actor(account), client=client
            )
        return bool(ended)

    def sessions(self, account_id: str) -> Sequence[ConsoleSession]:
        """An account's sessions, newest first (ended ones too, until purged)."""
        return self._store.console_sessions(account_id)

    def purge(self) -> int:
        """Delete sessions that ended more than a day ago (the server's upkeep)."""
        return self._store.purge_console_sessions(self._clock.now() - 86400.0)
