"""Verify idmint user tokens in any service, with the keys the issuer publishes.

    verifier = RemoteVerifier("https://idmint.example.com/w/pk_...", audience="pk_...")
    claims = verifier.verify(token).claims      # idmint.claims.UserClaims

The keys come from ``{issuer}/.well-known/jwks.json``, imported strictly
(:meth:`idmint.jose.jwk.JWKSet.from_dict`), and tokens are checked by the core's
:class:`~idmint.jose.tokens.TokenVerifier`: algorithm from the key, exact issuer, expected audience,
expiry with the leeway.  Failures raise the core's classes (``TokenExpiredError``,
``InvalidAudienceError``, ``UnknownKeyError``, ...).  Only core modules and httpx are imported:
no server code.

Caching: the set is fetched on first use and kept for the answer's ``Cache-Control: max-age``
(300 s without one, ``no-cache``/``no-store`` as 0, at most a day), then refetched lazily by the
next verification.  A token whose ``kid`` the set lacks (a key rotated in early) triggers one
refetch, at most once per ``min_refetch_interval`` seconds; every fetch counts towards that
cooldown, so garbage kids cannot make the verifier hammer the issuer.  When a refetch fails
the verifier keeps the keys it has (stale-if-error) and tries again after the cooldown.
Fetches hold a lock, so concurrent verifications fetch once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import httpx

from idmint.client._calls import checked_url
from idmint.client._errors import error_from_response, transport_error
from idmint.client._transport import AsyncHttpClientOwner, HttpClientOwner
from idmint.jose.claims import DEFAULT_LEEWAY
from idmint.jose.clock import Clock, SystemClock
from idmint.jose.errors import IdmintError, UnavailableError, UnknownKeyError
from idmint.jose.jwk import JWKSet, VerificationKey
from idmint.jose.tokens import TokenVerifier, VerifiedToken

__all__ = [
    "DEFAULT_MAX_AGE",
    "MAX_MAX_AGE",
    "AsyncRemoteVerifier",
    "RemoteVerifier",
    "cache_lifetime",
]

logger = logging.getLogger("idmint.client")

#: Seconds a JWK set is kept when its answer has no ``Cache-Control: max-age``.
DEFAULT_MAX_AGE: Final = 300.0
#: The longest a JWK set is kept, whatever the answer says.
MAX_MAX_AGE: Final = 86400.0


def cache_lifetime(headers: httpx.Headers) -> float:
    """Seconds an answer may be reused, from ``Cache-Control`` (and ``Age``) as a private cache
    reads them: ``no-store`` and ``no-cache`` are 0, ``max-age`` counts, else the default."""
    directives: dict[str, str] = {}
    for part in headers.get("cache-control", "").split(","):
        name, _, value = part.strip().partition("=")
        if name:
            directives[name.lower()] = value.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    lifetime = DEFAULT_MAX_AGE
    if directives.get("max-age", "").isdigit():
        lifetime = float(directives["max-age"])
    age = headers.get("age", "")
    if age.isdigit():
        lifetime -= float(age)
    return min(max(lifetime, 0.0), MAX_MAX_AGE)


def _key_set(response: httpx.Response) -> JWKSet:
    if not response.is_success:
        raise error_from_response(response)
    try:
        document: object = response.json()
    except ValueError:
        document = None  # from_dict refuses it as not a JWK set
    return JWKSet.from_dict(document)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    keys: JWKSet
    fresh_until: float
    generation: int


class _KeyCache:
    """The state both verifiers share, without I/O: the current set, when it goes stale, when
    the last fetch was tried.  It is the :class:`~idmint.jose.jwk.KeyResolver` of the verifier."""

    def __init__(self, jwks_uri: str, min_refetch_interval: float) -> None:
        if not min_refetch_interval >= 0:
            raise ValueError("min_refetch_interval must be at least 0 seconds.")
        self.jwks_uri = jwks_uri
        self.min_refetch_interval = min_refetch_interval
        # Replaced whole, never mutated: readers without the lock see one consistent set.
        self.snapshot: _Snapshot | None = None
        self.last_attempt = -math.inf
        self.last_error: IdmintError | None = None

    @property
    def generation(self) -> int:
        snapshot = self.snapshot
        return 0 if snapshot is None else snapshot.generation

    def resolve(self, kid: str | None) -> VerificationKey:
        snapshot = self.snapshot
        if snapshot is None:  # pragma: no cover - verify() fetches first
            raise UnknownKeyError(kid=kid)
        return snapshot.keys.resolve(kid)

    def is_stale(self, now: float) -> bool:
        snapshot = self.snapshot
        return snapshot is None or now >= snapshot.fresh_until

    def cooled_down(self, now: float) -> bool:
        """Whether the cooldown since the last fetch attempt is over."""
        return now - self.last_attempt >= self.min_refetch_interval

    def needs_fetch(self, now: float) -> bool:
        """Whether the set is stale (or missing) and the cooldown allows fetching it again."""
        return self.is_stale(now) and self.cooled_down(now)

    def failed(self, error: IdmintError) -> IdmintError:
        """Note a failed fetch; ``error``, to raise."""
        self.last_error = error
        return error

    def accept(self, response: httpx.Response, now: float) -> JWKSet:
        """Take a fetched answer as the new set, and return it.

        :raises IdmintError: the server's error, or ``InvalidKeyError`` for a set that does
            not import strictly; noted as the last error, and the current set stays.
        """
        try:
            keys = _key_set(response)
        except IdmintError as exc:
            self.failed(exc)
            raise
        self.snapshot = _Snapshot(keys, now + cache_lifetime(response.headers), self.generation + 1)
        self.last_error = None
        return keys

    def generation_in_use(self) -> int:
        """The generation of the set in hand.

        :raises UnavailableError: when there is none (the fetches so far failed).
        """
        if self.snapshot is None:
            raise UnavailableError(
                f"The JWKS at {self.jwks_uri} could not be fetched ({self.last_error}); "
                f"the next attempt is after the {self.min_refetch_interval:g} s cooldown."
            ) from self.last_error
        return self.snapshot.generation


class _Base:
    """What both verifiers hold: the issuer and audience, the clock, the key cache, and the
    core verifier that resolves keys through that cache."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        leeway: float | timedelta,
        min_refetch_interval: float,
        clock: Clock | None,
        jwks_uri: str | None,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.clock: Clock = clock or SystemClock()
        self._cache = _KeyCache(
            checked_url(
                jwks_uri or f"{issuer.rstrip('/')}/.well-known/jwks.json", what="The JWKS URL"
            ),
            min_refetch_interval,
        )
        self._verifier = TokenVerifier(
            self._cache, issuer=issuer, audience=audience, clock=self.clock, leeway=leeway
        )

    @property
    def jwks_uri(self) -> str:
        return self._cache.jwks_uri

    @property
    def keys(self) -> JWKSet | None:
        """The key set in use (``None`` before the first successful fetch)."""
        snapshot = self._cache.snapshot
        return None if snapshot is None else snapshot.keys

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.issuer!r}, audience={self.audience!r})"


