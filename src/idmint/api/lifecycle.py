"""Admin API for the token lifecycle: revocations, signing-key rotation and the audit log.

Same scheme as the rest of the admin API (``Authorization: Bearer``: the admin credential, or
an auth token of the workspace in the path).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from idmint.api._common import errors, json_response, service_of
from idmint.api.admin import AdminCaller, authorize
from idmint.api.admin_schemas import (
    AuditPage,
    KeyRotate,
    RevocationCreate,
    RevocationList,
    RevocationOut,
    SigningKeyList,
    SigningKeyOut,
)
from idmint.api.bodies import BodyRoute
from idmint.jose.errors import InvalidArgumentError
from idmint.serializers import audit_event_json, revocation_json, signing_key_json
from idmint.service import Idmint, SigningKeyRow

__all__ = ["router"]

router = APIRouter(
    prefix="/admin/v1/workspaces/{api_key}", tags=["lifecycle"], route_class=BodyRoute
)


@router.post(
    "/revocations",
    response_model=RevocationOut,
    status_code=201,
    responses=errors(401, 429, 403, 404),
)
def revoke(api_key: str, body: RevocationCreate, request: Request, caller: AdminCaller) -> Response:
    """Revoke one token by ``jti``, or every token of a user or an organization issued until now.

    identify then answers ``token_revoked`` for them: at once on this instance, within
    ``IDMINT_CREDENTIAL_CACHE_SECONDS`` on the others.  Their open sessions end.
    """
    service = service_of(request)
    workspace = authorize(service, caller, api_key)
    given = {
        kind: value
        for kind, value in (
            ("jti", body.jti),
            ("user", body.userId),
            ("organization", body.organizationId),
        )
        if value is not None
    }
    if len(given) != 1:
        raise InvalidArgumentError("Give exactly one of jti, userId, organizationId.", field="body")
    ((kind, value),) = given.items()
    row = service.revocations.add(workspace, kind, value, actor=caller.actor, reason=body.reason)
    return json_response(revocation_json(row), status_code=201)


@router.get("/revocations", response_model=RevocationList, responses=errors(401, 429, 403, 404))
def revocations(api_key: str, request: Request, caller: AdminCaller) -> Response:
    """The live denylist (entries are dropped once every token they name has expired)."""
    service = service_of(request)
    workspace = authorize(service, caller, api_key)
    rows = service.revocations.live(workspace)
    return json_response({"revocations": [revocation_json(row) for row in rows]})


@router.get("/audit", response_model=AuditPage, responses=errors(401, 429, 403, 404))
def audit(
    api_key: str,
    request: Request,
    caller: AdminCaller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[
        int | None, Query(ge=1, description="Page: events older than this id.")
    ] = None,
    action: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_.]+$")] = None,
    outcome: Annotated[str | None, Query(pattern=r"^(success|failure)$")] = None,
) -> Response:
    """Audit events of the workspace, newest first: every mint, identify failure, credential
    change, revocation and key rotation, with actor, outcome and reason code."""
    service = service_of(request)
    workspace = authorize(service, caller, api_key)
    events = service.audit.events(
        workspace.id, limit=limit, before_id=before, action=action, outcome=outcome
    )
    next_before = events[-1].id if len(events) == limit else None
    return json_response({"events": [audit_event_json(e) for e in events], "next": next_before})


def _key_out(service: Idmint, row: SigningKeyRow) -> dict[str, Any]:
    return signing_key_json(
        row, promotes_at=service.keys.promotes_at(row), retires_at=service.keys.retires_at(row)
    )


@router.get("/keys", response_model=SigningKeyList, responses=errors(401, 429, 403, 404))
def signing_keys(api_key: str, request: Request, caller: AdminCaller) -> Response:
    """The workspace's signing keys and where each is in its life (never private parts)."""
    service = service_of(request)
    workspace = authorize(service, caller, api_key)
    service.keys.maintain(workspace)
    return json_response({"keys": [_key_out(service, row) for row in service.keys.keys(workspace)]})


@router.post(
    "/keys/rotate",
    response_model=SigningKeyOut,
    status_code=201,
    responses=errors(401, 429, 403, 404),
)
def rotate_key(api_key: str, body: KeyRotate, request: Request, caller: AdminCaller) -> Response:
    """Start a signing-key rotation: a new key is published now and signs after
    ``IDMINT_KEY_PREPUBLISH_SECONDS``; the old key keeps verifying until its tokens expire.
    Answers the new (``next``) key; a rotation already under way answers its key."""
    service = service_of(request)
    workspace = authorize(service, caller, api_key)
    row = service.keys.rotate(workspace, actor=caller.actor, alg=body.alg, now=body.now)
    return json_response(_key_out(service, row), status_code=201)
