"""The application: FastAPI with idmint's routes behind the fast path, its lifespan (the
service opened at start, closed at stop) and the background upkeep."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from idmint import __version__
from idmint.api import admin, assets, identify, jwks, lifecycle, mint
from idmint.api._common import TrustedProxies
from idmint.api.errors import install_error_handlers
from idmint.api.fast import FastPath
from idmint.jose.clock import Clock
from idmint.service import Idmint
from idmint.settings import Settings

__all__ = ["create_app", "create_app_from_env"]

logger = logging.getLogger("idmint.api")

UPKEEP_SECONDS = 1.0
PURGE_SECONDS = 60.0  # expired denylist entries
MAINTAIN_SECONDS = 10.0  # key rotation steps


def create_app(
    settings: Settings, *, service: Idmint | None = None, clock: Clock | None = None
) -> FastAPI:
    """The idmint ASGI application.

    :param settings: the typed settings.
    :param service: an already open service (tests pass one); by default the app opens the
        store named by ``settings`` at startup and closes it at shutdown.  Startup fails, and
        the server with it, when there is no store (``idmint init`` makes one) or its master
        key cannot open the store's signing keys (see :meth:`Idmint.open`).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = service is None
        running = (
            service
            if service is not None
            else await run_in_threadpool(lambda: Idmint.open(settings, clock=clock, create=False))
        )
        app.state.service = running
        if owned:
            # Everything loaded so far (the libraries, the app, the caches' first fill) lives
            # as long as the process: keep it out of the collector's view.  A full collection
            # otherwise walks it all, a pause of 50-100 ms under load every few seconds.
            gc.collect()
            gc.freeze()
        flusher = asyncio.create_task(_upkeep(running))
        try:
            yield
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await flusher
            await run_in_threadpool(running.close if owned else running.flush)

    app = _App(
        title="idmint",
        version=__version__,
        summary="Mint short-lived signed user tokens; identify users with them; verify anywhere.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    if service is not None:
        app.state.service = service
    from idmint.console import router as console_router  # pages, outside the OpenAPI document

    routers = (
        mint.router,
        identify.router,
        jwks.router,
        admin.router,
        lifecycle.router,
        assets.router,
        console_router,
    )
    routes = [route for router in routers for route in router.routes]
    install_error_handlers(app, routes)
    app.state.trusted_proxies = TrustedProxies(settings.trusted_proxies)
    app.fast_path = FastPath(
        app.framework,
        routes,
        limit=settings.max_body_bytes,
        hsts=settings.base_url.startswith("https://"),
        trusted_proxies=app.state.trusted_proxies,
    )
    for router in routers:
        app.include_router(router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


class _App(FastAPI):
    """FastAPI behind idmint's :class:`~idmint.api.fast.FastPath`, which answers the hot
    routes before any of the framework's middleware runs and hands it everything else."""

    fast_path: FastPath

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        await self.fast_path(scope, receive, send)

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def create_app_from_env() -> FastAPI:
    """The application configured from ``IDMINT_*`` environment variables (uvicorn factory)."""
    return create_app(Settings())


async def _upkeep(service: Idmint) -> None:
    # Background upkeep: every second a checkpoint of SQLite's write-ahead log (kept out of
    # the commits that requests wait for) and the counted failures of the minutes that are
    # over; now and then key rotation steps; and every minute expired denylist entries and
    # audit events past their retention and console sessions ended a day ago dropped (no table outgrows its purpose).  Writes need nothing: group commit writes them as they come.
    loop = asyncio.get_running_loop()
    next_maintain = loop.time() + MAINTAIN_SECONDS
    next_purge = loop.time() + PURGE_SECONDS
    while True:
        await asyncio.sleep(UPKEEP_SECONDS)
        now = loop.time()
        try:
            await run_in_threadpool(service.checkpoint)
            service.audit.write_failures()  # the minutes that are over
            if now >= next_maintain:
                next_maintain = now + MAINTAIN_SECONDS
                await run_in_threadpool(_maintain_keys, service)
            if now >= next_purge:
                next_purge = now + PURGE_SECONDS
                await run_in_threadpool(service.revocations.purge)
                await run_in_threadpool(service.audit.purge)
                await run_in_threadpool(service.console.purge)
        except Exception:
            # The store may be down for a moment; upkeep must outlive it.
            logger.exception("background upkeep failed; retrying")


def _maintain_keys(service: Idmint) -> None:
    for workspace in service.workspaces.all():
        service.keys.maintain(workspace)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, without its 422 answers: idmint answers validation errors with 400."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary, routes=app.routes
    )
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            operation.get("responses", {}).pop("422", None)
    components = schema.get("components", {}).get("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    app.openapi_schema = schema
    return schema
