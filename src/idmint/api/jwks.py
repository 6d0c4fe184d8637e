"""Per-workspace JWKS and OpenID discovery, for verifiers anywhere."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from idmint.api._common import errors, json_response, service
from idmint.api.bodies import BodyRoute
from idmint.api.schemas import Discovery, Jwks
from idmint.jose.algorithms import ALGORITHMS
from idmint.jose.errors import ApiKeyNotFoundError, WorkspaceNotFoundError
from idmint.service import Idmint
from idmint.store import Workspace

__all__ = ["cache_control", "jwks_answer", "router"]

router = APIRouter(tags=["jwks"], route_class=BodyRoute)


def _workspace(idmint: Idmint, api_key: str) -> Workspace:
    try:
        return idmint.workspaces.get(api_key)
    except ApiKeyNotFoundError:
        raise WorkspaceNotFoundError("No workspace has this API key.") from None


def cache_control(idmint: Idmint) -> str:
    """The JWKS and discovery documents' ``Cache-Control``."""
    return f"public, max-age={idmint.settings.jwks_max_age_seconds}"


def _cache_headers(idmint: Idmint) -> dict[str, str]:
    return {"Cache-Control": cache_control(idmint)}


@router.get(
    "/w/{api_key}/.well-known/jwks.json",
    response_model=Jwks,
    responses=errors(404),
    summary="The workspace's public signing keys",
)
def jwks(api_key: str, request: Request) -> Response:
    """Next, active and retiring keys: ``kty``, ``crv``/``x``/``y`` or ``n``/``e``, ``kid``,
    ``alg``, ``use``. Cacheable for ``IDMINT_JWKS_MAX_AGE_SECONDS``."""
    idmint = service(request)
    return Response(
        jwks_answer(idmint, api_key), media_type="application/json", headers=_cache_headers(idmint)
    )


def jwks_answer(idmint: Idmint, api_key: str) -> bytes:
    """The JWKS document, serialised once per key ring (the route and the front share it)."""
    return idmint.keys.for_workspace(_workspace(idmint, api_key)).jwks_json


@router.get(
    "/w/{api_key}/.well-known/openid-configuration",
    response_model=Discovery,
    responses=errors(404),
    summary="OpenID discovery for the workspace's issuer",
)
def discovery(api_key: str, request: Request) -> Response:
    """Where the keys are and which algorithms sign."""
    idmint = service(request)
    workspace = _workspace(idmint, api_key)
    issuer = idmint.settings.issuer_for(workspace.api_key)
    body = {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "id_token_signing_alg_values_supported": sorted(ALGORITHMS),
        "subject_types_supported": ["public"],
        "response_types_supported": ["id_token"],
        "claims_supported": [
            "iss",
            "aud",
            "sub",
            "iat",
            "nbf",
            "exp",
            "jti",
            "organizationId",
            "email",
            "isAdmin",
        ],
    }
    return json_response(body, headers=_cache_headers(idmint))
