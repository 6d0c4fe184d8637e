"""Workspaces, their settings and their auth tokens, with the cached credential check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idmint.jose.clock import Clock
from idmint.jose.errors import (
    ApiKeyNotFoundError,
    AuthTokenExpiredError,
    AuthTokenNotFoundError,
    AuthTokenRevokedError,
    AuthTokenScopeError,
    AuthTokenWrongWorkspaceError,
    InvalidArgumentError,
    NotFoundError,
    ScopeExceededError,
)
from idmint.jose.tokens import ABSOLUTE_MAX_LIFETIME
from idmint.service._cache import TTLCache
from idmint.service._ids import hash_secret, new_api_key, new_id, new_secret, secrets_equal
from idmint.service.audit import AuditLog
from idmint.service.origins import check_patterns
from idmint.service.throttle import parse_rate
from idmint.store import AuthToken, Store, Workspace

# The longest an auth token may be made to live (an expiry is optional; without one it lives
# until revoked).
MAX_AUTH_TOKEN_LIFETIME = 10 * 365 * 86400

#: What an auth token may do: mint (both mint routes), and/or run the admin API of its workspace.
SCOPES: tuple[str, ...] = ("mint", "admin")
NEGATIVE_CACHE_SIZE = 100_000  # unknown API keys and auth tokens remembered per instance
# How long an auth token that passed a check is known here as in use (its secret's hash and
# workspace, nothing else): a caller presenting it is spared a block of its API key.
RECENTLY_VALID_SECONDS = 3600.0

__all__ = ["SCOPES", "CreatedAuthToken", "Credential", "WorkspaceService", "parse_scopes"]


def _quota(value: str) -> str | None:
    """A mint quota as stored: checked (the limits library's syntax), None for ``""`` or
    ``off``.

    :raises InvalidArgumentError: naming ``mintRateLimit``.
    """
    if not value.strip() or value.strip().lower() == "off":
        return None
    try:
        parse_rate(value)
    except ValueError as exc:
        raise InvalidArgumentError(
            f"mintRateLimit must be one rate such as '100/second' or '5000 per hour': {exc}",
            field="mintRateLimit",
        ) from None
    return value.strip()


def parse_scopes(scopes: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Scopes as stored (space-separated) or given (a list), checked and in canonical order.

    :raises InvalidArgumentError: an unknown scope, or none.
    """
    given = scopes.split() if isinstance(scopes, str) else list(scopes)
    unknown = sorted(set(given) - set(SCOPES))
    if unknown:
        raise InvalidArgumentError(
            f"Unknown scope {unknown[0]!r}: a scope is one of {', '.join(SCOPES)}.",
            field="scopes",
        )
    if not given:
        raise InvalidArgumentError("An auth token needs at least one scope.", field="scopes")
    return tuple(scope for scope in SCOPES if scope in given)


_MAX_TTL = int(ABSOLUTE_MAX_LIFETIME.total_seconds())
_SETTINGS = {
    "require_jwt",
    "token_ttl_seconds",
    "min_ttl_seconds",
    "max_ttl_seconds",
    "auto_create_users",
    "allowed_domains",
    "name",
    "mint_rate_limit",
}


@dataclass(frozen=True, slots=True)
class Credential:
    """What the credential check needs of an auth token, copied once from its row when it is
    cached: plain attributes, where each read of the ORM row's costs ~150 ns on every mint."""

    id: str
    workspace_id: str
    secret_hash: str
    revoked_at: float | None
    expires_at: float | None
    scopes: frozenset[str]

    @classmethod
    def of(cls, row: AuthToken) -> Credential:
        return cls(
            row.id,
            row.workspace_id,
            row.secret_hash,
            row.revoked_at,
            row.expires_at,
            frozenset(parse_scopes(row.scopes)),
        )

    @property
    def actor(self) -> str:
        """How the audit log names this credential."""
        return f"auth_token:{self.id}"


@dataclass(frozen=True, slots=True)
class CreatedAuthToken:
    """A new auth token: its record, and its secret (shown this once, never stored)."""

    record: AuthToken
    secret: str


class WorkspaceService:
    """Creates workspaces and auth tokens and checks credentials.

    Workspaces and checked credentials are cached for ``cache_seconds``; a change made through
    this service (settings, revocation) invalidates the cache at once.
    """

    def __init__(
        self, store: Store, clock: Clock, audit: AuditLog, *, cache_seconds: float
    ) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit
        self._workspaces: TTLCache[str, Workspace] = TTLCache(clock, ttl=cache_seconds)
        self._credentials: TTLCache[str, Credential] = TTLCache(clock, ttl=cache_seconds)
        # What the store does not hold: repeats of an unknown API key or auth token (guessing,
        # a misconfigured client) touch memory only.  Cleared when one is created here; on
        # other instances within cache_seconds.
        self._unknown_keys: TTLCache[str, bool] = TTLCache(
            clock, ttl=cache_seconds, size=NEGATIVE_CACHE_SIZE
        )
        self._unknown_secrets: TTLCache[str, bool] = TTLCache(
            clock, ttl=cache_seconds, size=NEGATIVE_CACHE_SIZE
        )
        self._recently_valid: TTLCache[str, str] = TTLCache(
            clock, ttl=RECENTLY_VALID_SECONDS, size=NEGATIVE_CACHE_SIZE
        )

    # --- workspaces ---------------------------------------------------------------------------

    def create(self, name: str, *, require_jwt: bool = True, actor: str = "cli") -> Workspace:
        now = self._clock.now()
        workspace = Workspace(
            id=new_id("ws"),
            api_key=new_api_key(),
            name=name,
            require_jwt=require_jwt,
            token_ttl_seconds=172_800,
            min_ttl_seconds=1,
            max_ttl_seconds=604_800,
            auto_create_users=True,
            allowed_domains=[],
            created_at=now,
            updated_at=now,
        )
        self._store.add(workspace)
        self._unknown_keys.clear()
        self._audit.record("workspace.create", workspace_id=workspace.id, actor=actor)
        return workspace

    def get(self, api_key: str) -> Workspace:
        """The workspace named by ``api_key``.

        :raises ApiKeyNotFoundError: when there is none.
        """
        workspace = self._workspaces.get(api_key)
        if workspace is None:
            generation = self._workspaces.generation
            unknown_generation = self._unknown_keys.generation
            known_unknown = self._unknown_keys.get(api_key) is not None
            workspace = None if known_unknown else self._store.workspace_by_api_key(api_key)
            if workspace is None:
                if not known_unknown:
                    self._unknown_keys.put(api_key, True, generation=unknown_generation)
                if api_key.startswith("sk_"):
                    raise ApiKeyNotFoundError(
                        "API key not found: this looks like an auth token (sk_...), not an API "
                        "key (pk_...); are the two swapped?"
                    )
                raise ApiKeyNotFoundError()
            self._workspaces.put(api_key, workspace, generation=generation)
        return workspace

    def cached(self, api_key: str) -> Workspace | None:
        """The workspace named by ``api_key`` if this instance holds it in memory, else None
        (nothing is read from the store)."""
        return self._workspaces.get(api_key)

    def recently_valid(self, api_key: str, secret: str) -> bool:
        """Whether ``secret`` passed a check with ``api_key`` on this instance within about
        the last hour (memory only; the caller still authenticates, which sees a revocation as every
        check does)."""
        return self._recently_valid.get(hash_secret(secret)) == api_key

    def all(self) -> list[Workspace]:
        return list(self._store.workspaces())

    def update_settings(self, api_key: str, *, actor: str, **changes: Any) -> Workspace:
        """Change settings (``require_jwt``, ``token_ttl_seconds``, ``min_ttl_seconds``,
        ``max_ttl_seconds``, ``auto_create_users``, ``allowed_domains``, ``name``,
        ``mint_rate_limit``: a quota such as ``100/second``, ``""`` to remove it).

        :raises InvalidArgumentError: on an unknown setting or TTL bounds that do not nest.
        """
        workspace = self.get(api_key)
        changes = {key: value for key, value in changes.items() if value is not None}
        if unknown := set(changes) - _SETTINGS:
            raise InvalidArgumentError(f"Unknown setting {sorted(unknown)[0]!r}.")
        low = changes.get("min_ttl_seconds", workspace.min_ttl_seconds)
        default = changes.get("token_ttl_seconds", workspace.token_ttl_seconds)
        high = changes.get("max_ttl_seconds", workspace.max_ttl_seconds)
        if not 1 <= low <= default <= high <= _MAX_TTL:
            raise InvalidArgumentError(
                f"Token lifetimes must satisfy 1 <= minimum ({low}) <= default ({default}) "
                f"<= maximum ({high}) <= {_MAX_TTL} seconds.",
                field="tokenTtlSeconds",
            )
        if "allowed_domains" in changes:
            changes["allowed_domains"] = check_patterns(changes["allowed_domains"])
        if "mint_rate_limit" in changes:
            changes["mint_rate_limit"] = _quota(changes["mint_rate_limit"])
        updated = self._store.update_workspace(
            workspace.id, **changes, updated_at=self._clock.now()
        )
        self._workspaces.invalidate(api_key)
        self._audit.record(
            "workspace.settings", workspace_id=workspace.id, actor=actor, changed=sorted(changes)
        )
        return updated

    # --- auth tokens --------------------------------------------------------------------------

    def create_auth_token(
        self,
        api_key: str,
        name: str,
        *,
        actor: str,
        expires_at: float | None = None,
        scopes: str | list[str] | tuple[str, ...] = ("mint",),
        granted_by: Credential | None = None,
    ) -> CreatedAuthToken:
        """A new named auth token; its secret is returned once and stored only as a hash.

        :param scopes: ``mint``, ``admin`` or both (default: ``mint`` alone).
        :param granted_by: the auth token that asks (the admin API with a workspace's token):
            the new one may have no scope it lacks and may not outlive it (without an expiry
            it gets the asker's).  None: the admin credential or the CLI, which may grant any.
        :raises ScopeExceededError: more than ``granted_by`` has.
        """
        workspace = self.get(api_key)
        now = self._clock.now()
        wanted = parse_scopes(scopes)
        if granted_by is not None:
            missing = [scope for scope in wanted if scope not in granted_by.scopes]
            if missing:
                raise ScopeExceededError(
                    f"This auth token lacks the {missing[0]!r} scope, so it cannot grant it."
                )
            if granted_by.expires_at is not None:
                if expires_at is None:
                    expires_at = granted_by.expires_at
                elif expires_at > granted_by.expires_at:
                    raise ScopeExceededError(
                        "A new auth token may not outlive the auth token that creates it."
                    )
        if expires_at is not None and expires_at <= now:
            raise InvalidArgumentError("expiresAt must lie in the future.", field="expiresAt")
        if expires_at is not None and expires_at > now + MAX_AUTH_TOKEN_LIFETIME:
            raise InvalidArgumentError(
                "expiresAt may lie at most ten years ahead.", field="expiresAt"
            )
        secret = new_secret()
        record = AuthToken(
            id=new_id("at"),
            workspace_id=workspace.id,
            name=name,
            secret_hash=hash_secret(secret),
            prefix=secret[:7],
            created_at=self._clock.now(),
            last_used_at=None,
            revoked_at=None,
            expires_at=expires_at,
            scopes=" ".join(wanted),
        )
        self._store.add(record)
        self._unknown_secrets.clear()
        self._audit.record(
            "auth_token.create",
            workspace_id=workspace.id,
            actor=actor,
            subject=record.id,
            name=name,
            scopes=list(wanted),
        )
        return CreatedAuthToken(record, secret)

    def auth_tokens(self, api_key: str) -> list[AuthToken]:
        return list(self._store.auth_tokens(self.get(api_key).id))

    def revoke_auth_token(self, api_key: str, token_id: str, *, actor: str) -> AuthToken:
        """Revoke an auth token; it stops minting at once on this instance.

        :raises NotFoundError: when the workspace has no such token.
        """
        workspace = self.get(api_key)
        record = self._store.revoke_auth_token(workspace.id, token_id, self._clock.now())
        if record is None:
            raise NotFoundError(f"Auth token {token_id!r} not found.")
        # Any cached credential may be this one: drop them all (revocations are rare).
        self._credentials.clear()
        self._audit.record(
            "auth_token.revoke", workspace_id=workspace.id, actor=actor, subject=token_id
        )
        return record

    def authenticate(
        self, api_key: str, secret: str, *, scope: str = "mint"
    ) -> tuple[Workspace, Credential]:
        """Check an API key and auth token pair, for ``scope``.

        :raises ApiKeyNotFoundError: unknown API key.
        :raises AuthTokenNotFoundError: unknown auth token ("Auth token not found.").
        :raises AuthTokenWrongWorkspaceError: the token belongs to another workspace.
        :raises AuthTokenRevokedError: the token was revoked.
        :raises AuthTokenExpiredError: the token is past its expiry.
        :raises AuthTokenScopeError: the token lacks ``scope``.
        """
        workspace = self.get(api_key)
        secret_hash = hash_secret(secret)
        record = self._credentials.get(secret_hash)
        if record is None:
            generation = self._credentials.generation
            unknown_generation = self._unknown_secrets.generation
            known_unknown = self._unknown_secrets.get(secret_hash) is not None
            row = None if known_unknown else self._store.auth_token_by_hash(secret_hash)
            if row is None or not secrets_equal(row.secret_hash, secret_hash):
                if not known_unknown:
                    self._unknown_secrets.put(secret_hash, True, generation=unknown_generation)
                if secret.startswith("pk_"):
                    raise AuthTokenNotFoundError(
                        "Auth token not found: this looks like an API key (pk_...), not an "
                        "auth token (sk_...)."
                    )
                raise AuthTokenNotFoundError()
            record = Credential.of(row)
            self._credentials.put(secret_hash, record, generation=generation)
        if record.workspace_id != workspace.id:
            raise AuthTokenWrongWorkspaceError()
        if record.revoked_at is not None:
            raise AuthTokenRevokedError()
        if record.expires_at is not None and record.expires_at <= self._clock.now():
            raise AuthTokenExpiredError()
        if scope not in record.scopes:
            raise AuthTokenScopeError(
                f"This auth token may not {'mint' if scope == 'mint' else 'use the admin API'}: "
                f"it lacks the {scope!r} scope (it has {' and '.join(sorted(record.scopes))}).",
                scope=scope,
            )
        self._audit.credential_used(record.id)
        if self._recently_valid.get(secret_hash) != api_key:  # put again once it has expired
            self._recently_valid.put(secret_hash, api_key)
        return workspace, record
