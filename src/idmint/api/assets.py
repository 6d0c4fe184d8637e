"""Static assets, served from memory: the browser SDK and the API's own documentation page.

Each asset is read once, at start, and answered with a strong ``ETag`` (a ``304`` to a
matching ``If-None-Match``).  The browser SDK has two URLs: the stable ``/sdk/idmint.js``,
cached briefly, and ``/sdk/idmint.<hash>.js``, named by its content and cached for a year as
immutable; the stable answer names the other in ``Content-Location``.  ``/docs`` renders the
OpenAPI document with Swagger UI from the pinned ``swagger-ui-bundle`` package, never a CDN,
so it works offline, and with no inline script.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from idmint.api.bodies import BodyRoute
from idmint.api.schemas import ErrorEnvelope
from idmint.jose.errors import NotFoundError

__all__ = ["HTML_HEADERS", "Asset", "router", "sdk"]

STATIC = Path(__file__).resolve().parents[1] / "static"
SDK_MAX_AGE: Final = 300  # the stable URL: a new release reaches browsers within 5 minutes
IMMUTABLE: Final = "public, max-age=31536000, immutable"
# What /docs loads from the package: the only files of swagger-ui-bundle that are served.
_SWAGGER_FILES: Final = ("swagger-ui.css", "swagger-ui-bundle.js")

_DOCS_PAGE: Final = b"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>idmint API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/docs.js"></script>
</body>
</html>
"""


@dataclass(frozen=True, slots=True)
class Asset:
    """A file's bytes, its media type and its strong ETag."""

    body: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return _digest(self.body)

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'

    def response(self, request: Request, cache_control: str, **headers: str) -> Response:
        """The asset, or ``304 Not Modified`` when the client holds this version."""
        common = {"ETag": self.etag, "Cache-Control": cache_control, **headers}
        if self.etag in _etags(request.headers.get("if-none-match", "")):
            return Response(status_code=304, headers=common)
        return Response(self.body, media_type=self.media_type, headers=common)

    @classmethod
    def read(cls, path: Path) -> Asset:
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if media_type in {"application/javascript", "text/javascript"}:
            media_type = "text/javascript"
        return cls(path.read_bytes(), media_type)


@cache
def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


def _etags(header: str) -> set[str]:
    # If-None-Match lists ETags separated by commas; a weak one (W/"...") matches a strong one
    # with the same opaque value for GET (RFC 9110 §13.1.2 uses the weak comparison).
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


@cache
def sdk() -> Asset | None:
    """The browser SDK (None when the server was installed without it)."""
    path = STATIC / "idmint.js"
    return Asset.read(path) if path.is_file() else None


@cache
def _docs_assets() -> dict[str, Asset]:
    from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

    found = {name: Asset.read(Path(swagger_ui_path) / name) for name in _SWAGGER_FILES}
    found["docs.js"] = Asset.read(STATIC / "docs.js")
    return found


def _sdk_or_404() -> Asset:
    asset = sdk()
    if asset is None:
        raise NotFoundError("The browser SDK is not installed with this server.")
    return asset


router = APIRouter(tags=["assets"], route_class=BodyRoute)

_SDK_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {"content": {"text/javascript": {}}, "description": "The browser SDK."},
    304: {"description": "Not modified: the client's copy (If-None-Match) is current."},
    404: {"model": ErrorEnvelope, "description": "NOT_FOUND"},
}


@router.get(
    "/sdk/idmint.js",
    response_class=Response,
    responses=_SDK_RESPONSES,
    summary="The browser SDK (one ES module)",
)
def sdk_latest(request: Request) -> Response:
    """``import { createClient } from "/sdk/idmint.js"``: see docs/sdk-browser.md.  Cached for
    five minutes; ``Content-Location`` names this version's immutable URL."""
    asset = _sdk_or_404()
    return asset.response(
        request,
        f"public, max-age={SDK_MAX_AGE}",
        **{"Content-Location": f"/sdk/idmint.{asset.digest}.js"},
    )


@router.get(
    "/sdk/idmint.{digest}.js",
    response_class=Response,
    responses=_SDK_RESPONSES,
    summary="The browser SDK at one version, by its content hash (immutable)",
)
def sdk_versioned(digest: str, request: Request) -> Response:
    """The SDK under a URL named by its content: cacheable for a year.  A hash that is not
    this server's version is ``not_found``."""
    asset = _sdk_or_404()
    if digest != asset.digest:
        raise NotFoundError(
            f"This server's SDK is /sdk/idmint.{asset.digest}.js, not idmint.{digest[:64]}.js."
        )
    return asset.response(request, IMMUTABLE)


#: What every HTML page of idmint's says to the browser: its own scripts only (no inline
#: script, so an injected one does not run), never in a frame, no referrer sent on.
HTML_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@router.get("/docs", include_in_schema=False)
def docs_page() -> Response:
    """Swagger UI over ``/openapi.json``."""
    return Response(_DOCS_PAGE, media_type="text/html; charset=utf-8", headers=HTML_HEADERS)


@router.get("/docs/assets/{name}", include_in_schema=False)
def docs_asset(name: str, request: Request) -> Response:
    """The files ``/docs`` loads, from the pinned swagger-ui-bundle package."""
    asset = _docs_assets().get(name)
    if asset is None:
        raise NotFoundError(f"No documentation asset {name[:64]!r}.")
    return asset.response(request, "public, max-age=86400")
