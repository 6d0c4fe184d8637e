"""The console's auth tokens page: list, create (the secret shown once), revoke."""

from __future__ import annotations

from typing import Any

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
    when,
    writer,
)
from idmint.jose.errors import IdmintError, NotFoundError
from idmint.serializers import parse_iso
from idmint.service.console_sessions import SignedIn


async def _tokens_page(
    request: Request, signed_in: SignedIn, workspace: Any, *, created: Any = None
) -> Response:
    service = service_of(request)
    tokens = await run_in_threadpool(service.workspaces.auth_tokens, workspace.api_key)
    return page(
        "auth_tokens.html",
        status=201 if created is not None else 200,
        title=f"Auth tokens · {workspace.name}",
        signed_in=signed_in,
        workspace=workspace,
        tokens=tokens,
        created=created,
        when=when,
        may_write=service.console.can(signed_in, workspace.id, "write"),
    )


@router.get("/w/{api_key}/auth-tokens")
async def auth_tokens_page(request: Request, api_key: str) -> Response:
    found = await reader(request, api_key)
    if isinstance(found, Response):
        return found
    signed_in, workspace = found
    return await _tokens_page(request, signed_in, workspace)


@router.post("/w/{api_key}/auth-tokens")
async def create_auth_token(request: Request, api_key: str) -> Response:
    service = service_of(request)
    try:
        signed_in, fields, workspace = await writer(request, api_key)
        name = fields.first("name").strip()
        if not 1 <= len(name) <= 200:
            raise Refused(400, "Give the token a name of 1 to 200 characters.")
        expires = fields.first("expires")
        expires_at = parse_iso(f"{expires}T00:00:00Z", field="expires") if expires else None
        created = await run_in_threadpool(
            lambda: service.workspaces.create_auth_token(
                workspace.api_key,
                name,
                actor=service.console.actor(signed_in.account),
                expires_at=expires_at,
                scopes=tuple(fields.get("scope", [])),
            )
        )
    except Refused as exc:
        return error_page(exc)
    except IdmintError as exc:
        return error_page(Refused(400, exc.message))
    return await _tokens_page(request, signed_in, workspace, created=created)


@router.post("/w/{api_key}/auth-tokens/{token_id}/revoke")
async def revoke_auth_token(request: Request, api_key: str, token_id: str) -> Response:
    service = service_of(request)
    try:
        signed_in, fields, workspace = await writer(request, api_key)
        if fields.first("confirm") != "yes":
            raise Refused(400, "Confirm the revocation: the token stops minting at once.")
        await run_in_threadpool(
            lambda: service.workspaces.revoke_auth_token(
                workspace.api_key, token_id[:64], actor=service.console.actor(signed_in.account)
            )
        )
    except Refused as exc:
        return error_page(exc)
    except NotFoundError:
        return error_page(Refused(404, "No such auth token."))
    return see(f"/console/w/{workspace.api_key}/auth-tokens")