class RemoteVerifier(_Base, HttpClientOwner):
    """Verifies an idmint workspace's user tokens with its published JWKS (thread-safe).

    :param issuer: the workspace's issuer, exactly as tokens carry it in ``iss``
        (``{IDMINT_PUBLIC_URL}/w/{api_key}``).
    :param audience: the expected ``aud``: the workspace's API key.
    :param leeway: clock skew tolerated on ``exp``, ``nbf`` and ``iat`` (0 to 300 s).
    :param min_refetch_interval: the cooldown, in seconds, between two fetches of the set.
    :param http_client: an ``httpx.Client`` to fetch with (not closed by :meth:`close`).
    :param clock: the source of "now" for the claims and the cache (tests freeze it).
    :param transport: an ``httpx.BaseTransport`` for the verifier's own client.
    :param timeout: seconds to wait for the issuer.
    :param jwks_uri: fetch the set from here instead of ``{issuer}/.well-known/jwks.json``
        (an internal address of the same server, for instance).
    :raises ValueError: for a leeway or cooldown out of range, or both ``http_client`` and
        ``transport``.
    """

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        leeway: float | timedelta = DEFAULT_LEEWAY,
        min_refetch_interval: float = 30.0,
        http_client: httpx.Client | None = None,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        jwks_uri: str | None = None,
    ) -> None:
        HttpClientOwner.__init__(self, http_client, transport, timeout)
        _Base.__init__(
            self,
            issuer,
            audience,
            leeway=leeway,
            min_refetch_interval=min_refetch_interval,
            clock=clock,
            jwks_uri=jwks_uri,
        )
        self._lock = threading.Lock()

    def verify(self, token: str) -> VerifiedToken:
        """Verify a token: signature under the key its ``kid`` names, then the claims.

        :raises TokenError: the core's subclass naming the first problem
            (``TokenExpiredError`` with ``expired_at``, ``InvalidAudienceError``,
            ``InvalidIssuerError``, ``UnknownKeyError`` after the refetch it allows, ...).
        :raises IdmintError: when no key set could be fetched yet (``UnavailableError``, the
            issuer's error such as ``WorkspaceNotFoundError``, or ``InvalidKeyError``).
        """
        generation = self._ensure_keys()
        try:
            return self._verifier.verify(token)
        except UnknownKeyError:
            if not self._refetch_unless_newer(generation):
                raise
        return self._verifier.verify(token)

    def refresh(self) -> JWKSet:
        """Fetch the set now, whatever its age and the cooldown.

        :raises IdmintError: when the fetch fails (the current set stays).
        """
        with self._lock:
            return self._fetch()

    def _fetch(self) -> JWKSet:
        # Call with the lock held.
        cache = self._cache
        now = self.clock.now()
        cache.last_attempt = now
        try:
            response = self._http.get(cache.jwks_uri, headers={"Accept": "application/json"})
        except httpx.RequestError as exc:
            raise cache.failed(transport_error("GET", cache.jwks_uri, exc)) from exc
        return cache.accept(response, now)

    def _ensure_keys(self) -> int:
        """Fetch when there is no set, or refresh a stale one; the generation in use."""
        cache = self._cache
        if not cache.is_stale(self.clock.now()):
            return cache.generation
        # With a set in hand, a verification does not wait for another thread's refresh.
        if not self._lock.acquire(blocking=cache.snapshot is None):
            return cache.generation
        try:
            if cache.needs_fetch(self.clock.now()):
                try:
                    self._fetch()
                except IdmintError as exc:
                    if cache.snapshot is None:
                        raise
                    logger.warning("keeping the stale JWKS of %s: %s", cache.jwks_uri, exc)
            return cache.generation_in_use()
        finally:
            self._lock.release()

    def _refetch_unless_newer(self, seen: int) -> bool:
        """After an unknown kid: whether a newer set is in hand (fetched now, or by another
        thread meanwhile); no fetch within the cooldown."""
        with self._lock:
            cache = self._cache
            if cache.generation != seen:
                return True
            if not cache.cooled_down(self.clock.now()):
                return False
            try:
                self._fetch()
            except IdmintError as exc:
                logger.warning("refetching the JWKS of %s failed: %s", cache.jwks_uri, exc)
                return False
            return True


