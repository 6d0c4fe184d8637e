"""Throttled guessing: failed credential checks counted per client address and per API key in
a moving window (the ``limits`` library), and a caller past the limit refused with
``rate_limited`` until the window clears.  Also a workspace's optional mint quota.

The counters live in memory on one instance, or in Redis (``IDMINT_REDIS_URL``) so that every
instance shares them.  Redis unreachable: counting goes on in memory, the log says so once,
and Redis is tried again after a moment: the limit never fails open silently.

Successful requests are never counted and never wait for a counter: a failure is counted
after it happened, and whether a caller is blocked is a look-up in this instance's memory
(which a failure that finds the shared counter exhausted fills, so an attacker spreading
guesses over N instances gets at most N more tries than the limit).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

__all__ = ["Block", "Throttle", "parse_rate"]

logger = logging.getLogger("idmint.throttle")

REDIS_RETRY_SECONDS = 30.0  # after Redis failed, how long counting stays in memory only
MAX_BLOCKED = 100_000  # blocked callers remembered per instance
PRUNE_SECONDS = 10.0  # how often the in-memory counters drop what has expired


@dataclass(frozen=True, slots=True)
class Block:
    """A caller that just passed its limit: ``scope`` is ``address`` or ``api_key``."""

    scope: str
    value: str
    until: float


class Throttle:
    """Counts failures and answers whether a caller is blocked.

    :param per_address: the failures one client address may have in the window
        (``limits`` syntax: ``"20/5 minutes"``).
    :param per_api_key: the failures one API key may have, from all addresses together.
    :param redis_url: share the counters in Redis; None: this instance's memory only.
    """

    def __init__(
        self,
        *,
        per_address: str,
        per_api_key: str,
        redis_url: str | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._limits = {"address": parse_rate(per_address), "api_key": parse_rate(per_api_key)}
        # What is hit: one less than the limit, so that the hit that fails is the limit's
        # last failure (it starts the block) and a failure costs one counter call, one round
        # trip to Redis; the window is read only when a block starts.
        self._trips = {scope: _one_less(limit) for scope, limit in self._limits.items()}
        self._now = now
        self._memory_storage = MemoryStorage()
        self._memory = MovingWindowRateLimiter(self._memory_storage)
        self._pruned_at = now()
        self._shared: MovingWindowRateLimiter | None = None
        self._redis_url = redis_url
        self._redis_down_until = 0.0
        if redis_url is not None:
            self._shared = MovingWindowRateLimiter(_redis(redis_url))
        # (scope, value) -> when the block ends: the only thing a request that succeeds reads.
        self._blocked: dict[tuple[str, str], float] = {}
        self._quota_limits: dict[str, RateLimitItem] = {}
        self._lock = threading.Lock()

    # --- guessing -----------------------------------------------------------------------

    def retry_after(self, address: str | None, api_key: str | None) -> int | None:
        """Seconds until ``address`` or ``api_key`` may try again; None if neither is
        blocked.  Memory only: no counter is read."""
        by_address, by_api_key = self.blocked(address, api_key)
        if by_address is None:
            return by_api_key
        return by_address if by_api_key is None else max(by_address, by_api_key)

    def blocked(self, address: str | None, api_key: str | None) -> tuple[int | None, int | None]:
        """Seconds until ``address``, and until ``api_key``, may try again (None: not
        blocked).  Memory only: no counter is read."""
        if not self._blocked:
            return None, None
        now = self._now()
        return (
            _seconds(self._blocked.get(("address", address or ""), 0.0) - now),
            _seconds(self._blocked.get(("api_key", api_key or ""), 0.0) - now),
        )

    def failed(self, address: str | None, api_key: str | None) -> list[Block]:
        """Count one failed credential check; returns the blocks it starts (one audit event
        each)."""
        started: list[Block] = []
        for scope, value in (("address", address), ("api_key", api_key)):
            if not value:
                continue
            trip = self._trips[scope]
            if trip.amount > 0 and self._hit(trip, scope, value):
                continue
            # The limit's last failure (or one past it, counted elsewhere) starts the block:
            # "20 per 5 minutes" lets 20 failures be checked, and refuses what comes next.
            reset, _ = self._window(trip, scope, value)
            until = max(reset, self._now() + 1)
            with self._lock:
                previous = self._blocked.get((scope, value), 0.0)
                if len(self._blocked) >= MAX_BLOCKED:
                    self._forget_expired()
                while len(self._blocked) >= MAX_BLOCKED:  # still full: the oldest block goes
                    del self._blocked[next(iter(self._blocked))]
                self._blocked.pop((scope, value), None)  # re-inserted last: newest
                self._blocked[(scope, value)] = until
            if previous <= self._now():
                started.append(Block(scope, value, until))
        self._prune_memory()
        return started

    # --- quotas -------------------------------------------------------------------------

    def within_quota(self, quota: str, workspace_id: str) -> int | None:
        """Count one use of ``workspace_id``'s quota; None while within it, else the seconds
        until the next use fits."""
        limit = self._quota_limits.get(quota)
        if limit is None:
            limit = self._quota_limits[quota] = parse_rate(quota)
        if self._hit(limit, "quota", workspace_id):
            return None
        reset, _ = self._window(limit, "quota", workspace_id)
        return max(1, int(reset - self._now() + 0.999))

    # --- counters -----------------------------------------------------------------------

    def _limiter(self) -> MovingWindowRateLimiter:
        if self._shared is not None and self._now() >= self._redis_down_until:
            return self._shared
        return self._memory

    def _hit(self, limit: RateLimitItem, scope: str, value: str) -> bool:
        limiter = self._limiter()
        try:
            return limiter.hit(limit, scope, value)
        except Exception as exc:
            self._redis_failed(exc)
            return self._memory.hit(limit, scope, value)

    def _window(self, limit: RateLimitItem, scope: str, value: str) -> tuple[float, int]:
        """When the window's oldest hit leaves it (a window without hits: a whole window from
        now), and how many more hits it takes."""
        limiter = self._limiter()
        try:
            stats = limiter.get_window_stats(limit, scope, value)
        except Exception as exc:
            self._redis_failed(exc)
            stats = self._memory.get_window_stats(limit, scope, value)
        reset = float(stats.reset_time)
        if reset <= self._now():
            reset = self._now() + limit.get_expiry()
        return reset, int(stats.remaining)

    def _prune_memory(self) -> None:
        """Drop the in-memory counters whose hits have all expired.  ``limits``' memory
        storage empties them but keeps their keys (and scans every key every 10 ms), so an
        attacker spreading failures over many addresses would grow it without bound."""
        now = self._now()
        if now - self._pruned_at < PRUNE_SECONDS:
            return
        self._pruned_at = now
        events = getattr(self._memory_storage, "events", None)
        locks = getattr(self._memory_storage, "locks", None)
        if not isinstance(events, dict) or locks is None:
            return
        wall = time.time()  # limits' entries expire on the wall clock
        for key in [key for key, hits in list(events.items()) if _expired(hits, wall)]:
            with locks[key]:
                if _expired(events.get(key), wall):
                    events.pop(key, None)
            locks.pop(key, None)

    def _redis_failed(self, exc: BaseException) -> None:
        first = self._now() >= self._redis_down_until
        self._redis_down_until = self._now() + REDIS_RETRY_SECONDS
        if first:
            logger.error(
                "throttle: Redis at IDMINT_REDIS_URL is unreachable (%s: %s); counting failures "
                "in this instance's memory, retrying Redis in %.0f s",
                type(exc).__name__,
                exc,
                REDIS_RETRY_SECONDS,
            )

    def _forget_expired(self) -> None:
        now = self._now()
        for key in [key for key, until in self._blocked.items() if until <= now]:
            del self._blocked[key]


MAX_RATE_AMOUNT = 1_000_000_000
MAX_RATE_WINDOW = 31 * 86400  # a month: a window past it is a typo, and overflows counters
_ONE_RATE = re.compile(r"\s*[1-9]\d{0,9}\s*(/|per)\s*([1-9]\d{0,9}\s*)?[a-z]+\s*", re.IGNORECASE)


def parse_rate(text: str) -> RateLimitItem:
    """One rate in ``limits``' notation (``20/5 minutes``, ``300 per hour``): 1 to a billion
    per a window of one second to 31 days.

    :raises ValueError: anything else (several rates, a zero, a window of years).
    """
    if not _ONE_RATE.fullmatch(text):
        raise ValueError(f"{text[:64]!r} is not one rate such as '20/5 minutes' or '300 per hour'")
    item = parse(text)
    if not 1 <= item.amount <= MAX_RATE_AMOUNT or not 1 <= item.get_expiry() <= MAX_RATE_WINDOW:
        raise ValueError(
            f"{text[:64]!r}: a rate allows 1 to {MAX_RATE_AMOUNT:,} per a window of one second "
            "to 31 days"
        )
    return item


def _expired(hits: Any, wall: float) -> bool:
    """Whether a moving window's hits (newest first) have all left it."""
    return not hits or getattr(hits[0], "expiry", wall + 1) <= wall


def _one_less(limit: RateLimitItem) -> RateLimitItem:
    return type(limit)(limit.amount - 1, limit.multiples, limit.namespace)


def _seconds(left: float) -> int | None:
    return None if left <= 0 else max(1, int(left + 0.999))


def _redis(url: str) -> Storage:
    # Short timeouts: a hung Redis costs a failed request a fraction of a second, then the
    # counting moves to memory (see _redis_failed).
    options: dict[str, Any] = {"socket_timeout": 0.25, "socket_connect_timeout": 0.25}
    storage = storage_from_string(url, **options)
    if not isinstance(storage, Storage):  # an async scheme (async+redis://): not for us
        raise ValueError(f"IDMINT_REDIS_URL must be a redis:// URL, not {url.split(':')[0]}")
    return storage
