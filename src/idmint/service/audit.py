"""The audit log: every mint, identify failure, credential change and revocation.

Events are buffered in memory and written in batches (by :meth:`AuditLog.flush`, which the
server calls from a background task and at shutdown), so the hot paths never wait on a write.
An event never holds a secret or a whole token: at most a token's ``jti`` and a key's ``kid``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from idmint.clock import Clock
from idmint.errors import IdmintError
from idmint.store import AuditEvent, Store

__all__ = ["AuditLog"]

logger = logging.getLogger("idmint.audit")

_FORBIDDEN_DETAIL_KEYS = frozenset({"token", "authToken", "secret", "password", "master_key"})


class AuditLog:
    """Buffers audit events and writes them to the store in batches.

    :param batch_size: a buffer this full is written at once by the recording call.
    """

    def __init__(self, store: Store, clock: Clock, *, batch_size: int = 10_000) -> None:
        self._store = store
        self._clock = clock
        self._batch_size = batch_size
        self._pending: list[dict[str, Any]] = []
        self._last_used: dict[str, float] = {}
        self._lock = threading.Lock()

    def record(
        self,
        action: str,
        *,
        workspace_id: str | None,
        actor: str,
        outcome: str = "success",
        reason_code: str | None = None,
        subject: str | None = None,
        **detail: Any,
    ) -> None:
        """Queue one event; ``detail`` must not carry secrets (checked)."""
        if leaked := _FORBIDDEN_DETAIL_KEYS & detail.keys():
            raise ValueError(f"audit detail may not carry {sorted(leaked)}")
        # A plain row, not an ORM object: building one is a few hundred nanoseconds on the hot
        # path, and the batch goes in as one multi-row INSERT.
        event = {
            "workspace_id": workspace_id,
            "at": self._clock.now(),
            "actor": _clean(actor),
            "action": action,
            "outcome": outcome,
            "reason_code": reason_code,
            "subject": None if subject is None else _clean(subject),
            "detail": detail,
        }
        with self._lock:
            self._pending.append(event)
            full = len(self._pending) >= self._batch_size
        if full:
            self.flush()

    def credential_used(self, auth_token_id: str) -> None:
        """Note an auth token's last use; written with the next batch."""
        with self._lock:
            self._last_used[auth_token_id] = self._clock.now()

    def flush(self) -> int:
        """Write what is buffered; returns the number of events written."""
        with self._lock:
            events, self._pending = self._pending, []
            last_used, self._last_used = self._last_used, {}
        written = len(events)
        if events:
            try:
                self._store.insert_rows(AuditEvent, events)
            except IdmintError:
                # One unstorable event must not lose the batch: write them one by one.
                written = 0
                for event in events:
                    try:
                        self._store.insert_rows(AuditEvent, [event])
                        written += 1
                    except IdmintError:
                        logger.exception(
                            "audit event dropped: %s %s", event["action"], event["outcome"]
                        )
        self._store.touch_auth_tokens(last_used)
        return written

    @property
    def pending(self) -> int:
        return len(self._pending)


def _clean(text: str) -> str:
    """Who/what as the log keeps it: at most 256 characters, control characters escaped."""
    if len(text) <= 256 and text.isprintable():
        return text  # the usual case, without a pass over every character in Python
    # Cut after escaping too: an escape is four characters, and the column holds 256.
    escaped = "".join(char if char.isprintable() else f"\\x{ord(char):02x}" for char in text[:256])
    return escaped[:256]
