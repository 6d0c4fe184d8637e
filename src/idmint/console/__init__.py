"""The console: server-rendered pages at ``/console`` where a workspace's owners sign in,
see their workspaces and turn "Require JWT Token" on or off.

Pages are Jinja2 templates over the service layer (never the store).  Forms work without
JavaScript; every state-changing form carries the session's CSRF token, and a POST from
another origin is refused.  The session cookie is ``HttpOnly`` and ``SameSite=Strict``, and
``Secure`` with the ``__Host-`` prefix when the public URL is https.  Pages send the strict
CSP of every HTML page of idmint's (no inline script) and ``Cache-Control: no-store``.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from idmint.api._common import client_of, service_of
from idmint.console import auth_tokens as _auth_tokens  # noqa: F401 - registers its pages
from idmint.console import keys as _keys  # noqa: F401 - registers its pages
from idmint.console._shared import (
    HERE,
    Refused,
    checked,
    cookie_name,
    error_page,
    form,
    https,
    page,
    reader,
    router,
    see,
    signed_in_of,
    writer,
)
from idmint.jose.errors import IdmintError, RateLimitedError, SignInFailedError
from idmint.service.console_sessions import SignedIn

__all__ = ["router"]

# --- pages --------------------------------------------------------------------------------------


@router.get("")
async def home(request: Request) -> Response:
    signed_in = await signed_in_of(request)
    return see("/console/workspaces" if signed_in else "/console/sign-in")


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    if await signed_in_of(request) is not None:
        return see("/console/workspaces")
    return page("sign_in.html", title="Sign in")


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    service = service_of(request)
    try:
        fields = await form(request)
    except Refused as exc:
        return error_page(exc)
    email, password = fields.first("email"), fields.first("password")
    try:
        secret, _ = await run_in_threadpool(
            lambda: service.console.sign_in(
                email[:320],
                password[:1024],
                client=client_of(request),
                user_agent=request.headers.get("user-agent"),
            )
        )
    except RateLimitedError as exc:
        refused = page("sign_in.html", status=429, title="Sign in", email=email, error=exc.message)
        refused.headers["Retry-After"] = str(exc.retry_after or 60)
        return refused
    except (SignInFailedError, IdmintError) as exc:
        return page("sign_in.html", status=401, title="Sign in", email=email, error=exc.message)
    response = see("/console/workspaces")
    response.set_cookie(
        cookie_name(service),
        secret,
        httponly=True,
        samesite="strict",
        secure=https(service),
        path="/",
    )
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    service = service_of(request)
    try:
        await checked(request)
    except Refused as exc:
        if exc.status != 401:
            return error_page(exc)
    secret = request.cookies.get(cookie_name(service))
    if secret:
        await run_in_threadpool(lambda: service.console.sign_out(secret, client=client_of(request)))
    response = see("/console/sign-in")
    response.delete_cookie(cookie_name(service), path="/", secure=https(service))
    return response


@router.get("/workspaces")
async def workspaces(request: Request) -> Response:
    signed_in = await signed_in_of(request)
    if signed_in is None:
        return see("/console/sign-in")
    service = service_of(request)
    listed = await run_in_threadpool(service.console.workspaces, signed_in)
    return page("workspaces.html", title="Workspaces", signed_in=signed_in, workspaces=listed)


@router.get("/w/{api_key}")
async def overview(request: Request, api_key: str) -> Response:
    found = await reader(request, api_key)
    if isinstance(found, Response):
        return found
    signed_in, workspace = found
    service = service_of(request)
    return page(
        "overview.html",
        title=workspace.name,
        signed_in=signed_in,
        workspace=workspace,
        issuer=service.settings.issuer_for(workspace.api_key),
        base_url=service.settings.base_url,
    )


@router.get("/w/{api_key}/settings")
async def settings_page(request: Request, api_key: str) -> Response:
    found = await reader(request, api_key)
    if isinstance(found, Response):
        return found
    signed_in, workspace = found
    service = service_of(request)
    notice = {"on": "Require JWT Token is on.", "off": "Require JWT Token is off."}.get(
        request.query_params.get("changed", "")
    )
    return page(
        "settings.html",
        title=f"Settings · {workspace.name}",
        signed_in=signed_in,
        workspace=workspace,
        issuer=service.settings.issuer_for(workspace.api_key),
        may_write=service.console.can(signed_in, workspace.id, "write"),
        notice=notice,
    )


@router.post("/w/{api_key}/settings/require-jwt")
async def set_require_jwt(request: Request, api_key: str) -> Response:
    service = service_of(request)
    signed_in: SignedIn | None = None
    try:
        signed_in, fields, workspace = await writer(request, api_key)
        state = fields.first("state")
        if state not in ("on", "off"):
            raise Refused(400, "Say on or off.")
        if state == "off" and fields.first("confirm") != "yes":
            raise Refused(400, "Confirm that you turn development mode on.")
    except Refused as exc:
        return error_page(exc, signed_in)
    actor = service.console.actor(signed_in.account)
    await run_in_threadpool(
        lambda: service.workspaces.update_settings(
            workspace.api_key, actor=actor, require_jwt=state == "on"
        )
    )
    return see(f"/console/w/{workspace.api_key}/settings?changed={state}")


@router.get("/static/console.css")
def stylesheet() -> Response:
    return FileResponse(
        HERE / "static" / "console.css",
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
