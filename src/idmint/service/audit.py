"""The audit log: every mint, identify failure, credential change and revocation, with the
client address the request came from.

Events are written by group commit (:mod:`idmint.store.commit`).  A request that succeeds puts
its event into the same unit as its other writes, so its answer waits for both
(:meth:`AuditLog.event`); an admin action waits for its own (:meth:`AuditLog.record`); the
event of a refused request is queued without anyone waiting (:meth:`AuditLog.queue`), and is
kept, however long the store is down, until it is written.  An event never holds a secret or
a whole token: at most a token's ``jti`` and a key's ``kid``.

Failures that anonymous traffic can cause without bound (identify failures, unknown API keys
and auth tokens) are not one row each: :meth:`AuditLog.failure` counts them per workspace,
action, code and minute, and each minute becomes one event with the count and the first and
last client address (written by the server's upkeep, and at close).  Events older than
``IDMINT_AUDIT_RETENTION_DAYS`` are purged.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from idmint.jose.clock import Clock
from idmint.store import AuditEvent, AuditRow, Store, Unit

__all__ = ["AuditLog"]

_FORBIDDEN_DETAIL_KEYS = frozenset({"token", "authToken", "secret", "password", "master_key"})


class AuditLog:
    """Builds audit events and has the store commit them.

    :param wait_seconds: how long :meth:`record` waits for its commit at most (the event is
        written later all the same).
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        wait_seconds: float = 5.0,
        retention_days: int = 90,
    ) -> None:
        self._store = store
        self._clock = clock
        self._wait_seconds = wait_seconds
        self._retention = retention_days * 86400.0
        # (workspace id, action, code, minute) -> [count, first address, last address]
        self._failures: dict[tuple[str | None, str, str, int], list[Any]] = {}
        self._lock = threading.Lock()

    def event(
        self,
        action: str,
        *,
        workspace_id: str | None,
        actor: str,
        outcome: str = "success",
        reason_code: str | None = None,
        subject: str | None = None,
        client: str | None = None,
        **detail: Any,
    ) -> AuditRow:
        """One event as a row, for a unit of writes; ``detail`` must not carry secrets
        (checked)."""
        if leaked := _FORBIDDEN_DETAIL_KEYS & detail.keys():
            raise ValueError(f"audit detail may not carry {sorted(leaked)}")
        # A plain row, not an ORM object: building one is a few hundred nanoseconds on the hot
        # path, and the batch goes in as one multi-row INSERT (or COPY).
        return {
            "workspace_id": workspace_id,
            "at": self._clock.now(),
            "actor": _clean(actor),
            "action": action,
            "outcome": outcome,
            "reason_code": reason_code,
            "subject": None if subject is None else _clean(subject),
            "detail": detail,
            "client_address": None if client is None else client[:64],
        }

    def record(self, action: str, **fields: Any) -> None:
        """Write one event and wait until it is committed (admin and CLI actions, whose
        answer says it happened).

        :raises UnavailableError: the store stayed out of reach for ``wait_seconds`` (the
            event stays queued, and is written once it is back).
        """
        unit = Unit(deadline=None)
        unit.add_audit(self.event(action, **fields))
        self._store.commits.wait(self._store.submit(unit), timeout=self._wait_seconds)

    def queue(self, action: str, **fields: Any) -> None:
        """Queue one event without waiting: the record of a refused request, written with the
        next batch (and kept until then, however long the store is down)."""
        unit = Unit(deadline=None)
        unit.add_audit(self.event(action, **fields))
        self._store.submit(unit)

    def failure(
        self, action: str, *, workspace_id: str | None, code: str, client: str | None
    ) -> None:
        """Count one failure of anonymous traffic (see the module docstring); written as one
        event per workspace, action, code and minute."""
        minute = int(self._clock.now() // 60)
        key = (workspace_id, action, code, minute)
        address = None if client is None else client[:64]
        with self._lock:
            entry = self._failures.get(key)
            if entry is None:
                self._failures[key] = [1, address, address]
            else:
                entry[0] += 1
                entry[2] = address

    def write_failures(self, *, everything: bool = False) -> int:
        """Queue the counted failures of every minute that is over (``everything``: of the
        current one too, at close) as events; returns how many."""
        now_minute = int(self._clock.now() // 60)
        with self._lock:
            done = [k for k in self._failures if everything or k[3] < now_minute]
            taken = [(k, self._failures.pop(k)) for k in done]
        if not taken:
            return 0
        unit = Unit(deadline=None)
        for (workspace_id, action, code, minute), (count, first, last) in taken:
            row = self.event(
                action,
                workspace_id=workspace_id,
                actor="anonymous",
                outcome="failure",
                reason_code=code,
                client=first,
                count=count,
                firstAddress=first,
                lastAddress=last,
                minute=minute * 60,
            )
            row["at"] = float(minute * 60)
            unit.add_audit(row)
        self._store.submit(unit)
        return len(taken)

    def purge(self) -> int:
        """Delete events older than the retention period; returns how many."""
        return self._store.purge_audit(self._clock.now() - self._retention)

    def credential_used(self, auth_token_id: str) -> None:
        """Note an auth token's last use; written with the next batch."""
        self._store.commits.touch(auth_token_id, self._clock.now())

    def flush(self) -> None:
        """Return once every event queued so far, and every failure counted so far, is
        committed."""
        self.write_failures(everything=True)
        self._store.drain()

    def events(
        self,
        workspace_id: str,
        *,
        limit: int = 100,
        before_id: int | None = None,
        action: str | None = None,
        outcome: str | None = None,
    ) -> Sequence[AuditEvent]:
        """The workspace's events, newest first, a page at a time (``before_id``: the last
        id of the previous page); what was queued a moment ago is part of the answer."""
        self.flush()
        return self._store.audit_events(
            workspace_id, limit=limit, before_id=before_id, action=action, outcome=outcome
        )


def _clean(text: str) -> str:
    """Who/what as the log keeps it: at most 256 characters, control characters escaped."""
    if len(text) <= 256 and text.isprintable():
        return text  # the usual case, without a pass over every character in Python
    # Cut after escaping too: an escape is four characters, and the column holds 256.
    escaped = "".join(char if char.isprintable() else f"\\x{ord(char):02x}" for char in text[:256])
    return escaped[:256]
