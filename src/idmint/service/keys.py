"""Workspace key rings: created sealed, loaded once, cached with bounded staleness, rotated
without downtime.

A rotation publishes a ``next`` key first; after ``IDMINT_KEY_PREPUBLISH_SECONDS`` (well over
the JWKS max-age) it becomes ``active`` and the old key ``retiring``: published and verifying
until every token it signed has expired (30 days, the longest lifetime, plus the leeway), then
``retired``, its sealed private part erased.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import orjson

from idmint.jose.clock import Clock
from idmint.jose.keyring import KeyRing
from idmint.jose.keys import KeyState, MasterKey, SigningKey
from idmint.jose.tokens import ABSOLUTE_MAX_LIFETIME, LifetimeBounds, TokenMinter, TokenVerifier
from idmint.service._cache import TTLCache
from idmint.service.audit import AuditLog
from idmint.settings import Settings
from idmint.store import SigningKeyRow, Store, Workspace

__all__ = ["KeyService", "WorkspaceKeys"]


@dataclass(frozen=True, slots=True)
class WorkspaceKeys:
    """What minting and verifying need for one workspace, built once per key/settings change."""

    version: tuple[float, int, int, int]
    source: Workspace  # the workspace object it was built for (see for_workspace)
    ring: KeyRing
    minter: TokenMinter
    verifier: TokenVerifier
    jwks_json: bytes  # the ring's JWKS document, serialised once


class KeyService:
    """Creates, seals and loads signing keys; hands out per-workspace minters and verifiers."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        master_key: MasterKey,
        settings: Settings,
        audit: AuditLog,
    ) -> None:
        self._audit = audit
        self._store = store
        self._clock = clock
        self._master_key = master_key
        self._settings = settings
        self._cache: TTLCache[str, WorkspaceKeys] = TTLCache(
            clock, ttl=settings.credential_cache_seconds, size=1000
        )

    def create_key(
        self, workspace: Workspace, *, state: KeyState = KeyState.ACTIVE, alg: str | None = None
    ) -> SigningKey:
        """Generate a key for ``workspace`` and store it sealed under the master key."""
        now = self._clock.now()
        key = SigningKey.generate(
            alg or self._settings.signing_algorithm, state=state, created_at=now
        )
        self._store.add(
            SigningKeyRow(
                workspace_id=workspace.id,
                kid=key.kid,
                alg=key.alg.name,
                state=state.value,
                sealed_private_key=key.encrypt(self._master_key),
                created_at=now,
                activated_at=now if state is KeyState.ACTIVE else None,
                retiring_at=None,
                retired_at=None,
            )
        )
        self.invalidate(workspace.id)
        return key

    def for_workspace(self, workspace: Workspace) -> WorkspaceKeys:
        """The key ring, minter and verifier of ``workspace`` (cached)."""
        cached = self._cache.get(workspace.id)
        # The hot path passes the same cached workspace object every time (and workspace rows
        # are never changed in place, only reread): then its version cannot have changed.
        if cached is not None and cached.source is workspace:
            return cached
        version = (
            workspace.updated_at,
            workspace.token_ttl_seconds,
            workspace.min_ttl_seconds,
            workspace.max_ttl_seconds,
        )
        if cached is not None and cached.version == version:
            return cached
        generation = self._cache.generation
        rows = self._store.signing_keys(workspace.id)
        ring = KeyRing(
            (
                SigningKey.decrypt(
                    row.sealed_private_key,
                    self._master_key,
                    alg=row.alg,
                    kid=row.kid,
                    state=KeyState(row.state),
                    created_at=row.created_at,
                )
                for row in rows
                if row.state != KeyState.RETIRED
            ),
            retired=(row.kid for row in rows if row.state == KeyState.RETIRED),
        )
        issuer = self._settings.issuer_for(workspace.api_key)
        bounds = LifetimeBounds(
            minimum=timedelta(seconds=workspace.min_ttl_seconds),
            maximum=timedelta(seconds=workspace.max_ttl_seconds),
        )
        keys = WorkspaceKeys(
            version=version,
            source=workspace,
            ring=ring,
            minter=TokenMinter(
                ring,
                issuer=issuer,
                audience=workspace.api_key,
                clock=self._clock,
                lifetime=workspace.token_ttl_seconds,
                bounds=bounds,
            ),
            verifier=TokenVerifier(
                ring,
                issuer=issuer,
                audience=workspace.api_key,
                clock=self._clock,
                leeway=self._settings.leeway_seconds,
            ),
            jwks_json=orjson.dumps(ring.jwks()),
        )
        self._cache.put(workspace.id, keys, generation=generation)
        return keys

    def invalidate(self, workspace_id: str) -> None:
        self._cache.invalidate(workspace_id)

    # --- rotation -----------------------------------------------------------------------------

    def keys(self, workspace: Workspace) -> list[SigningKeyRow]:
        """Every key of the workspace with its state and times, oldest first."""
        return list(self._store.signing_keys(workspace.id))

    def promotes_at(self, row: SigningKeyRow) -> float | None:
        """When a ``next`` key may start signing: after the pre-publish period (None for a
        key in any other state)."""
        if row.state != KeyState.NEXT:
            return None
        return row.created_at + self._settings.key_prepublish_seconds

    def retires_at(self, row: SigningKeyRow) -> float | None:
        """When a ``retiring`` key is retired: once every token it signed has expired (None
        for a key in any other state)."""
        if row.state != KeyState.RETIRING or row.retiring_at is None:
            return None
        return (
            row.retiring_at + ABSOLUTE_MAX_LIFETIME.total_seconds() + self._settings.leeway_seconds
        )

    def rotate(
        self, workspace: Workspace, *, actor: str, alg: str | None = None, now: bool = False
    ) -> SigningKeyRow:
        """Start a rotation: add a ``next`` key, published at once, signing after the
        pre-publish period (:meth:`maintain` promotes it).  With a rotation already under way,
        its ``next`` key is returned.  ``now=True`` promotes at once: only for a compromised
        key, since verifiers holding a cached JWKS will not know the new key yet.
        """
        pending = [row for row in self.keys(workspace) if row.state == KeyState.NEXT]
        if pending:
            row = pending[0]
        else:
            key = self.create_key(workspace, state=KeyState.NEXT, alg=alg)
            row = next(r for r in self.keys(workspace) if r.kid == key.kid)
            self._audit.record(
                "key.rotate",
                workspace_id=workspace.id,
                actor=actor,
                subject=key.kid,
                alg=key.alg.name,
                step="published",
            )
        if now:
            self._promote(workspace, row.kid, actor=actor)
            row = next(r for r in self.keys(workspace) if r.kid == row.kid)
        return row

    def maintain(self, workspace: Workspace, *, actor: str = "scheduler") -> list[str]:
        """Carry out what is due: scheduled rotation, promotion of a ``next`` key whose
        pre-publish period is over, retirement of ``retiring`` keys whose tokens have all
        expired.  Safe to run on every instance at once.  Returns what it did."""
        done: list[str] = []
        now = self._clock.now()
        rows = self.keys(workspace)
        every = self._settings.key_rotation_days * 86400
        if every and not any(row.state == KeyState.NEXT for row in rows):
            active = [row for row in rows if row.state == KeyState.ACTIVE]
            if active and (active[0].activated_at or active[0].created_at) + every <= now:
                done.append(f"published {self.rotate(workspace, actor=actor).kid}")
                rows = self.keys(workspace)
        for row in rows:
            promotes_at = self.promotes_at(row)
            if (
                promotes_at is not None
                and promotes_at <= now
                and self._promote(workspace, row.kid, actor=actor)
            ):
                done.append(f"activated {row.kid}")
        cutoff = now - ABSOLUTE_MAX_LIFETIME.total_seconds() - self._settings.leeway_seconds
        for kid in self._store.retire_signing_keys(workspace.id, cutoff, now):
            self._audit.record(
                "key.rotate", workspace_id=workspace.id, actor=actor, subject=kid, step="retired"
            )
            done.append(f"retired {kid}")
        if done:
            self.invalidate(workspace.id)
        return done

    def _promote(self, workspace: Workspace, kid: str, *, actor: str) -> bool:
        promoted = self._store.promote_signing_key(workspace.id, kid, self._clock.now())
        if promoted:
            self.invalidate(workspace.id)
            self._audit.record(
                "key.rotate", workspace_id=workspace.id, actor=actor, subject=kid, step="activated"
            )
        return promoted
