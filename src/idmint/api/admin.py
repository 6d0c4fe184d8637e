"""The admin API: everything the console does, under one scheme (``Authorization: Bearer``).

The bearer is either the deployment's admin credential (``IDMINT_ADMIN_TOKEN``: every
workspace) or one of a workspace's auth tokens (that workspace only).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.responses import Response

from idmint.api._common import client_of, errors, json_response, service_of
from idmint.api.admin_schemas import (
    AdminUser,
    AuthTokenCreate,
    AuthTokenCreated,
    AuthTokenInfo,
    AuthTokenList,
    CreateUser,
    UpdateUser,
    UserList,
    WorkspaceCreate,
    WorkspaceCreated,
    WorkspaceList,
    WorkspaceOut,
    WorkspaceSettingsPatch,
)
from idmint.api.bodies import BodyRoute
from idmint.api.errors import BEARER_CHALLENGE, challenged
from idmint.jose.errors import (
    AdminRequiredError,
    ApiKeyNotFoundError,
    CredentialsMissingError,
    WorkspaceNotFoundError,
)
from idmint.serializers import auth_token_json, parse_iso, user_json, workspace_json
from idmint.service import Idmint, Workspace
from idmint.service.workspaces import Credential

__all__ = ["AdminCaller", "Caller", "authorize", "router"]

router = APIRouter(prefix="/admin/v1", tags=["admin"], route_class=BodyRoute)
_bearer = HTTPBearer(
    auto_error=False, description="The admin credential or a workspace auth token."
)


@dataclass(slots=True)
class Caller:
    """Who calls the admin API: the admin, or the holder of one workspace's auth token (its
    credential known once :func:`authorize` has checked it), from ``client``."""

    admin: bool
    actor: str
    secret: str
    client: str | None
    credential: Credential | None = None


def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    service = service_of(request)
    client = client_of(request)
    with challenged(BEARER_CHALLENGE):
        service.access.check_throttle(client, None)
        if credentials is None or not credentials.credentials:
            raise CredentialsMissingError(
                "Authorization: Bearer <admin token or auth token> required."
            )
    secret = credentials.credentials
    admin_token = service.settings.admin_token
    if admin_token is not None and hmac.compare_digest(
        secret.encode(), admin_token.get_secret_value().encode()
    ):
        return Caller(admin=True, actor="admin", secret=secret, client=client)
    return Caller(admin=False, actor="auth_token", secret=secret, client=client)


#: A route parameter that is the authenticated :class:`Caller`.
AdminCaller = Annotated[Caller, Depends(_caller)]


def authorize(service: Idmint, caller: AdminCaller, api_key: str) -> Workspace:
    """The workspace, if the caller may manage it: the admin, or an auth token of this
    workspace with the ``admin`` scope (then ``caller.actor`` names it).  Throttled and
    audited like the mint routes' credentials.

    :raises WorkspaceNotFoundError: for an unknown API key (404, as the path names a resource).
    :raises Challenge: a wrong auth token (401).
    :raises AuthTokenScopeError: an auth token without the ``admin`` scope (403).
    """
    try:
        if caller.admin:
            return service.workspaces.get(api_key)
        with challenged(BEARER_CHALLENGE):
            try:
                workspace, credential = service.access.authenticate(
                    api_key,
                    caller.secret,
                    scope="admin",
                    action="admin.auth",
                    client=caller.client,
                )
            except ApiKeyNotFoundError:  # the path names it: 404 for every credential
                raise WorkspaceNotFoundError("No workspace has this API key.") from None
    except ApiKeyNotFoundError:
        raise WorkspaceNotFoundError("No workspace has this API key.") from None
    caller.credential = credential
    caller.actor = credential.actor
    return workspace


def _require_admin(service: Idmint, caller: AdminCaller) -> None:
    if not caller.admin:
        error = AdminRequiredError("Only the admin credential may do this.")
        service.access.failed(error, api_key=None, action="admin.auth", client=caller.client)
        raise error


def _workspace_out(service: Idmint, workspace: Workspace) -> dict[str, Any]:
    return workspace_json(workspace, service.settings.issuer_for(workspace.api_key))


# --- workspaces ---------------------------------------------------------------------------------


@router.get("/workspaces", response_model=WorkspaceList, responses=errors(401, 429, 403))
def list_workspaces(request: Request, caller: AdminCaller) -> Response:
    """All workspaces (admin credential only)."""
    service = service_of(request)
    _require_admin(service, caller)
    return json_response(
        {"workspaces": [_workspace_out(service, w) for w in service.workspaces.all()]}
    )


@router.post(
    "/workspaces", response_model=WorkspaceCreated, status_code=201, responses=errors(401, 429, 403)
)
def create_workspace(body: WorkspaceCreate, request: Request, caller: AdminCaller) -> Response:
    """A new workspace with a signing key and a first auth token (admin credential only)."""
    service = service_of(request)
    _require_admin(service, caller)
    result = service.init_workspace(
        body.name, allow_existing=True, actor=caller.actor, scopes=tuple(body.scopes)
    )
    workspace = result.workspace
    if not body.requireJwt:
        workspace = service.workspaces.update_settings(
            workspace.api_key, actor="admin", require_jwt=False
        )
    return json_response(
        {
            "workspace": _workspace_out(service, workspace),
            "authToken": auth_token_json(result.auth_token.record),
            "secret": result.auth_token.secret,
        },
        status_code=201,
    )


@router.get(
    "/workspaces/{api_key}", response_model=WorkspaceOut, responses=errors(401, 429, 403, 404)
)
def get_workspace(api_key: str, request: Request, caller: AdminCaller) -> Response:
    """The workspace's settings."""
    service = service_of(request)
    return json_response(_workspace_out(service, authorize(service, caller, api_key)))


