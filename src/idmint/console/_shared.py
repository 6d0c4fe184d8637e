"""What the console's pages share: the router, templates, sessions, forms and refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from idmint.api._common import service_of
from idmint.api.assets import HTML_HEADERS
from idmint.jose.errors import ApiKeyNotFoundError, NotFoundError, WorkspaceNotFoundError
from idmint.serializers import iso
from idmint.service import Idmint
from idmint.service.console_sessions import SignedIn

HERE = Path(__file__).parent
_TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)
_MAX_FORM_BYTES = 16_384
_PAGE_HEADERS = {**HTML_HEADERS, "Cache-Control": "no-store"}

router = APIRouter(prefix="/console", include_in_schema=False)


class Refused(Exception):
    """A console request answered with an error page."""

    def __init__(self, status: int, title: str) -> None:
        super().__init__(title)
        self.status = status
        self.title = title


def cookie_name(service: Idmint) -> str:
    return "__Host-idmint_console" if https(service) else "idmint_console"


def https(service: Idmint) -> bool:
    return service.settings.base_url.startswith("https://")


def page(
    template: str, *, status: int = 200, signed_in: SignedIn | None = None, **values: Any
) -> Response:
    html = _TEMPLATES.get_template(template).render(signed_in=signed_in, **values)
    return Response(html, status_code=status, media_type="text/html", headers=_PAGE_HEADERS)


def error_page(exc: Refused, signed_in: SignedIn | None = None) -> Response:
    return page("error.html", status=exc.status, title=exc.title, signed_in=signed_in)


def see(path: str) -> Response:
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})


async def signed_in_of(request: Request) -> SignedIn | None:
    service = service_of(request)
    secret = request.cookies.get(cookie_name(service))
    if not secret or len(secret) > 256:
        return None
    return await run_in_threadpool(service.console.session, secret)


class Form(dict[str, list[str]]):
    """A posted form: every value of each field."""

    def first(self, name: str) -> str:
        values = self.get(name)
        return values[0] if values else ""


async def form(request: Request) -> Form:
    """The fields of a form post (urlencoded, UTF-8), from this origin only.

    :raises Refused: 403 for another origin, 400 for a body that is no form.
    """
    service = service_of(request)
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        mine = urlsplit(service.settings.base_url)
        theirs = urlsplit(origin)
        if (theirs.scheme, theirs.netloc) != (mine.scheme, mine.netloc) and theirs.netloc != (
            request.headers.get("host")
        ):
            raise Refused(403, "This form was posted from another site.")
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise Refused(403, "This form was posted from another site.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            raise Refused(413, "The form is too large.")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise Refused(400, "The form is not UTF-8.") from None
    return Form(fields)


async def checked(request: Request) -> tuple[SignedIn, Form]:
    """The signed-in caller and its form, its CSRF token checked.

    :raises Refused: 401 without a session, 403 for a wrong or missing CSRF token.
    """
    fields = await form(request)
    signed_in = await signed_in_of(request)
    if signed_in is None:
        raise Refused(401, "Your session has ended: sign in again.")
    if not service_of(request).console.check_csrf(signed_in, fields.first("csrf") or None):
        raise Refused(403, "This form has expired or was not sent by the console.")
    return signed_in, fields


async def workspace_for(request: Request, signed_in: SignedIn, api_key: str) -> Any:
    """The workspace, if the caller may read it (else 404: what it may not see, it does not
    learn exists)."""
    service = service_of(request)
    try:
        workspace = await run_in_threadpool(service.workspaces.get, api_key[:128])
    except (ApiKeyNotFoundError, WorkspaceNotFoundError, NotFoundError):
        raise Refused(404, "No such workspace.") from None
    if not service.console.can(signed_in, workspace.id, "read"):
        raise Refused(404, "No such workspace.")
    return workspace


def when(seconds: float | None) -> str | None:
    return None if seconds is None else (iso(seconds) or "").replace("T", " ")[:16] + " UTC"


async def reader(request: Request, api_key: str) -> tuple[SignedIn, Any] | Response:
    """The signed-in caller and the workspace it may read, or the answer to send instead:
    to sign-in without a session, the error page for a workspace it may not see."""
    signed_in = await signed_in_of(request)
    if signed_in is None:
        return see("/console/sign-in")
    try:
        return signed_in, await workspace_for(request, signed_in, api_key)
    except Refused as exc:
        return error_page(exc, signed_in)


async def writer(request: Request, api_key: str) -> tuple[SignedIn, Form, Any]:
    """The signed-in caller, its checked form and the workspace it may change.

    :raises Refused: as :func:`checked`; 404 for a workspace it may not see, 403 for one it
        may only read.
    """
    signed_in, fields = await checked(request)
    workspace = await workspace_for(request, signed_in, api_key)
    if not service_of(request).console.can(signed_in, workspace.id, "write"):
        raise Refused(403, "Your role in this workspace may not change it.")
    return signed_in, fields, workspace
