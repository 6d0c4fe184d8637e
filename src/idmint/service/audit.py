"""The audit log: every mint, identify failure, credential change and revocation.

Events are written by group commit (:mod:`idmint.store.commit`).  A request that succeeds puts
its event into the same unit as its other writes, so its answer waits for both
(:meth:`AuditLog.event`); an admin action waits for its own (:meth:`AuditLog.record`); the
event of a refused request is queued without anyone waiting (:meth:`AuditLog.queue`), and is
kept, however long the store is down, until it is written.  An event never holds a secret or
a whole token: at most a token's ``jti`` and a key's ``kid``.
"""

from __future__ import annotations

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

    def __init__(self, store: Store, clock: Clock, *, wait_seconds: float = 5.0) -> None:
        self._store = store
        self._clock = clock
        self._wait_seconds = wait_seconds

    def event(
        self,
        action: str,
        *,
        workspace_id: str | None,
        actor: str,
        outcome: str = "success",
        reason_code: str | None = None,
        subject: str | None = None,
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

    def credential_used(self, auth_token_id: str) -> None:
        """Note an auth token's last use; written with the next batch."""
        self._store.commits.touch(auth_token_id, self._clock.now())

    def flush(self) -> None:
        """Return once every event queued so far is committed."""
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
