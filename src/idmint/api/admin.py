"""The admin API: everything the console does, under one scheme (``Authorization: Bearer``).

The bearer is either the deployment's admin credential (``IDMINT_ADMIN_TOKEN``: every
workspace) or one of a workspace's auth tokens (that workspace only).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.responses import Response

from idmint.api._common import errors, iso, json_response, service
from idmint.api.bodies import BodyRoute
from idmint.api.schemas import (
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
from idmint.jose.errors import (
    AdminRequiredError,
    ApiKeyNotFoundError,
    CredentialsMissingError,
    InvalidArgumentError,
    WorkspaceNotFoundError,
)
from idmint.service import Idmint
from idmint.store import AuthToken, User, UserProfile, Workspace

__all__ = ["Caller", "authorize", "router"]

router = APIRouter(prefix="/admin/v1", tags=["admin"], route_class=BodyRoute)
MAX_AUTH_TOKEN_LIFETIME = 10 * 365 * 86400
_bearer = HTTPBearer(
    auto_error=False, description="The admin credential or a workspace auth token."
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who calls: the admin, or the holder of one workspace's auth token."""

    admin: bool
    actor: str
    secret: str


def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise CredentialsMissingError("Authorization: Bearer <admin token or auth token> required.")
    secret = credentials.credentials
    admin_token = service(request).settings.admin_token
    if admin_token is not None and hmac.compare_digest(
        secret.encode(), admin_token.get_secret_value().encode()
    ):
        return Principal(admin=True, actor="admin", secret=secret)
    return Principal(admin=False, actor="auth_token", secret=secret)


Caller = Annotated[Principal, Depends(principal)]


def authorize(idmint: Idmint, caller: Principal, api_key: str) -> Workspace:
    """The workspace, if the caller may manage it.

    :raises WorkspaceNotFoundError: for an unknown API key (404, as the path names a resource).
    """
    try:
        if caller.admin:
            return idmint.workspaces.get(api_key)
        workspace, _token = idmint.workspaces.authenticate(api_key, caller.secret)
    except ApiKeyNotFoundError:
        raise WorkspaceNotFoundError("No workspace has this API key.") from None
    return workspace


def _require_admin(caller: Principal) -> None:
    if not caller.admin:
        raise AdminRequiredError("Only the admin credential may do this.")


def _workspace_out(idmint: Idmint, workspace: Workspace) -> dict[str, Any]:
    return {
        "id": workspace.id,
        "apiKey": workspace.api_key,
        "name": workspace.name,
        "issuer": idmint.settings.issuer_for(workspace.api_key),
        "requireJwt": workspace.require_jwt,
        "tokenTtlSeconds": workspace.token_ttl_seconds,
        "minTtlSeconds": workspace.min_ttl_seconds,
        "maxTtlSeconds": workspace.max_ttl_seconds,
        "autoCreateUsers": workspace.auto_create_users,
        "allowedDomains": list(workspace.allowed_domains or []),
        "createdAt": iso(workspace.created_at),
        "updatedAt": iso(workspace.updated_at),
    }


def _token_out(token: AuthToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "createdAt": iso(token.created_at),
        "lastUsedAt": iso(token.last_used_at),
        "revokedAt": iso(token.revoked_at),
        "expiresAt": iso(token.expires_at),
    }


def _user_out(user: User, profile: UserProfile | None) -> dict[str, Any]:
    return {
        "userId": user.user_id,
        "organizationId": user.organization_id,
        "email": user.email,
        "emailShared": user.email_conflict is not None,
        "isAdmin": user.is_admin,
        "createdAt": iso(user.created_at),
        "updatedAt": iso(user.updated_at),
        "profile": {} if profile is None else dict(profile.profile or {}),
        "profileUpdatedAt": None if profile is None else iso(profile.updated_at),
    }


