"""The admin API's request and answer bodies (workspaces, auth tokens, users; revocations,
audit and signing keys), which make its part of the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from idmint.api.schemas import PRINTABLE, VISIBLE, Email, Id, Name, Strict

__all__ = [
    "AdminUser",
    "AuditEventOut",
    "AuditPage",
    "AuthTokenCreate",
    "AuthTokenCreated",
    "AuthTokenInfo",
    "AuthTokenList",
    "CreateUser",
    "KeyRotate",
    "RevocationCreate",
    "RevocationList",
    "RevocationOut",
    "SigningKeyList",
    "SigningKeyOut",
    "UpdateUser",
    "UserList",
    "WorkspaceCreate",
    "WorkspaceCreated",
    "WorkspaceList",
    "WorkspaceOut",
    "WorkspaceSettingsPatch",
]


# --- admin --------------------------------------------------------------------------------------


class WorkspaceOut(BaseModel):
    id: str
    apiKey: str
    name: str
    issuer: str
    jwksUri: str = Field(description="Where the issuer's public keys are published.")
    requireJwt: bool
    tokenTtlSeconds: int
    minTtlSeconds: int
    maxTtlSeconds: int
    autoCreateUsers: bool
    allowedDomains: list[str]
    mintRateLimit: str | None = Field(
        description="The workspace's mint quota (e.g. 100/second), or null for none."
    )
    createdAt: str
    updatedAt: str


class WorkspaceList(BaseModel):
    workspaces: list[WorkspaceOut]


Scope = Literal["mint", "admin"]
Scopes = Annotated[list[Scope], Field(min_length=1, max_length=2)]


class WorkspaceCreate(Strict):
    name: Name = "default"
    requireJwt: StrictBool = True
    scopes: Scopes = Field(["mint"], description="The scopes of the workspace's first auth token.")


class WorkspaceSettingsPatch(Strict):
    name: Name | None = None
    requireJwt: StrictBool | None = Field(None, description='The "Require JWT Token" toggle.')
    tokenTtlSeconds: StrictInt | None = Field(None, description="Default token lifetime.")
    minTtlSeconds: StrictInt | None = None
    maxTtlSeconds: StrictInt | None = None
    autoCreateUsers: StrictBool | None = None
    allowedDomains: (
        Annotated[
            list[Annotated[str, Field(min_length=1, max_length=253, pattern=VISIBLE)]],
            Field(max_length=100),
        ]
        | None
    ) = None
    mintRateLimit: Annotated[str, Field(max_length=64, pattern=VISIBLE)] | None = Field(
        None,
        description='A quota of mints for the workspace, e.g. "100/second" or "5000 per hour"; '
        '"" removes it.',
    )


class AuthTokenInfo(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The first characters of the secret, to recognise it.")
    createdAt: str
    lastUsedAt: str | None
    revokedAt: str | None
    expiresAt: str | None
    scopes: list[Scope] = Field(description="What it may do: mint, admin, or both.")
    overPrivileged: bool = Field(
        description="Whether it has both scopes: a backend that mints needs only mint."
    )


class AuthTokenList(BaseModel):
    authTokens: list[AuthTokenInfo]


class AuthTokenCreate(Strict):
    name: Name
    expiresAt: Annotated[str, Field(max_length=64, pattern=PRINTABLE)] | None = Field(
        None,
        description="Optional expiry, ISO 8601. A token created with an auth token may not "
        "outlive it (by default it expires with it).",
    )
    scopes: Scopes = Field(
        ["mint"],
        description="mint, admin or both. A token created with an auth token may have only "
        "scopes it has itself.",
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
    emailShared: bool = Field(
        description="The email is shared with other users from before emails were unique: "
        "minting by it is email_ambiguous until all but one have another."
    )
    isAdmin: bool
    createdAt: str
    updatedAt: str
    profile: dict[str, Any] = Field(
        description="UNTRUSTED: what the user's client last sent to identify (name, photoUrl, "
        "other members), as it sent it. Never put into a token."
    )
    profileUpdatedAt: str | None = Field(description="When identify last stored the profile.")


class UserList(BaseModel):
    users: list[AdminUser]
    next: str | None = Field(description="Pass as `after` for the next page; null at the end.")


class CreateUser(Strict):
    userId: Id
    email: Email | None = None
    organizationId: Id | None = None
    name: Annotated[str, Field(max_length=256, pattern=PRINTABLE)] | None = Field(
        None, description="Starts the user's profile (identify replaces it)."
    )
    isAdmin: StrictBool = False


class UpdateUser(Strict):
    """The trusted attributes to change; members left out stay as they are."""

    email: Email | None = Field(None, description="Unique in the workspace; null clears it.")
    organizationId: Id | None = Field(None, description="null clears it.")
    isAdmin: StrictBool = False


# --- lifecycle: revocations, audit, keys ---------------------------------------------------------


class RevocationCreate(Strict):
    """Exactly one of ``jti``, ``userId``, ``organizationId``."""

    model_config = ConfigDict(
        # For the document: the handler counts the members that are not null.
        json_schema_extra={
            "oneOf": [
                {"required": [name], "properties": {name: {"type": "string"}}}
                for name in ("jti", "userId", "organizationId")
            ]
        }
    )

    jti: Id | None = Field(None, description="Revoke this one token.")
    userId: Id | None = Field(None, description="Revoke every token of this user issued until now.")
    organizationId: Id | None = Field(
        None, description="Revoke every token of this organization issued until now."
    )
    reason: Annotated[str, Field(max_length=256, pattern=PRINTABLE)] | None = None


class RevocationOut(BaseModel):
    id: int
    kind: Literal["jti", "user", "organization"]
    value: str
    issuedBefore: str | None = Field(description="Tokens issued up to this time are revoked.")
    expiresAt: str = Field(
        description="When the entry is dropped: every token it names has expired."
    )
    createdAt: str
    reason: str | None


class RevocationList(BaseModel):
    revocations: list[RevocationOut]


class AuditEventOut(BaseModel):
    id: int
    at: str
    actor: str
    action: str
    outcome: Literal["success", "failure"]
    reasonCode: str | None
    subject: str | None
    clientAddress: str | None = Field(
        description="The address the request came from (see IDMINT_TRUSTED_PROXIES); for an "
        "aggregated failure, the first one (detail: count, firstAddress, lastAddress, minute)."
    )
    detail: dict[str, Any]


class AuditPage(BaseModel):
    events: list[AuditEventOut]
    next: int | None = Field(description="Pass as `before` for the next (older) page.")


class SigningKeyOut(BaseModel):
    kid: str
    alg: str
    state: Literal["next", "active", "retiring", "retired"]
    createdAt: str
    activatedAt: str | None
    retiringAt: str | None
    retiredAt: str | None
    promotesAt: str | None = Field(description="For a next key: when it starts signing.")
    retiresAt: str | None = Field(description="For a retiring key: when it is retired.")


class SigningKeyList(BaseModel):
    keys: list[SigningKeyOut]


class KeyRotate(Strict):
    alg: (
        Literal[
            "EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"
        ]
        | None
    ) = Field(None, description="Algorithm of the new key (default: IDMINT_SIGNING_ALGORITHM).")
    now: StrictBool = Field(
        False,
        description="Promote at once, skipping the pre-publish period: only for a compromised "
        "key (verifiers with a cached JWKS will not know the new key yet).",
    )
