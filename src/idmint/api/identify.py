"""``POST /v1/identify``: the client proves who its user is with a minted token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from idmint.api._common import errors, iso, json_response, service
from idmint.api.bodies import BodyRoute
from idmint.api.schemas import (
    ErrorEnvelope,
    IdentifyRequest,
    IdentifyResponse,
    SignOutRequest,
    SignOutResponse,
)
from idmint.jose.errors import NotFoundError
from idmint.service import IdentifiedSession, Idmint
from idmint.service._pending import Pending

__all__ = ["identify_answer", "identify_reply", "router", "start_identify"]

router = APIRouter(tags=["identify"], route_class=BodyRoute)
SDK_PATH = Path(__file__).resolve().parents[1] / "static" / "idmint.js"


@router.post(
    "/v1/identify",
    response_model=IdentifyResponse,
    responses=errors(401, 403),
    summary="Identify a user with their token",
)
def identify(body: IdentifyRequest, request: Request) -> Response:
    """Start a session for ``user``, proven by ``authToken``.

    The token's signature, expiry, audience and revocation are checked; then ``userId`` must
    be the token's subject, and ``organizationId`` and ``email`` must equal the token's when
    it carries them (``user_mismatch``, ``organization_mismatch``, ``email_mismatch``); when it
    carries none, the client's are ignored.  With "Require JWT Token" on, no token is
    ``jwt_required``; with it off, identify works without a token and the session says
    ``"mode": "development"`` (unverified, never admin).  ``isAdmin`` in ``user`` is ignored:
    the session's admin flag is the token's.  identify never changes the user's trusted
    attributes; ``name``, ``photoUrl`` and other members are stored as the user's untrusted
    profile.  The answer comes once the session and profile are committed.
    """
    return json_response(identify_answer(service(request), body, request.headers.get("origin")))


def identify_answer(idmint: Idmint, body: IdentifyRequest, origin: str | None) -> dict[str, Any]:
    """The answer to identify, once its session and profile are committed (the FastAPI
    route's; the front waits on :func:`start_identify` without blocking a thread)."""
    return identify_reply(idmint, start_identify(idmint, body, origin).result())


def start_identify(
    idmint: Idmint, body: IdentifyRequest, origin: str | None
) -> Pending[IdentifiedSession]:
    """An identify, its writes submitted (the route and the front share it)."""
    return idmint.tokens.start_identify(
        body.apiKey, body.user.model_dump(exclude_none=True), body.authToken, origin=origin
    )


def identify_reply(idmint: Idmint, session: IdentifiedSession) -> dict[str, Any]:
    """The body of a successful identify."""
    return {
        "session": {
            "id": session.id,
            "user": session.user,
            "organizationId": session.organization_id,
            "isAdmin": session.is_admin,
            "expiresAt": iso(session.expires_at),
            # Fractional: a client schedules "expired" from it, so no rounding down.
            "expiresIn": round(max(0.0, session.expires_at - idmint.clock.now()), 3),
            "verified": session.verified,
            "mode": "jwt" if session.verified else "development",
        }
    }


@router.post(
    "/v1/sign-out",
    response_model=SignOutResponse,
    responses=errors(403),
    summary="End a session that identify started",
)
def sign_out(body: SignOutRequest, request: Request) -> Response:
    """End the session ``sessionId`` (the browser SDK's ``signOut()``)."""
    ended = service(request).tokens.sign_out(
        body.apiKey, body.sessionId, origin=request.headers.get("origin")
    )
    return json_response({"signedOut": ended})


@router.get(
    "/sdk/idmint.js",
    response_class=Response,
    responses={
        200: {"content": {"text/javascript": {}}, "description": "The browser SDK."},
        404: {"model": ErrorEnvelope, "description": "NOT_FOUND"},
    },
    summary="The browser SDK (one ES module)",
)
def sdk() -> Response:
    """``import { createClient } from "/sdk/idmint.js"``: see docs/sdk-browser.md."""
    if not SDK_PATH.is_file():
        raise NotFoundError("The browser SDK is not installed with this server.")
    return Response(
        SDK_PATH.read_bytes(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=300"},
    )