class AsyncRemoteVerifier(_Base, AsyncHttpClientOwner):
    """:class:`RemoteVerifier` for asyncio: ``await verifier.verify(token)``; the same
    parameters, with an ``httpx.AsyncClient`` / ``httpx.AsyncBaseTransport``.  Fetches hold
    an :class:`asyncio.Lock`; use one instance per event loop."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        leeway: float | timedelta = DEFAULT_LEEWAY,
        min_refetch_interval: float = 30.0,
        http_client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        jwks_uri: str | None = None,
    ) -> None:
        AsyncHttpClientOwner.__init__(self, http_client, transport, timeout)
        _Base.__init__(
            self,
            issuer,
            audience,
            leeway=leeway,
            min_refetch_interval=min_refetch_interval,
            clock=clock,
            jwks_uri=jwks_uri,
        )
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> VerifiedToken:
        """See :meth:`RemoteVerifier.verify`."""
        generation = await self._ensure_keys()
        try:
            return self._verifier.verify(token)
        except UnknownKeyError:
            if not await self._refetch_unless_newer(generation):
                raise
        return self._verifier.verify(token)

    async def refresh(self) -> JWKSet:
        """See :meth:`RemoteVerifier.refresh`."""
        async with self._lock:
            return await self._fetch()

    async def _fetch(self) -> JWKSet:
        cache = self._cache
        now = self.clock.now()
        cache.last_attempt = now
        try:
            response = await self._http.get(cache.jwks_uri, headers={"Accept": "application/json"})
        except httpx.RequestError as exc:
            raise cache.failed(transport_error("GET", cache.jwks_uri, exc)) from exc
        return cache.accept(response, now)

    async def _ensure_keys(self) -> int:
        cache = self._cache
        if not cache.is_stale(self.clock.now()):
            return cache.generation
        if cache.snapshot is not None and self._lock.locked():
            return cache.generation  # another task is refreshing; the stale set still serves
        async with self._lock:
            if cache.needs_fetch(self.clock.now()):
                try:
                    await self._fetch()
                except IdmintError as exc:
                    if cache.snapshot is None:
                        raise
                    logger.warning("keeping the stale JWKS of %s: %s", cache.jwks_uri, exc)
            return cache.generation_in_use()

    async def _refetch_unless_newer(self, seen: int) -> bool:
        async with self._lock:
            cache = self._cache
            if cache.generation != seen:
                return True
            if not cache.cooled_down(self.clock.now()):
                return False
            try:
                await self._fetch()
            except IdmintError as exc:
                logger.warning("refetching the JWKS of %s failed: %s", cache.jwks_uri, exc)
                return False
            return True
