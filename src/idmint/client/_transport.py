"""How a client or remote verifier holds the ``httpx`` client it sends through: its own (closed
with it) or one passed in (left to whoever passed it)."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import httpx

from idmint.client._calls import USER_AGENT

__all__ = ["AsyncHttpClientOwner", "HttpClientOwner"]


def _refuse_both(transport: object, http_client: object) -> None:
    if transport is not None and http_client is not None:
        raise ValueError("Pass transport or http_client, not both.")


class HttpClientOwner:
    """Holds the ``httpx.Client`` to send through: a new one over ``transport`` (closed by
    :meth:`close`), or ``http_client`` (left to whoever passed it in).

    :raises ValueError: when both ``transport`` and ``http_client`` are given.
    """

    def __init__(
        self,
        http_client: httpx.Client | None,
        transport: httpx.BaseTransport | None,
        timeout: float,
    ) -> None:
        _refuse_both(transport, http_client)
        self._owns_client = http_client is None
        self._http = http_client or httpx.Client(
            timeout=timeout, transport=transport, headers={"User-Agent": USER_AGENT}
        )

    def close(self) -> None:
        """Release the connection pool (not an ``http_client`` that was passed in)."""
        if self._owns_client:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncHttpClientOwner:
    """:class:`HttpClientOwner` for an ``httpx.AsyncClient``: :meth:`aclose`, ``async with``."""

    def __init__(
        self,
        http_client: httpx.AsyncClient | None,
        transport: httpx.AsyncBaseTransport | None,
        timeout: float,
    ) -> None:
        _refuse_both(transport, http_client)
        self._owns_client = http_client is None
        self._http = http_client or httpx.AsyncClient(
            timeout=timeout, transport=transport, headers={"User-Agent": USER_AGENT}
        )

    async def aclose(self) -> None:
        """Release the connection pool (not an ``http_client`` that was passed in)."""
        if self._owns_client:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
