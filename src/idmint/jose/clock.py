"""Injected time, so that tests move time instead of sleeping.

Everything in idmint that needs "now" takes a :class:`Clock`.  Production code uses
:class:`SystemClock`; tests use :class:`FrozenClock` and call :meth:`FrozenClock.advance`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FrozenClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """A source of the current time as POSIX seconds."""

    def now(self) -> float:
        """Seconds since the epoch, UTC."""
        ...


class SystemClock:
    """The machine's wall clock."""

    def now(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


class FrozenClock:
    """A clock that only moves when told to.

    :param start: the initial time, as POSIX seconds or an aware datetime.
    """

    def __init__(self, start: float | datetime = 1_700_000_000.0) -> None:
        self._now = start.timestamp() if isinstance(start, datetime) else float(start)

    def now(self) -> float:
        return self._now

    def advance(self, by: float | timedelta) -> None:
        """Move the clock forward (or back, with a negative amount)."""
        self._now += by.total_seconds() if isinstance(by, timedelta) else float(by)

    def set(self, to: float | datetime) -> None:
        """Jump to an absolute time."""
        self._now = to.timestamp() if isinstance(to, datetime) else float(to)

    def __repr__(self) -> str:
        return f"FrozenClock({datetime.fromtimestamp(self._now, UTC).isoformat()})"