@router.patch(
    "/workspaces/{api_key}", response_model=WorkspaceOut, responses=errors(401, 429, 403, 404)
)
def update_workspace(
    api_key: str, body: WorkspaceSettingsPatch, request: Request, caller: AdminCaller
) -> Response:
    """Change settings: the "Require JWT Token" toggle, lifetimes, auto-create, allowed
    domains, the mint quota."""
    service = service_of(request)
    authorize(service, caller, api_key)
    workspace = service.workspaces.update_settings(
        api_key,
        actor=caller.actor,
        name=body.name,
        require_jwt=body.requireJwt,
        token_ttl_seconds=body.tokenTtlSeconds,
        min_ttl_seconds=body.minTtlSeconds,
        max_ttl_seconds=body.maxTtlSeconds,
        auto_create_users=body.autoCreateUsers,
        allowed_domains=body.allowedDomains,
        mint_rate_limit=body.mintRateLimit,
    )
    return json_response(_workspace_out(service, workspace))


# --- auth tokens ----------------------------------------------------------------------------


@router.get(
    "/workspaces/{api_key}/auth-tokens",
    response_model=AuthTokenList,
    responses=errors(401, 429, 403, 404),
)
def list_auth_tokens(api_key: str, request: Request, caller: AdminCaller) -> Response:
    """The workspace's auth tokens (never their secrets)."""
    service = service_of(request)
    authorize(service, caller, api_key)
    return json_response(
        {"authTokens": [auth_token_json(t) for t in service.workspaces.auth_tokens(api_key)]}
    )


@router.post(
    "/workspaces/{api_key}/auth-tokens",
    response_model=AuthTokenCreated,
    status_code=201,
    responses=errors(401, 429, 403, 404),
)
def create_auth_token(
    api_key: str, body: AuthTokenCreate, request: Request, caller: AdminCaller
) -> Response:
    """A new named auth token. Its secret is in this answer only."""
    service = service_of(request)
    authorize(service, caller, api_key)
    expires_at = None if body.expiresAt is None else parse_iso(body.expiresAt, field="expiresAt")
    created = service.workspaces.create_auth_token(
        api_key,
        body.name,
        actor=caller.actor,
        expires_at=expires_at,
        scopes=list(body.scopes),
        granted_by=caller.credential,
    )
    return json_response(
        {"authToken": auth_token_json(created.record), "secret": created.secret}, status_code=201
    )


