"""``POST /v1/identify``: the client proves who its user is with a minted token."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from idmint.api._common import errors, iso, json_response, service
from idmint.api.schemas import IdentifyRequest, IdentifyResponse

__all__ = ["router"]

router = APIRouter(tags=["identify"])


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
    it carries them (``user_mismatch``, ``organization_mismatch``, ``email_mismatch``).  With
    "Require JWT Token" on, no token is ``jwt_required``; with it off, identify works without a
    token and the session says ``"mode": "development"``.  ``isAdmin`` in ``user`` is ignored:
    the session's admin flag is the token's.
    """
    session = service(request).tokens.identify(
        body.apiKey, body.user.model_dump(exclude_none=True), body.authToken
    )
    return json_response(
        {
            "session": {
                "id": session.id,
                "user": session.user,
                "organizationId": session.organization_id,
                "isAdmin": session.is_admin,
                "expiresAt": iso(session.expires_at),
                "verified": session.verified,
                "mode": "jwt" if session.verified else "development",
            }
        }
    )