def _expiry(text: str, now: float) -> float:
    """An auth token expiry: ISO 8601 (UTC when it names no zone), within ten years."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp()
    except (ValueError, OverflowError):
        raise InvalidArgumentError(
            "expiresAt must be an ISO 8601 time.", field="expiresAt"
        ) from None
    if seconds > now + MAX_AUTH_TOKEN_LIFETIME:
        raise InvalidArgumentError("expiresAt may lie at most ten years ahead.", field="expiresAt")
    return seconds


# --- workspaces ---------------------------------------------------------------------------------


@router.get("/workspaces", response_model=WorkspaceList, responses=errors(401, 403))
def list_workspaces(request: Request, caller: Caller) -> Response:
    """All workspaces (admin credential only)."""
    _require_admin(caller)
    idmint = service(request)
    return json_response(
        {"workspaces": [_workspace_out(idmint, w) for w in idmint.workspaces.all()]}
    )


@router.post(
    "/workspaces", response_model=WorkspaceCreated, status_code=201, responses=errors(401, 403)
)
def create_workspace(body: WorkspaceCreate, request: Request, caller: Caller) -> Response:
    """A new workspace with a signing key and a first auth token (admin credential only)."""
    _require_admin(caller)
    idmint = service(request)
    result = idmint.init_workspace(body.name, allow_existing=True)
    workspace = result.workspace
    if not body.requireJwt:
        workspace = idmint.workspaces.update_settings(
            workspace.api_key, actor="admin", require_jwt=False
        )
    return json_response(
        {
            "workspace": _workspace_out(idmint, workspace),
            "authToken": _token_out(result.auth_token.record),
            "secret": result.auth_token.secret,
        },
        status_code=201,
    )


@router.get("/workspaces/{api_key}", response_model=WorkspaceOut, responses=errors(401, 403, 404))
def get_workspace(api_key: str, request: Request, caller: Caller) -> Response:
    """The workspace's settings."""
    idmint = service(request)
    return json_response(_workspace_out(idmint, authorize(idmint, caller, api_key)))


@router.patch("/workspaces/{api_key}", response_model=WorkspaceOut, responses=errors(401, 403, 404))
def update_workspace(
    api_key: str, body: WorkspaceSettingsPatch, request: Request, caller: Caller
) -> Response:
    """Change settings: the "Require JWT Token" toggle, lifetimes, auto-create, allowed domains."""
    idmint = service(request)
    authorize(idmint, caller, api_key)
    workspace = idmint.workspaces.update_settings(
        api_key,
        actor=caller.actor,
        name=body.name,
        require_jwt=body.requireJwt,
        token_ttl_seconds=body.tokenTtlSeconds,
        min_ttl_seconds=body.minTtlSeconds,
        max_ttl_seconds=body.maxTtlSeconds,
        auto_create_users=body.autoCreateUsers,
        allowed_domains=body.allowedDomains,
    )
    return json_response(_workspace_out(idmint, workspace))


# --- auth tokens ----------------------------------------------------------------------------


@router.get(
    "/workspaces/{api_key}/auth-tokens",
    response_model=AuthTokenList,
    responses=errors(401, 403, 404),
)
def list_auth_tokens(api_key: str, request: Request, caller: Caller) -> Response:
    """The workspace's auth tokens (never their secrets)."""
    idmint = service(request)
    authorize(idmint, caller, api_key)
    return json_response(
        {"authTokens": [_token_out(t) for t in idmint.workspaces.auth_tokens(api_key)]}
    )


@router.post(
    "/workspaces/{api_key}/auth-tokens",
    response_model=AuthTokenCreated,
    status_code=201,
    responses=errors(401, 403, 404),
)
def create_auth_token(
    api_key: str, body: AuthTokenCreate, request: Request, caller: Caller
) -> Response:
    """A new named auth token. Its secret is in this answer only."""
    idmint = service(request)
    authorize(idmint, caller, api_key)
    expires_at = None if body.expiresAt is None else _expiry(body.expiresAt, idmint.clock.now())
    created = idmint.workspaces.create_auth_token(
        api_key, body.name, actor=caller.actor, expires_at=expires_at
    )
    return json_response(
        {"authToken": _token_out(created.record), "secret": created.secret}, status_code=201
    )


