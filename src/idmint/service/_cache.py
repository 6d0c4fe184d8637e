"""A small time-bounded cache with explicit invalidation, for the hot paths."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

from idmint.jose.clock import Clock

K = TypeVar("K")
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """Maps keys to values for at most ``ttl`` seconds each, holding at most ``size`` entries.

    Staleness is bounded by ``ttl``; writers that change the underlying record call
    :meth:`invalidate` (or :meth:`clear`) so that this instance sees the change at once.
    """

    def __init__(self, clock: Clock, *, ttl: float, size: int = 10_000) -> None:
        self._clock = clock
        self._ttl = ttl
        self._size = size
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0

    @property
    def generation(self) -> int:
        """Changes on every invalidation: read it before loading a value from the store and
        pass it to :meth:`put`, so that a value loaded before an invalidation is not cached
        after it (a revocation racing a cache miss must not resurrect the old record)."""
        return self._generation

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock.now():
            with self._lock:
                self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: K, value: V, *, generation: int | None = None) -> None:
        if self._ttl <= 0:
            return
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            self._entries[key] = (self._clock.now() + self._ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def invalidate(self, key: K) -> None:
        with self._lock:
            self._generation += 1
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
