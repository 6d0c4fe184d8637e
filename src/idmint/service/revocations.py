"""Token revocation: by jti, or a user's or organization's tokens issued before a time.

The denylist of a workspace is small (entries drop out once the tokens they name have
expired), so each instance keeps it in memory for ``cache_seconds`` and re-reads it after;
a revocation made on this instance applies at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from idmint.jose.claims import UserClaims
from idmint.jose.clock import Clock
from idmint.jose.errors import InvalidArgumentError, TokenRevokedError
from idmint.service._cache import TTLCache
from idmint.service.audit import AuditLog
from idmint.service.validation import check_id
from idmint.store import Revocation, Store, Workspace

__all__ = ["KINDS", "Denylist", "RevocationService"]

KINDS = ("jti", "user", "organization")


@dataclass(frozen=True, slots=True)
class Denylist:
    """A workspace's live revocations, indexed for O(1) checks."""

    jtis: frozenset[str]
    users: dict[str, float]
    organizations: dict[str, float]

    @classmethod
    def build(cls, rows: Sequence[Revocation]) -> Denylist:
        jtis: set[str] = set()
        users: dict[str, float] = {}
        organizations: dict[str, float] = {}
        for row in rows:
            if row.kind == "jti":
                jtis.add(row.value)
            else:
                target = users if row.kind == "user" else organizations
                target[row.value] = max(target.get(row.value, 0.0), row.issued_before or 0.0)
        return cls(frozenset(jtis), users, organizations)

    def revoked(self, claims: UserClaims) -> bool:
        if claims.jti is not None and claims.jti in self.jtis:
            return True
        issued = claims.issued_at if claims.issued_at is not None else 0
        cutoff = self.users.get(claims.subject)
        if cutoff is not None and issued <= cutoff:
            return True
        if claims.organization_id is not None:
            cutoff = self.organizations.get(claims.organization_id)
            if cutoff is not None and issued <= cutoff:
                return True
        return False


class RevocationService:
    """Checks tokens against the denylist and adds to it."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        audit: AuditLog,
        *,
        cache_seconds: float,
        max_lifetime: float,
        leeway: float,
    ) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit
        self._max_lifetime = max_lifetime
        self._leeway = leeway
        self._cache: TTLCache[str, Denylist] = TTLCache(clock, ttl=cache_seconds, size=1000)

    def denylist(self, workspace: Workspace) -> Denylist:
        cached = self._cache.get(workspace.id)
        if cached is None:
            generation = self._cache.generation
            cached = Denylist.build(self._store.revocations(workspace.id, self._clock.now()))
            self._cache.put(workspace.id, cached, generation=generation)
        return cached

    def check(self, workspace: Workspace, claims: UserClaims) -> None:
        """:raises TokenRevokedError: when the token is revoked."""
        if self.denylist(workspace).revoked(claims):
            raise TokenRevokedError("The token has been revoked.")

    def add(
        self,
        workspace: Workspace,
        kind: str,
        value: str,
        *,
        actor: str = "system",
        expires_at: float | None = None,
        reason: str | None = None,
    ) -> Revocation:
        """Revoke: one token by ``jti``, or every token of a ``user`` or an ``organization``
        issued up to now.  Effective at once on this instance, within the cache time on others;
        the matching sessions end now.

        :param expires_at: when the entry may be dropped: the token's ``exp`` when known.
            Otherwise now plus the longest lifetime any token can have (30 days).  The leeway
            is added to either, since a token verifies until ``exp`` + leeway.
        :raises InvalidArgumentError: for an unknown kind or an empty value.
        """
        if kind not in KINDS:
            raise InvalidArgumentError(f"kind must be one of {', '.join(KINDS)}.", field="kind")
        check_id(value, kind)
        now = self._clock.now()
        row = Revocation(
            workspace_id=workspace.id,
            kind=kind,
            value=value,
            issued_before=None if kind == "jti" else now,
            # A token verifies until exp + leeway, so its entry must live that long too.
            expires_at=(expires_at if expires_at is not None else now + self._max_lifetime)
            + self._leeway,
            created_at=now,
            reason=reason,
        )
        self._store.add(row)
        self._cache.invalidate(workspace.id)
        if kind == "jti":
            self._store.end_sessions(workspace.id, now, jti=value)
        elif kind == "user":
            self._store.end_sessions(workspace.id, now, user_id=value)
        else:
            self._store.end_sessions(workspace.id, now, organization_id=value)
        self._audit.record(
            "revocation.create",
            workspace_id=workspace.id,
            actor=actor,
            subject=value,
            kind=kind,
            reason=reason,
        )
        return row

    def live(self, workspace: Workspace) -> list[Revocation]:
        """The entries that can still match a token, oldest first."""
        return list(self._store.revocations(workspace.id, self._clock.now()))

    def purge(self) -> int:
        """Drop entries whose tokens have all expired (the server does this every minute)."""
        return self._store.purge_revocations(self._clock.now())
