"""The console: server-rendered pages at ``/console`` where a workspace's owners sign in,
see their workspaces and turn "Require JWT Token" on or off.

Pages are Jinja2 templates over the service layer (never the store).  Forms work without
JavaScript; every state-changing form carries the session's CSRF token, and a POST from
another origin is refused.  The session cookie is ``HttpOnly`` and ``SameSite=Strict``, and
``Secure`` with the ``__Host-`` prefix when the public URL is https.  Pages send the strict
CSP of every HTML page of idmint's (no inline script) and ``Cache-Control: no-store``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from idmint.api._common import client_of, service_of
from idmint.api.assets import HTML_HEADERS
from idmint.jose.errors import (
    ApiKeyNotFoundError,
    IdmintError,
    NotFoundError,
    RateLimitedError,
    SignInFailedError,
    WorkspaceNotFoundError,
)
from idmint.serializers import iso, parse_iso
from idmint.service import Idmint
from idmint.service.console_sessions import SignedIn

__all__ = ["router"]

_HERE = Path(__file__).parent
_TEMPLATES = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)
_MAX_FORM_BYTES = 16_384
_PAGE_HEADERS = {**HTML_HEADERS, "Cache-Control": "no-store"}

router = APIRouter(prefix="/console", include_in_schema=False)


class _Refused(Exception):
    """A console request answered with an error page."""

    def __init__(self, status: int, title: str) -> None:
        super().__init__(title)
        self.status = status
        self.title = title


def _cookie_name(service: Idmint) -> str:
    return "__Host-idmint_console" if _https(service) else "idmint_console"


def _https(service: Idmint) -> bool:
    return service.settings.base_url.startswith("https://")


def _page(
    template: str, *, status: int = 200, signed_in: SignedIn | None = None, **values: Any
) -> Response:
    html = _TEMPLATES.get_template(template).render(signed_in=signed_in, **values)
    return Response(html, status_code=status, media_type="text/html", headers=_PAGE_HEADERS)


def _error_page(exc: _Refused, signed_in: SignedIn | None = None) -> Response:
    return _page("error.html", status=exc.status, title=exc.title, signed_in=signed_in)


def _see(path: str) -> Response:
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})


async def _signed_in(request: Request) -> SignedIn | None:
    service = service_of(request)
    secret = request.cookies.get(_cookie_name(service))
    if not secret or len(secret) > 256:
        return None
    return await run_in_threadpool(service.console.session, secret)


class _Form(dict[str, list[str]]):
    """A posted form: every value of each field."""

    def first(self, name: str) -> str:
        values = self.get(name)
        return values[0] if values else ""


async def _form(request: Request) -> _Form:
    """The fields of a form post (urlencoded, UTF-8), from this origin only.

    :raises _Refused: 403 for another origin, 400 for a body that is no form.
    """
    service = service_of(request)
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        mine = urlsplit(service.settings.base_url)
        theirs = urlsplit(origin)
        if (theirs.scheme, theirs.netloc) != (mine.scheme, mine.netloc) and theirs.netloc != (
            request.headers.get("host")
        ):
            raise _Refused(403, "This form was posted from another site.")
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise _Refused(403, "This form was posted from another site.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            raise _Refused(413, "The form is too large.")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise _Refused(400, "The form is not UTF-8.") from None
    return _Form(fields)


async def _checked(request: Request) -> tuple[SignedIn, _Form]:
    """The signed-in caller and its form, its CSRF token checked.

    :raises _Refused: 401 without a session, 403 for a wrong or missing CSRF token.
    """
    fields = await _form(request)
    signed_in = await _signed_in(request)
    if signed_in is None:
        raise _Refused(401, "Your session has ended: sign in again.")
    if not service_of(request).console.check_csrf(signed_in, fields.first("csrf") or None):
        raise _Refused(403, "This form has expired or was not sent by the console.")
    return signed_in, fields


# --- pages --------------------------------------------------------------------------------------


@router.get("")
async def home(request: Request) -> Response:
    signed_in = await _signed_in(request)
    return _see("/console/workspaces" if signed_in else "/console/sign-in")


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    if await _signed_in(request) is not None:
        return _see("/console/workspaces")
    return _page("sign_in.html", title="Sign in")


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    service = service_of(request)
    try:
        fields = await _form(request)
    except _Refused as exc:
        return _error_page(exc)
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
        page = _page("sign_in.html", status=429, title="Sign in", email=email, error=exc.message)
        page.headers["Retry-After"] = str(exc.retry_after or 60)
        return page
    except (SignInFailedError, IdmintError) as exc:
        return _page("sign_in.html", status=401, title="Sign in", email=email, error=exc.message)
    response = _see("/console/workspaces")
    response.set_cookie(
        _cookie_name(service),
        secret,
        httponly=True,
        samesite="strict",
        secure=_https(service),
        path="/",
    )
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    service = service_of(request)
    try:
        await _checked(request)
    except _Refused as exc:
        if exc.status != 401:
            return _error_page(exc)
    secret = request.cookies.get(_cookie_name(service))
    if secret:
        await run_in_threadpool(lambda: service.console.sign_out(secret, client=client_of(request)))
    response = _see("/console/sign-in")
    response.delete_cookie(_cookie_name(service), path="/", secure=_https(service))
    return response


@router.get("/workspaces")
async def workspaces(request: Request) -> Response:
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see("/console/sign-in")
    service = service_of(request)
    listed = await run_in_threadpool(service.console.workspaces, signed_in)
    return _page("workspaces.html", title="Workspaces", signed_in=signed_in, workspaces=listed)


async def _workspace_for(request: Request, signed_in: SignedIn, api_key: str) -> Any:
    """The workspace, if the caller may read it (else 404: what it may not see, it does not
    learn exists)."""
    service = service_of(request)
    try:
        workspace = await run_in_threadpool(service.workspaces.get, api_key[:128])
    except (ApiKeyNotFoundError, WorkspaceNotFoundError, NotFoundError):
        raise _Refused(404, "No such workspace.") from None
    if not service.console.can(signed_in, workspace.id, "read"):
        raise _Refused(404, "No such workspace.")
    return workspace


@router.get("/w/{api_key}/settings")
async def settings_page(request: Request, api_key: str) -> Response:
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see("/console/sign-in")
    service = service_of(request)
    try:
        workspace = await _workspace_for(request, signed_in, api_key)
    except _Refused as exc:
        return _error_page(exc, signed_in)
    notice = {"on": "Require JWT Token is on.", "off": "Require JWT Token is off."}.get(
        request.query_params.get("changed", "")
    )
    return _page(
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
        signed_in, fields, workspace = await _writer(request, api_key)
        state = fields.first("state")
        if state not in ("on", "off"):
            raise _Refused(400, "Say on or off.")
        if state == "off" and fields.first("confirm") != "yes":
            raise _Refused(400, "Confirm that you turn development mode on.")
    except _Refused as exc:
        return _error_page(exc, signed_in)
    actor = service.console.actor(signed_in.account)
    await run_in_threadpool(
        lambda: service.workspaces.update_settings(
            workspace.api_key, actor=actor, require_jwt=state == "on"
        )
    )
    return _see(f"/console/w/{workspace.api_key}/settings?changed={state}")


def _when(seconds: float | None) -> str | None:
    return None if seconds is None else (iso(seconds) or "").replace("T", " ")[:16] + " UTC"


async def _tokens_page(
    request: Request, signed_in: SignedIn, workspace: Any, *, created: Any = None
) -> Response:
    service = service_of(request)
    tokens = await run_in_threadpool(service.workspaces.auth_tokens, workspace.api_key)
    return _page(
        "auth_tokens.html",
        status=201 if created is not None else 200,
        title=f"Auth tokens · {workspace.name}",
        signed_in=signed_in,
        workspace=workspace,
        tokens=tokens,
        created=created,
        when=_when,
        may_write=service.console.can(signed_in, workspace.id, "write"),
    )


@router.get("/w/{api_key}/auth-tokens")
async def auth_tokens_page(request: Request, api_key: str) -> Response:
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see("/console/sign-in")
    try:
        workspace = await _workspace_for(request, signed_in, api_key)
    except _Refused as exc:
        return _error_page(exc, signed_in)
    return await _tokens_page(request, signed_in, workspace)


async def _writer(request: Request, api_key: str) -> tuple[SignedIn, _Form, Any]:
    """The signed-in caller, its checked form and the workspace it may change.

    :raises _Refused: as :func:`_checked`; 404 for a workspace it may not see, 403 for one it
        may only read.
    """
    signed_in, fields = await _checked(request)
    workspace = await _workspace_for(request, signed_in, api_key)
    if not service_of(request).console.can(signed_in, workspace.id, "write"):
        raise _Refused(403, "Your role in this workspace may not change it.")
    return signed_in, fields, workspace


@router.post("/w/{api_key}/auth-tokens")
async def create_auth_token(request: Request, api_key: str) -> Response:
    service = service_of(request)
    try:
        signed_in, fields, workspace = await _writer(request, api_key)
        name = fields.first("name").strip()
        if not 1 <= len(name) <= 200:
            raise _Refused(400, "Give the token a name of 1 to 200 characters.")
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
    except _Refused as exc:
        return _error_page(exc)
    except IdmintError as exc:
        return _error_page(_Refused(400, exc.message))
    return await _tokens_page(request, signed_in, workspace, created=created)


@router.post("/w/{api_key}/auth-tokens/{token_id}/revoke")
async def revoke_auth_token(request: Request, api_key: str, token_id: str) -> Response:
    service = service_of(request)
    try:
        signed_in, fields, workspace = await _writer(request, api_key)
        if fields.first("confirm") != "yes":
            raise _Refused(400, "Confirm the revocation: the token stops minting at once.")
        await run_in_threadpool(
            lambda: service.workspaces.revoke_auth_token(
                workspace.api_key, token_id[:64], actor=service.console.actor(signed_in.account)
            )
        )
    except _Refused as exc:
        return _error_page(exc)
    except NotFoundError:
        return _error_page(_Refused(404, "No such auth token."))
    return _see(f"/console/w/{workspace.api_key}/auth-tokens")


@router.get("/static/console.css")
def stylesheet() -> Response:
    return FileResponse(
        _HERE / "static" / "console.css",
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
