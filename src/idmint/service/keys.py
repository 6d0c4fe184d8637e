"""Workspace key rings: created sealed, loaded once, cached with bounded staleness."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from idmint.clock import Clock
from idmint.keyring import KeyRing
from idmint.keys import KeyState, MasterKey, SigningKey
from idmint.service._cache import TTLCache
from idmint.settings import Settings
from idmint.store import SigningKeyRow, Store, Workspace
from idmint.tokens import LifetimeBounds, TokenMinter, TokenVerifier

__all__ = ["KeyService", "WorkspaceKeys"]


@dataclass(frozen=True, slots=True)
class WorkspaceKeys:
    """What minting and verifying need for one workspace, built once per key/settings change."""

    version: tuple[float, int, int, int]
    ring: KeyRing
    minter: TokenMinter
    verifier: TokenVerifier


class KeyService:
    """Creates, seals and loads signing keys; hands out per-workspace minters and verifiers."""

    def __init__(
        self, store: Store, clock: Clock, master_key: MasterKey, settings: Settings
    ) -> None:
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
        version = (
            workspace.updated_at,
            workspace.token_ttl_seconds,
            workspace.min_ttl_seconds,
            workspace.max_ttl_seconds,
        )
        cached = self._cache.get(workspace.id)
        if cached is not None and cached.version == version:
            return cached
        ring = KeyRing(
            SigningKey.decrypt(
                row.sealed_private_key,
                self._master_key,
                alg=row.alg,
                kid=row.kid,
                state=KeyState(row.state),
                created_at=row.created_at,
            )
            for row in self._store.signing_keys(workspace.id)
        )
        issuer = self._settings.issuer_for(workspace.api_key)
        bounds = LifetimeBounds(
            minimum=timedelta(seconds=workspace.min_ttl_seconds),
            maximum=timedelta(seconds=workspace.max_ttl_seconds),
        )
        keys = WorkspaceKeys(
            version=version,
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
        )
        self._cache.put(workspace.id, keys)
        return keys

    def invalidate(self, workspace_id: str) -> None:
        self._cache.invalidate(workspace_id)
