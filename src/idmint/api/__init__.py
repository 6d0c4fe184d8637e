"""The HTTP API: translates HTTP to the service layer and errors to the one envelope.

app = create_app(Settings())          # or: uvicorn --factory idmint.api:create_app_from_env
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from idmint import __version__
from idmint.api import admin, compat, identify, jwks, lifecycle
from idmint.api.errors import BodySizeLimit, BrowserCors, JsonBodies, install_error_handlers
from idmint.clock import Clock
from idmint.service import Idmint
from idmint.settings import Settings

__all__ = ["create_app", "create_app_from_env"]

logger = logging.getLogger("idmint.api")

AUDIT_FLUSH_SECONDS = 0.5
PURGE_EVERY_ROUNDS = 120  # once a minute
MAINTAIN_EVERY_ROUNDS = 20  # key rotation steps: every 10 s


def create_app(
    settings: Settings, *, idmint: Idmint | None = None, clock: Clock | None = None
) -> FastAPI:
    """The idmint ASGI application.

    :param settings: the typed settings.
    :param idmint: an already open service (tests pass one); by default the app opens the
        store named by ``settings`` at startup and closes it at shutdown.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = idmint is None
        service = (
            idmint
            if idmint is not None
            else await run_in_threadpool(lambda: Idmint.open(settings, clock=clock))
        )
        app.state.idmint = service
        flusher = asyncio.create_task(_flush_audit(service))
        try:
            yield
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await flusher
            await run_in_threadpool(service.close if owned else service.audit.flush)

    app = FastAPI(
        title="idmint",
        version=__version__,
        summary="Mint short-lived signed user tokens; identify users with them; verify anywhere.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    if idmint is not None:
        app.state.idmint = idmint
    routers = (compat.router, identify.router, jwks.router, admin.router, lifecycle.router)
    install_error_handlers(app, [route for router in routers for route in router.routes])
    app.add_middleware(JsonBodies)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    app.add_middleware(BrowserCors)
    for router in routers:
        app.include_router(router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def create_app_from_env() -> FastAPI:
    """The application configured from ``IDMINT_*`` environment variables (uvicorn factory)."""
    return create_app(Settings())


async def _flush_audit(service: Idmint) -> None:
    # Background upkeep: write buffered audit events often, drop expired denylist entries
    # now and then (the revocations table never outgrows the tokens that can still be used).
    rounds = 0
    while True:
        await asyncio.sleep(AUDIT_FLUSH_SECONDS)
        rounds += 1
        try:
            if service.audit.pending:
                await run_in_threadpool(service.audit.flush)
            if rounds % MAINTAIN_EVERY_ROUNDS == 0:
                await run_in_threadpool(_maintain_keys, service)
            if rounds % PURGE_EVERY_ROUNDS == 0:
                await run_in_threadpool(service.store.purge_revocations, service.clock.now())
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
