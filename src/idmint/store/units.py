"""A unit of writes: what one request writes, committed together by group commit
(:mod:`idmint.store.commit`) or not at all; and the spill file, where units nobody waits for
go when the store is down at close (or during an outage too long to keep them in memory),
for the next start to replay.

The spill file is JSON lines, one object per unit (``{"users": [[workspace id, user id,
columns, time], ...], "profiles": [[workspace id, user id, profile, time], ...], "sessions":
[row, ...], "audit": [row, ...]}``) and one of auth tokens' last-used times (``{"touches":
{token id: time}}``).  A file written by an earlier idmint must replay on this one
(tests/store/test_spill_format.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import orjson

from idmint.jose.errors import IdmintError
from idmint.store.rows import AuditRow, Profile, SessionRow, UserColumns

__all__ = ["Unit", "read_spill", "spill"]

logger = logging.getLogger("idmint.store")

# A unit's state; group commit moves it along (queued, in a transaction, answered).
QUEUED, INFLIGHT, DONE = 0, 1, 2


class Unit:
    """The writes of one request: committed together, or not at all.

    :param deadline: a :func:`time.monotonic` time after which the writes are withdrawn and the
        waiter answered :class:`UnavailableError` (if they are not in a transaction then);
        None for writes nobody waits on, kept until the store takes them.
    """

    __slots__ = (
        "_error",
        "_event",
        "_future",
        "_state",
        "audit",
        "deadline",
        "profiles",
        "sessions",
        "users",
    )

    def __init__(self, deadline: float | None = None) -> None:
        self.deadline = deadline
        # ((workspace id, user id), the columns to set, the time): upserts of trusted attributes.
        self.users: list[tuple[tuple[str, str], UserColumns, float]] = []
        # ((workspace id, user id), the profile, the time): identify's untrusted profile.
        self.profiles: list[tuple[tuple[str, str], Profile, float]] = []
        self.sessions: list[SessionRow] = []
        self.audit: list[AuditRow] = []
        # Group commit's (idmint.store.commit): the state, and how the waiter is answered.
        self._state = QUEUED
        self._error: IdmintError | None = None
        self._event: threading.Event | None = None
        self._future: asyncio.Future[None] | None = None

    def upsert_user(self, workspace_id: str, user_id: str, values: UserColumns, now: float) -> None:
        """Create the user or set ``values`` (columns of ``users``) on it."""
        self.users.append(((workspace_id, user_id), values, now))

    def upsert_profile(self, workspace_id: str, user_id: str, profile: Profile, now: float) -> None:
        """Replace the user's identify profile (untrusted; a table of its own)."""
        self.profiles.append(((workspace_id, user_id), profile, now))

    def add_session(self, row: SessionRow) -> None:
        self.sessions.append(row)

    def add_audit(self, row: AuditRow) -> None:
        self.audit.append(row)

    def __bool__(self) -> bool:
        return bool(self.users or self.profiles or self.sessions or self.audit)

    # --- the outcome ---------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self._state == DONE

    def outcome(self) -> None:
        """:raises IdmintError: why the unit was not committed (once it is done)."""
        if self._error is not None:
            raise self._error

    # --- as JSON, for the spill file -----------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The unit as plain JSON data (for the spill file)."""
        return {
            "users": [[*key, values, now] for key, values, now in self.users],
            "profiles": [[*key, profile, now] for key, profile, now in self.profiles],
            "sessions": self.sessions,
            "audit": self.audit,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Unit:
        unit = cls()
        for workspace_id, user_id, values, now in data.get("users", []):
            unit.upsert_user(workspace_id, user_id, values, now)
        for workspace_id, user_id, profile, now in data.get("profiles", []):
            unit.upsert_profile(workspace_id, user_id, profile, now)
        unit.sessions = list(data.get("sessions", []))
        # Spill files from before audit rows named the client have no client_address.
        unit.audit = [
            cast("AuditRow", {"client_address": None, **row}) for row in data.get("audit", [])
        ]
        return unit


def spill(spill_dir: Path | None, units: Sequence[Unit], touches: dict[str, float]) -> None:
    """Write what group commit could not commit to a new spill file in ``spill_dir`` (made
    0700), private (0600) and synced to disk, for the next start to replay; say so in the log,
    or that the writes are lost (no ``spill_dir``, or the file failed)."""
    # Only units nobody is still waiting on are worth keeping: a waiter answered 503 must
    # leave no write behind it.
    keep = [unit for unit in units if unit.deadline is None and unit]
    if not keep and not touches:
        return
    if spill_dir is None:
        logger.error("store unavailable at close: %d writes lost (no spill directory)", len(keep))
        return
    path = spill_dir / f"spill-{os.getpid()}-{time.time_ns()}.jsonl"
    try:
        spill_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            for unit in keep:
                file.write(orjson.dumps(unit.to_json()) + b"\n")
            if touches:
                file.write(orjson.dumps({"touches": touches}) + b"\n")
            file.flush()
            os.fsync(file.fileno())
    except OSError as exc:
        logger.error("store unavailable: %d writes lost, the spill file failed: %s", len(keep), exc)
        return
    logger.error(
        "store unavailable: %d writes spilled to %s, replayed at the next start", len(keep), path
    )


def read_spill(spill_dir: Path) -> Iterator[tuple[Path, list[Unit], dict[str, float]]]:
    """Each spill file in ``spill_dir``, claimed (renamed, so that two starting processes do
    not both replay it), with its units and last-used times.  The caller deletes the claimed
    path once they are committed."""
    if not spill_dir.is_dir():
        return
    for path in sorted(spill_dir.glob("spill-*.jsonl")):
        claimed = path.with_suffix(f".replaying-{os.getpid()}")
        try:
            path.rename(claimed)
        except FileNotFoundError:  # another process took it
            continue
        units: list[Unit] = []
        touches: dict[str, float] = {}
        for line in claimed.read_bytes().splitlines():
            if not line.strip():
                continue
            data = orjson.loads(line)
            if "touches" in data:
                touches.update(data["touches"])
            else:
                units.append(Unit.from_json(data))
        yield claimed, units, touches
