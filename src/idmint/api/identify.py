"""``POST /v1/identify``: the client proves who its user is with a minted token; and
``POST /v1/sign-out``, which ends the session identify started."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from idmint.api._common import client_of, errors, fast_route, json_response, service_of
from idmint.api.bodies import BodyRoute, parse_body
from idmint.api.schemas import (
    IdentifyRequest,
    IdentifyResponse,
    SignOutRequest,
    SignOutResponse,
)
from idmint.serializers import identify_json
from idmint.service import IdentifiedSession, Idmint
from idmint.service._pending import Pending

__all__ = ["router", "start_identify"]

router = APIRouter(tags=["identify"], route_class=BodyRoute)


def start_identify(
    service: Idmint, body: IdentifyRequest, origin: str | None, client: str | None
) -> Pending[IdentifiedSession]:
    """An identify, its writes submitted (the route and the fast path share it)."""
    return service.tokens.start_identify(
        body.apiKey,
        body.user.model_dump(exclude_none=True),
        body.authToken,
        origin=origin,
        client=client,
    )


async def _identify_fast(
    service: Idmint, body: bytes, headers: dict[bytes, bytes], client: str | None
) -> dict[str, Any]:
    origin = headers.get(b"origin")
    pending = start_identify(
        service,
        parse_body(IdentifyRequest, body),
        None if origin is None else origin.decode("latin-1"),
        client,
    )
    return identify_json(await pending.confirmed(), service.clock.now())


@router.post(
    "/v1/identify",
    response_model=IdentifyResponse,
    responses=errors(401, 403),
    summary="Identify a user with their token",
)
@fast_route(_identify_fast)
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
    service = service_of(request)
    session = start_identify(
        service, body, request.headers.get("origin"), client_of(request)
    ).result()
    return json_response(identify_json(session, service.clock.now()))


@router.post(
    "/v1/sign-out",
    response_model=SignOutResponse,
    responses=errors(403),
    summary="End a session that identify started",
)
def sign_out(body: SignOutRequest, request: Request) -> Response:
    """End the session ``sessionId`` (the browser SDK's ``signOut()``)."""
    ended = service_of(request).tokens.sign_out(
        body.apiKey, body.sessionId, origin=request.headers.get("origin")
    )
    return json_response({"signedOut": ended})
