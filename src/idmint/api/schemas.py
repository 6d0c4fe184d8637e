"""Request and response bodies of the HTTP API, as pydantic models (they make the OpenAPI).

Request models forbid unknown fields, so a typo is a 400 that names the field rather than a
silently ignored option.  Strings that identify something must be non-empty.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

__all__ = [
    "AdminUser",
    "AuthTokenCreate",
    "AuthTokenCreated",
    "AuthTokenInfo",
    "AuthTokenList",
    "CreateUser",
    "Discovery",
    "ErrorBody",
    "ErrorEnvelope",
    "IdentifyRequest",
    "IdentifyResponse",
    "IdentifyUser",
    "Jwks",
    "MintData",
    "MintRequest",
    "MintResponse",
    "SessionOut",
    "TokenForEmailRequest",
    "TokenForEmailResponse",
    "UserList",
    "UserProperties",
    "WorkspaceCreate",
    "WorkspaceCreated",
    "WorkspaceList",
    "WorkspaceOut",
    "WorkspaceSettingsPatch",
]

Id = Annotated[str, Field(min_length=1, max_length=256)]
Secret = Annotated[str, Field(min_length=1, max_length=512)]
Email = Annotated[str, Field(min_length=1, max_length=320)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    message: str
    status: Literal[
        "INVALID_ARGUMENT",
        "UNAUTHENTICATED",
        "PERMISSION_DENIED",
        "NOT_FOUND",
        "FAILED_PRECONDITION",
        "RESOURCE_EXHAUSTED",
        "INTERNAL",
        "UNAVAILABLE",
    ]
    code: str = Field(description="Stable snake_case error code (see docs/errors.md).")
    field: str | None = Field(None, description="The request field at fault, when there is one.")


class ErrorEnvelope(BaseModel):
    error: ErrorBody


# --- POST /v1/auth/token/get ------------------------------------------------------------------


class UserProperties(_Strict):
    organizationId: Id = Field(description="Checked against identify's organizationId.")
    isAdmin: StrictBool = Field(False, description="Grants admin; only minting can set it.")
    email: Email | None = Field(None, description="Checked against identify's email.")


class MintData(_Strict):
    apiKey: Id
    authToken: Secret
    userId: Id
    userProperties: UserProperties
    expiresIn: StrictInt | None = Field(
        None, description="Requested lifetime in seconds, within the workspace's bounds."
    )


class MintRequest(_Strict):
    data: MintData


class MintResultData(BaseModel):
    token: str
    expiresAt: str = Field(description="Expiry, ISO 8601 UTC.")
    expiresIn: int = Field(description="Lifetime in seconds.")


class MintResult(BaseModel):
    status: Literal["success"]
    message: Literal["Token generated successfully."]
    data: MintResultData


class MintResponse(BaseModel):
    result: MintResult


# --- POST /api/v1/tokens ------------------------------------------------------------------------


class TokenForEmailRequest(_Strict):
    username: Email = Field(description="The email of an existing user.")


class TokenForEmailResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int


# --- POST /v1/identify ---------------------------------------------------------------------------


class IdentifyUser(BaseModel):
    """The client's user object; fields beyond these are stored as profile data."""

    model_config = ConfigDict(extra="allow")

    userId: Id
    organizationId: Id | None = None
    email: Email | None = None
    name: Annotated[str, Field(max_length=256)] | None = None
    photoUrl: Annotated[str, Field(max_length=2048)] | None = None


class IdentifyRequest(_Strict):
    apiKey: Id
    user: IdentifyUser
    authToken: Annotated[str, Field(min_length=1, max_length=16384)] | None = None


class SessionOut(BaseModel):
    id: str
    user: dict[str, Any]
    organizationId: str | None
    isAdmin: bool
    expiresAt: str
    verified: bool = Field(description="False only in development mode (no token required).")
    mode: Literal["jwt", "development"]


class IdentifyResponse(BaseModel):
    session: SessionOut


# --- JWKS and discovery --------------------------------------------------------------------------


class Jwks(BaseModel):
    keys: list[dict[str, str]]


class Discovery(BaseModel):
    issuer: str
    jwks_uri: str
    id_token_signing_alg_values_supported: list[str]
    subject_types_supported: list[str]
    response_types_supported: list[str]
    claims_supported: list[str]


# --- admin --------------------------------------------------------------------------------------


class WorkspaceOut(BaseModel):
    id: str
    apiKey: str
    name: str
    issuer: str
    requireJwt: bool
    tokenTtlSeconds: int
    minTtlSeconds: int
    maxTtlSeconds: int
    autoCreateUsers: bool
    allowedDomains: list[str]
    createdAt: str
    updatedAt: str


class WorkspaceList(BaseModel):
    workspaces: list[WorkspaceOut]


class WorkspaceCreate(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)] = "default"
    requireJwt: StrictBool = True


class WorkspaceSettingsPatch(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    requireJwt: StrictBool | None = Field(None, description='The "Require JWT Token" toggle.')
    tokenTtlSeconds: StrictInt | None = Field(None, description="Default token lifetime.")
    minTtlSeconds: StrictInt | None = None
    maxTtlSeconds: StrictInt | None = None
    autoCreateUsers: StrictBool | None = None
    allowedDomains: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=253)]], Field(max_length=100)]
        | None
    ) = None


class AuthTokenInfo(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The first characters of the secret, to recognise it.")
    createdAt: str
    lastUsedAt: str | None
    revokedAt: str | None
    expiresAt: str | None


class AuthTokenList(BaseModel):
    authTokens: list[AuthTokenInfo]


class AuthTokenCreate(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    expiresAt: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="Optional expiry, ISO 8601."
    )


class AuthTokenCreated(BaseModel):
    authToken: AuthTokenInfo
    secret: str = Field(description="The auth token itself. Shown once; store it now.")


class WorkspaceCreated(BaseModel):
    workspace: WorkspaceOut
    authToken: AuthTokenInfo
    secret: str = Field(description="The first auth token. Shown once; store it now.")


class AdminUser(BaseModel):
    userId: str
    organizationId: str | None
    email: str | None
    name: str | None
    photoUrl: str | None
    isAdmin: bool
    profile: dict[str, Any]
    createdAt: str
    updatedAt: str


class UserList(BaseModel):
    users: list[AdminUser]
    next: str | None = Field(description="Pass as `after` for the next page; null at the end.")


class CreateUser(_Strict):
    userId: Id
    email: Email | None = None
    organizationId: Id | None = None
    name: Annotated[str, Field(max_length=256)] | None = None
    isAdmin: StrictBool = False
