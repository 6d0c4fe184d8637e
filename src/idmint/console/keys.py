"""The console's signing keys page (states and dates, rotate pre-published or now) and its
revocations page (the live denylist; revoke a user's, an organization's or one token)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from idmint.api._common import service_of
from idmint.console._shared import (
    Refused,
    error_page,
    page,
    reader,
    router,
    see,
    writer,
)
from idmint.jose.errors import IdmintError
from idmint.serializers import revocation_json, signing_key_json

_KINDS = ("user", "organization", "jti")


@router.get("/w/{api_key}/keys")
async def keys_page(request: Request, api_key: str) -> Response:
    found = await reader(request, api_key)
    if isinstance(found, Response):
        return found
    signed_in, workspace = found
    service = service_of(request)

    def described() -> list[dict[str, object]]:
        service.keys.maintain(workspace)
        return [
            signing_key_json(
                row,
                promotes_at=service.keys.promotes_at(row),
                retires_at=service.keys.retires_at(row),
            )
            for row in service.keys.keys(workspace)
        ]

    return page(
        "keys.html",
        title=f"Signing keys · {workspace.name}",
        signed_in=signed_in,
        workspace=workspace,
        keys=await run_in_threadpool(described),
        issuer=service.settings.issuer_for(workspace.api_key),
        may_write=service.console.can(signed_in, workspace.id, "write"),
    )


@router.post("/w/{api_key}/keys/rotate")
async def rotate(request: Request, api_key: str) -> Response:
    service = service_of(request)
    try:
        signed_in, fields, workspace = await writer(request, api_key)
        if fields.first("when") not in ("later", "now"):
            raise Refused(400, "Say when the new key signs: later or now.")
        now = fields.first("when") == "now"
        actor = service.console.actor(signed_in.account)
        await run_in_threadpool(lambda: service.keys.rotate(workspace, actor=actor, now=now))
    except Refused as exc:
        return error_page(exc)
    return see(f"/console/w/{workspace.api_key}/keys")


@router.get("/w/{api_key}/revocations")
async def revocations_page(request: Request, api_key: str) -> Response:
    found = await reader(request, api_key)
    if isinstance(found, Response):
        return found
    signed_in, workspace = found
    service = service_of(request)
    rows = await run_in_threadpool(service.revocations.live, workspace)
    return page(
        "revocations.html",
        title=f"Revocations · {workspace.name}",
        signed_in=signed_in,
        workspace=workspace,
        revocations=[revocation_json(row) for row in rows],
        may_write=service.console.can(signed_in, workspace.id, "write"),
    )


@router.post("/w/{api_key}/revocations")
async def revoke(request: Request, api_key: str) -> Response:
    service = service_of(request)
    try:
        signed_in, fields, workspace = await writer(request, api_key)
        kind, value = fields.first("kind"), fields.first("value").strip()
        if kind not in _KINDS:
            raise Refused(400, "Choose a user, an organization or one token.")
        if not 1 <= len(value) <= 256:
            raise Refused(400, "Give the userId, organizationId or jti to revoke.")
        reason = fields.first("reason").strip()[:500] or None
        actor = service.console.actor(signed_in.account)
        await run_in_threadpool(
            lambda: service.revocations.add(workspace, kind, value, actor=actor, reason=reason)
        )
    except Refused as exc:
        return error_page(exc)
    except IdmintError as exc:
        return error_page(Refused(400, exc.message))
    return see(f"/console/w/{workspace.api_key}/revocations")
