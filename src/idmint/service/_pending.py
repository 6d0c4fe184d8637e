"""A use case's result whose writes are submitted to group commit but maybe not committed yet."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from idmint.jose.errors import IdmintError
from idmint.store import Store, Unit

__all__ = ["Pending"]

T = TypeVar("T")


@dataclass(slots=True)
class Pending(Generic[T]):
    """What a use case returns before its writes are committed: its caller answers only once
    :meth:`result` (or ``await`` :meth:`confirmed`) has returned — acknowledged means stored.

    :param committed: run once the writes are committed (drops what caches hold of them).
    :param refused: run with the error when they are not (records the failure).
    """

    value: T
    store: Store
    unit: Unit
    committed: Callable[[], None] | None = None
    refused: Callable[[IdmintError], None] | None = None

    def result(self) -> T:
        """Block until the writes are committed; the value.

        :raises IdmintError: why they were not (``email_taken``, ``unavailable``, ...).
        """
        try:
            self.store.commits.wait(self.unit)
        except IdmintError as exc:
            self._refused(exc)
            raise
        return self._committed()

    async def confirmed(self) -> T:
        """:meth:`result` for a coroutine, which the event loop runs on while it waits."""
        try:
            await self.store.commits.wait_async(self.unit)
        except IdmintError as exc:
            self._refused(exc)
            raise
        return self._committed()

    def _committed(self) -> T:
        if self.committed is not None:
            self.committed()
        return self.value

    def _refused(self, exc: IdmintError) -> None:
        if self.refused is not None:
            self.refused(exc)
