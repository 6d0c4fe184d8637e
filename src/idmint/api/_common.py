"""Helpers shared by the route modules: JSON responses, times, documented error statuses."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from idmint.api.schemas import ErrorEnvelope
from idmint.serializers import iso
from idmint.service import Idmint

__all__ = ["errors", "iso", "json_response", "service"]

_DESCRIPTIONS = {
    400: "INVALID_ARGUMENT: a field is missing, empty, malformed or unknown.",
    401: "UNAUTHENTICATED: credentials or token missing or not valid.",
    403: "PERMISSION_DENIED: the credentials may not do this, or the identity does not match.",
    404: "NOT_FOUND: no such workspace, user or record.",
    405: "The route does not take this method.",
    409: "FAILED_PRECONDITION: the record already exists.",
    413: "The request body is too large.",
    503: "UNAVAILABLE: the store cannot be reached.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses (always with 400, 413 and 503)."""
    wanted = sorted({400, 413, 503, *statuses})
    return {
        status: {"model": ErrorEnvelope, "description": _DESCRIPTIONS[status]} for status in wanted
    }


def json_response(
    body: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body), status_code=status_code, media_type="application/json", headers=headers
    )


def service(request: Request) -> Idmint:
    """The application's :class:`~idmint.service.Idmint`."""
    idmint: Idmint = request.app.state.idmint
    return idmint
