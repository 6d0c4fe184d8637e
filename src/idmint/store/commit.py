"""Group commit: the writes of many requests in one transaction, each request answered only
after its own writes are committed ("acknowledged means stored").

A request puts what it writes (a user's trusted attributes, an identify profile, a session,
its audit event) into one :class:`Unit` and submits it; one writer thread commits everything
queued as one transaction, and while it does, the next requests queue up for the next one.
So the commit cost is shared by every request of a batch, and no request waits for more than
the commit in flight plus its own.

The rules, each the answer to a way writes used to be lost:

- A unit is committed whole or not at all, and its waiter learns which.
- One failing row never costs another: a batch the database refuses is retried one unit at a
  time, in arrival order; the unit that fails gets the reason (``email_taken``, a value that
  cannot be stored), the others are written.
- A store outage requeues the batch and retries with backoff; nothing is dropped.  A unit
  whose request stops waiting (its deadline, ``IDMINT_COMMIT_TIMEOUT_SECONDS``) is withdrawn
  before it is answered ``unavailable``, so a 503 never leaves a write behind it.  Units with no
  deadline (audit events of refused requests, last-used times) wait for the store however long
  it takes.
- At close the queue is written; if the store is down then, what is left goes to a spill file
  that the next start replays (:mod:`idmint.store.units` has the unit and the file).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from idmint.jose.errors import IdmintError, UnavailableError
from idmint.store.units import DONE, INFLIGHT, QUEUED, Unit, spill

__all__ = ["GroupCommitter"]

logger = logging.getLogger("idmint.store")

MAX_BATCH_UNITS: Final = 5000  # one transaction holds at most this many requests' writes
MAX_BACKOFF_SECONDS: Final = 0.5
REAP_SECONDS: Final = 0.1  # how late past its deadline a waiter may be answered
KICK_WAIT_SECONDS: Final = 0.05  # the longest a loop's turn may hold its units back
CLOSE_GRACE_SECONDS: Final = 5.0  # how long close keeps retrying a down store before spilling
# Units without a deadline kept in memory during an outage; past this, the oldest are spilled.
MAX_QUEUED_DETACHED: Final = 100_000

WriteBatch = Callable[[Sequence[Unit], dict[str, float]], None]


class GroupCommitter:
    """Commits submitted units in batches from one writer thread (see the module docstring).

    :param write: writes the units and last-used times in ONE transaction, or raises
        :class:`UnavailableError` (the store cannot be reached: retry) or another
        :class:`IdmintError` (the database refused a row: the reason for the unit's waiter).
    :param spill_dir: where units left at close with the store down are written.
    """

    def __init__(
        self, write: WriteBatch, *, spill_dir: Path | None = None, name: str = "idmint-commit"
    ) -> None:
        self._write = write
        self._spill_dir = spill_dir
        self._name = name
        self._cond = threading.Condition()
        self._queue: list[Unit] = []
        self._touches: dict[str, float] = {}
        self._thread: threading.Thread | None = None
        self._reaper: threading.Thread | None = None
        # When the writer's current transaction began (None between transactions): a store
        # that hangs keeps it in one call, and then the reaper answers the expired waiters.
        self._writing_since: float | None = None
        self._closing = False
        self._closed = False
        self._close_by = 0.0
        self._outage_since: float | None = None
        self._kick_pending = False  # units from an event loop wait for the end of its turn

    # --- submitting and waiting ----------------------------------------------------------

    def submit(self, unit: Unit) -> Unit:
        """Queue ``unit`` for the next transaction; returns it, to wait on.

        :raises UnavailableError: after :meth:`close`.
        """
        loop = _running_loop()
        kick = False
        with self._cond:
            if self._closing:
                raise UnavailableError("The store is closing.")
            self._queue.append(unit)
            if loop is None:
                if len(self._queue) == 1:
                    self._cond.notify()
                return self._started(unit)
            # Made here, under the lock taken anyway, so that waiting needs none.
            unit._future = loop.create_future()
            if not self._kick_pending:
                # From an event loop: wake the writer once this turn of the loop is over, so
                # that one transaction holds every request the turn started.
                self._kick_pending = kick = True
            self._started(unit)
        if kick:
            loop.call_soon(self._kick)
        return unit

    def _started(self, unit: Unit) -> Unit:
        """With the lock held: start the writer if need be, and spill during a long outage."""
        if self._thread is None:
            self._start()
        elif len(self._queue) > MAX_QUEUED_DETACHED and self._outage_since is not None:
            self._spill_oldest_detached()
        return unit

    def _kick(self) -> None:
        with self._cond:
            self._kick_pending = False
            self._cond.notify()

    def touch(self, key: str, at: float) -> None:
        """Note a last-used time (an auth token's), written with the next batch."""
        with self._cond:
            if at > self._touches.get(key, 0.0):
                self._touches[key] = at
            if self._thread is None and not self._closing:
                self._start()
            if not self._queue:
                self._cond.notify()

    def wait(self, unit: Unit, timeout: float | None = None) -> None:
        """Block until ``unit`` is done: committed, refused, or (past its deadline, with the
        store out of reach) withdrawn.

        :param timeout: for a unit without a deadline: stop waiting after this long (the unit
            stays queued and is written when the store is back).
        :raises IdmintError: why it was not committed (:class:`UnavailableError` when the
            store stayed out of reach).
        """
        if unit._state != DONE:
            with self._cond:
                if unit._state != DONE and unit._event is None:
                    unit._event = threading.Event()
            if unit._event is not None and not unit._event.wait(timeout):
                raise UnavailableError("The store is unavailable; the write is queued.")
        unit.outcome()

    async def wait_async(self, unit: Unit) -> None:
        """:meth:`wait` for a coroutine: the event loop runs on while the unit is committed."""
        if unit._state != DONE:
            future = unit._future  # made at submit when submitted from this loop
            if future is None or future.get_loop() is not asyncio.get_running_loop():
                with self._cond:
                    if unit._state != DONE:
                        future = unit._future = asyncio.get_running_loop().create_future()
            if future is not None and unit._state != DONE:
                await future
        unit.outcome()

    def drain(self, timeout: float = 30.0) -> None:
        """Return once everything submitted before the call is committed.

        :raises UnavailableError: when that did not happen within ``timeout``.
        """
        barrier = self.submit(Unit(deadline=time.monotonic() + timeout))
        self.wait(barrier)

    @property
    def queued(self) -> int:
        """Units not committed yet."""
        return len(self._queue)

    # --- closing -------------------------------------------------------------------------

    def close(self) -> None:
        """Write what is queued and stop the writer.  If the store stays down for
        ``CLOSE_GRACE_SECONDS``, what is left goes to the spill file."""
        with self._cond:
            if self._closed:
                return
            self._closing = True
            self._close_by = time.monotonic() + CLOSE_GRACE_SECONDS
            self._cond.notify_all()
            thread = self._thread
            if thread is None and (self._queue or self._touches):
                self._start()
                thread = self._thread
        if thread is not None:
            thread.join()
        with self._cond:
            self._closed = True

    # --- the writer thread ---------------------------------------------------------------

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        self._reaper = threading.Thread(target=self._reap, name=f"{self._name}-reaper", daemon=True)
        self._reaper.start()

    def _reap(self) -> None:
        """Answer waiters whose deadline passed while the writer is stuck in one call (a store
        that hangs) or backing off (a store that is down): their units are withdrawn."""
        while not self._closed:
            time.sleep(REAP_SECONDS)
            since = self._writing_since
            if self._outage_since is None and (
                since is None or time.monotonic() - since < REAP_SECONDS
            ):
                continue
            now = time.monotonic()
            with self._cond:
                expired = [
                    unit
                    for unit in self._queue
                    if unit.deadline is not None and unit.deadline <= now and unit._state == QUEUED
                ]
                if expired:
                    gone = set(map(id, expired))
                    self._queue = [unit for unit in self._queue if id(unit) not in gone]
                    self._finish_locked(expired, UnavailableError("The store is unavailable."))
            if expired and self._outage_since is None and since is not None:
                self._outage_since = since
                logger.error(
                    "store unavailable: a transaction has waited %.1f s; requests waiting "
                    "longer than the commit timeout are answered 503",
                    time.monotonic() - since,
                )

    def _run(self) -> None:
        backoff = 0.0
        while True:
            with self._cond:
                # Wait for work, and while an event loop's turn is still adding to it (its
                # kick is due); the timeout is a safety net for a loop that stopped.
                while (
                    not (self._queue or self._touches) or self._kick_pending
                ) and not self._closing:
                    if not self._cond.wait(KICK_WAIT_SECONDS) and self._kick_pending:
                        self._kick_pending = False
                if backoff:
                    self._cond.wait(backoff)  # woken early only by close
                batch = self._take()
                touches, self._touches = self._touches, {}
                if not batch and not touches and self._closing and not self._queue:
                    return
            if not batch and not touches:
                continue
            try:
                self._writing_since = time.monotonic()
                self._write(batch, touches)
            except UnavailableError as exc:
                backoff = min(MAX_BACKOFF_SECONDS, backoff * 2 or 0.01)
                if self._failed(batch, touches, exc):
                    return
                continue
            except IdmintError:
                # One unit's row is refused: retry one at a time, so only it fails.
                if self._one_by_one(batch, touches):
                    return
            except Exception as exc:  # a bug, not the data: fail the batch, keep running
                logger.exception("group commit: the batch could not be written")
                self._finish(batch, IdmintError(f"The write failed: {type(exc).__name__}."))
            else:
                self._finish(batch, None)
            finally:
                self._writing_since = None
            backoff = 0.0
            self._recovered()

    def _take(self) -> list[Unit]:
        """The next batch (called with the lock held): units are marked in flight; expired
        ones are answered unavailable and never written."""
        now = time.monotonic()
        batch: list[Unit] = []
        expired: list[Unit] = []
        rest = 0
        for index, unit in enumerate(self._queue):
            if len(batch) >= MAX_BATCH_UNITS:
                rest = index
                break
            if unit.deadline is not None and unit.deadline <= now:
                expired.append(unit)
            else:
                unit._state = INFLIGHT
                batch.append(unit)
        else:
            rest = len(self._queue)
        self._queue = self._queue[rest:]
        if expired:
            self._finish_locked(expired, UnavailableError("The store is unavailable."))
        return batch

    def _one_by_one(self, batch: list[Unit], touches: dict[str, float]) -> bool:
        written: list[Unit] = []
        for index, unit in enumerate(batch):
            try:
                self._write([unit], touches if index == 0 else {})
            except UnavailableError as exc:
                self._finish(written, None)
                return self._failed(batch[index:], touches if index == 0 else {}, exc)
            except IdmintError as exc:
                logger.warning(
                    "group commit: a request's writes were refused (%s): %s", exc.code, exc.message
                )
                self._finish([unit], exc)
                if index == 0 and touches:
                    self._requeue([], touches)
            else:
                written.append(unit)
        self._finish(written, None)
        return False

    def _failed(self, batch: list[Unit], touches: dict[str, float], exc: UnavailableError) -> bool:
        """An outage: requeue, or at close past the grace, spill.  True: the writer stops."""
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            logger.error("store unavailable, writes are queued and retried: %s", exc.message)
        with self._cond:
            self._requeue_locked(batch, touches)
            if not (self._closing and time.monotonic() >= self._close_by):
                return False
            left, self._queue = self._queue, []
            touches, self._touches = self._touches, {}
        spill(self._spill_dir, left, touches)
        self._finish(left, UnavailableError("The store is unavailable."))
        return True

    def _recovered(self) -> None:
        if self._outage_since is not None:
            lasted = time.monotonic() - self._outage_since
            self._outage_since = None
            logger.warning("store available again after %.1f s; queued writes committed", lasted)

    def _requeue(self, batch: list[Unit], touches: dict[str, float]) -> None:
        with self._cond:
            self._requeue_locked(batch, touches)

    def _requeue_locked(self, batch: list[Unit], touches: dict[str, float]) -> None:
        for unit in batch:
            unit._state = QUEUED
        self._queue = batch + self._queue
        for key, at in touches.items():
            if at > self._touches.get(key, 0.0):
                self._touches[key] = at

    def _finish(self, units: list[Unit], error: IdmintError | None) -> None:
        if units:
            with self._cond:
                self._finish_locked(units, error)

    def _finish_locked(self, units: list[Unit], error: IdmintError | None) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for unit in units:
            # The error first: waiters read the state without the lock.
            unit._error = error
            unit._state = DONE
            if unit._event is not None:
                unit._event.set()
            if unit._future is not None:
                by_loop.setdefault(unit._future.get_loop(), []).append(unit._future)
        # One wake-up per event loop for the whole batch, not one per request.
        for loop, futures in by_loop.items():
            # A closed loop raises RuntimeError: nobody waits on these any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, futures)

    # --- spilling ------------------------------------------------------------------------

    def _spill_oldest_detached(self) -> None:
        """Called with the lock held during an outage: move the oldest units without a
        deadline to the spill file, so memory stays bounded and nothing is dropped."""
        keep: list[Unit] = []
        spilled: list[Unit] = []
        surplus = len(self._queue) - MAX_QUEUED_DETACHED // 2
        for unit in self._queue:
            if surplus > 0 and unit.deadline is None and unit._state == QUEUED:
                spilled.append(unit)
                surplus -= 1
            else:
                keep.append(unit)
        self._queue = keep
        spill(self._spill_dir, spilled, {})
        self._finish_locked(spilled, UnavailableError("The store is unavailable; spilled."))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)