@router.delete(
    "/workspaces/{api_key}/auth-tokens/{token_id}",
    response_model=AuthTokenInfo,
    responses=errors(401, 403, 404),
)
def revoke_auth_token(api_key: str, token_id: str, request: Request, caller: Caller) -> Response:
    """Revoke an auth token: it stops minting at once."""
    idmint = service(request)
    authorize(idmint, caller, api_key)
    record = idmint.workspaces.revoke_auth_token(api_key, token_id, actor=caller.actor)
    return json_response(_token_out(record))


# --- users ----------------------------------------------------------------------------------


@router.get("/workspaces/{api_key}/users", response_model=UserList, responses=errors(401, 403, 404))
def list_users(
    api_key: str,
    request: Request,
    caller: Caller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """Users by userId, a page at a time (``after`` = the previous page's ``next``)."""
    idmint = service(request)
    authorize(idmint, caller, api_key)
    users = idmint.users.list(api_key, limit=limit, after=after)
    profiles = idmint.users.profiles(api_key, users)
    next_after = users[-1].user_id if len(users) == limit else None
    return json_response(
        {"users": [_user_out(u, profiles.get(u.user_id)) for u in users], "next": next_after}
    )


@router.post(
    "/workspaces/{api_key}/users",
    response_model=AdminUser,
    status_code=201,
    responses=errors(401, 403, 404, 409),
)
def create_user(api_key: str, body: CreateUser, request: Request, caller: Caller) -> Response:
    """Add a user (e.g. before minting by email with ``POST /api/v1/tokens``).  An email that
    another user holds is ``email_taken`` (409); ``name`` starts the user's profile."""
    idmint = service(request)
    authorize(idmint, caller, api_key)
    user = idmint.users.create(
        api_key,
        body.userId,
        actor=caller.actor,
        email=body.email,
        organization_id=body.organizationId,
        name=body.name,
        is_admin=body.isAdmin,
    )
    return json_response(_user_out(user, idmint.users.profile(api_key, user.user_id)), 201)


@router.get(
    "/workspaces/{api_key}/users/{user_id:path}",
    response_model=AdminUser,
    responses=errors(401, 403, 404),
)
def get_user(api_key: str, user_id: str, request: Request, caller: Caller) -> Response:
    """One user: the trusted attributes, and the untrusted profile identify last stored."""
    idmint = service(request)
    authorize(idmint, caller, api_key)
    user = idmint.users.get(api_key, user_id)
    return json_response(_user_out(user, idmint.users.profile(api_key, user_id)))


@router.patch(
    "/workspaces/{api_key}/users/{user_id:path}",
    response_model=AdminUser,
    responses=errors(401, 403, 404, 409),
)
def update_user(
    api_key: str, user_id: str, body: UpdateUser, request: Request, caller: Caller
) -> Response:
    """Change a user's trusted attributes: ``email``, ``organizationId`` (``null`` clears
    either) and ``isAdmin``; members left out stay as they are.  An email that another user
    holds is ``email_taken`` (409).  Tokens already minted keep what they carry."""
    idmint = service(request)
    authorize(idmint, caller, api_key)
    names = {"email": "email", "organizationId": "organization_id", "isAdmin": "is_admin"}
    changes = {names[name]: getattr(body, name) for name in body.model_fields_set}
    user = idmint.users.update(api_key, user_id, actor=caller.actor, changes=changes)
    return json_response(_user_out(user, idmint.users.profile(api_key, user_id)))


@router.delete(
    "/workspaces/{api_key}/users/{user_id:path}", status_code=204, responses=errors(401, 403, 404)
)
def delete_user(api_key: str, user_id: str, request: Request, caller: Caller) -> Response:
    """Delete a user."""
    idmint = service(request)
    authorize(idmint, caller, api_key)
    idmint.users.delete(api_key, user_id, actor=caller.actor)
    return Response(status_code=204)
