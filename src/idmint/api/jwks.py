"""Per-workspace JWKS and OpenID discovery, for verifiers anywhere."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from idmint.api._common import errors, fast_route, json_response, service_of
from idmint.api.bodies import BodyRoute
from idmint.api.schemas import Discovery, Jwks
from idmint.jose.algorithms import ALGORITHMS
from idmint.jose.errors import ApiKeyNotFoundError, WorkspaceNotFoundError
from idmint.serializers import jwks_uri
from idmint.service import Idmint, Workspace

__all__ = ["cache_control", "router"]

router = APIRouter(tags=["jwks"], route_class=BodyRoute)


def _workspace(service: Idmint, api_key: str) -> Workspace:
    try:
        return service.workspaces.get(api_key)
    except ApiKeyNotFoundError:
        raise WorkspaceNotFoundError("No workspace has this API key.") from None


def cache_control(service: Idmint) -> str:
    """The JWKS and discovery documents' ``Cache-Control``."""
    return f"public, max-age={service.settings.jwks_max_age_seconds}"


def _cache_headers(service: Idmint) -> dict[str, str]:
    return {"Cache-Control": cache_control(service)}


def _jwks_document(service: Idmint, api_key: str) -> bytes:
    """The JWKS document, serialised once per key ring (the route and the fast path share it)."""
    return service.keys.for_workspace(_workspace(service, api_key)).jwks_json


def _jwks_fast(service: Idmint, api_key: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    return _jwks_document(service, api_key), [(b"cache-control", cache_control(service).encode())]


@router.get(
    "/w/{api_key}/.well-known/jwks.json",
    response_model=Jwks,
    responses=errors(404),
    summary="The workspace's public signing keys",
)
@fast_route(_jwks_fast)
def jwks(api_key: str, request: Request) -> Response:
    """Next, active and retiring keys: ``kty``, ``crv``/``x``/``y`` or ``n``/``e``, ``kid``,
    ``alg``, ``use``. Cacheable for ``IDMINT_JWKS_MAX_AGE_SECONDS``."""
    service = service_of(request)
    return Response(
        _jwks_document(service, api_key),
        media_type="application/json",
        headers=_cache_headers(service),
    )


@router.get(
    "/w/{api_key}/.well-known/openid-configuration",
    response_model=Discovery,
    responses=errors(404),
    summary="OpenID discovery for the workspace's issuer",
)
def discovery(api_key: str, request: Request) -> Response:
    """Where the keys are and which algorithms sign."""
    service = service_of(request)
    workspace = _workspace(service, api_key)
    issuer = service.settings.issuer_for(workspace.api_key)
    body = {
        "issuer": issuer,
        "jwks_uri": jwks_uri(issuer),
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
    return json_response(body, headers=_cache_headers(service))