@router.delete(
    "/workspaces/{api_key}/auth-tokens/{token_id}",
    response_model=AuthTokenInfo,
    responses=errors(401, 429, 403, 404),
)
def revoke_auth_token(
    api_key: str, token_id: str, request: Request, caller: AdminCaller
) -> Response:
    """Revoke an auth token: it stops minting at once."""
    service = service_of(request)
    authorize(service, caller, api_key)
    record = service.workspaces.revoke_auth_token(api_key, token_id, actor=caller.actor)
    return json_response(auth_token_json(record))


# --- users ----------------------------------------------------------------------------------


@router.get(
    "/workspaces/{api_key}/users", response_model=UserList, responses=errors(401, 429, 403, 404)
)
def list_users(
    api_key: str,
    request: Request,
    caller: AdminCaller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """Users by userId, a page at a time (``after`` = the previous page's ``next``)."""
    service = service_of(request)
    authorize(service, caller, api_key)
    users = service.users.list(api_key, limit=limit, after=after)
    profiles = service.users.profiles(api_key, users)
    next_after = users[-1].user_id if len(users) == limit else None
    return json_response(
        {"users": [user_json(u, profiles.get(u.user_id)) for u in users], "next": next_after}
    )


@router.post(
    "/workspaces/{api_key}/users",
    response_model=AdminUser,
    status_code=201,
    responses=errors(401, 429, 403, 404, 409),
)
def create_user(api_key: str, body: CreateUser, request: Request, caller: AdminCaller) -> Response:
    """Add a user (e.g. before minting by email with ``POST /api/v1/tokens``).  An email that
    another user holds is ``email_taken`` (409); ``name`` starts the user's profile."""
    service = service_of(request)
    authorize(service, caller, api_key)
    user = service.users.create(
        api_key,
        body.userId,
        actor=caller.actor,
        email=body.email,
        organization_id=body.organizationId,
        name=body.name,
        is_admin=body.isAdmin,
    )
    return json_response(user_json(user, service.users.profile(api_key, user.user_id)), 201)


@router.get(
    "/workspaces/{api_key}/users/{user_id:path}",
    response_model=AdminUser,
    responses=errors(401, 429, 403, 404),
)
def get_user(api_key: str, user_id: str, request: Request, caller: AdminCaller) -> Response:
    """One user: the trusted attributes, and the untrusted profile identify last stored."""
    service = service_of(request)
    authorize(service, caller, api_key)
    user = service.users.get(api_key, user_id)
    return json_response(user_json(user, service.users.profile(api_key, user_id)))


@router.patch(
    "/workspaces/{api_key}/users/{user_id:path}",
    response_model=AdminUser,
    responses=errors(401, 429, 403, 404, 409),
)
def update_user(
    api_key: str, user_id: str, body: UpdateUser, request: Request, caller: AdminCaller
) -> Response:
    """Change a user's trusted attributes: ``email``, ``organizationId`` (``null`` clears
    either) and ``isAdmin``; members left out stay as they are.  An email that another user
    holds is ``email_taken`` (409).  Tokens already minted keep what they carry."""
    service = service_of(request)
    authorize(service, caller, api_key)
    names = {"email": "email", "organizationId": "organization_id", "isAdmin": "is_admin"}
    changes = {names[name]: getattr(body, name) for name in body.model_fields_set}
    user = service.users.update(api_key, user_id, actor=caller.actor, changes=changes)
    return json_response(user_json(user, service.users.profile(api_key, user_id)))


@router.delete(
    "/workspaces/{api_key}/users/{user_id:path}",
    status_code=204,
    responses=errors(401, 429, 403, 404),
)
def delete_user(api_key: str, user_id: str, request: Request, caller: AdminCaller) -> Response:
    """Delete a user."""
    service = service_of(request)
    authorize(service, caller, api_key)
    service.users.delete(api_key, user_id, actor=caller.actor)
    return Response(status_code=204)
