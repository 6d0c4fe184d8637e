"""Request and response bodies of the HTTP API, as pydantic models (they make the OpenAPI).

Request models forbid unknown fields, so a typo is a 400 that names the field rather than a
silently ignored option.  Strings that identify something must be non-empty.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)
from pydantic_core import PydanticCustomError

from idmint.jose.errors import InvalidEmailError
from idmint.service.validation import check_email

__all__ = [
    "AdminUser",
    "AuditEventOut",
    "AuditPage",
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
    "KeyRotate",
    "MintData",
    "MintRequest",
    "MintResponse",
    "RevocationCreate",
    "RevocationList",
    "RevocationOut",
    "SessionOut",
    "SignOutRequest",
    "SignOutResponse",
    "SigningKeyList",
    "SigningKeyOut",
    "TokenForEmailRequest",
    "TokenForEmailResponse",
    "UpdateUser",
    "UserList",
    "UserProperties",
    "WorkspaceCreate",
    "WorkspaceCreated",
    "WorkspaceList",
    "WorkspaceOut",
    "WorkspaceSettingsPatch",
]

# No control characters anywhere (a NUL cannot be stored, and none belongs in an id), and an
# identifier must have at least one visible character.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
VISIBLE = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
Id = Annotated[str, Field(min_length=1, max_length=256, pattern=VISIBLE)]
Secret = Annotated[str, Field(min_length=1, max_length=512, pattern=PRINTABLE)]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=VISIBLE)]


def _email(value: str) -> str:
    try:
        return check_email(value)
    except InvalidEmailError:
        raise PydanticCustomError("invalid_email", "not a valid email address") from None


Email = Annotated[str, Field(min_length=1, max_length=320), AfterValidator(_email)]

_MAX_DEPTH = 8
_MAX_SAFE_INT = 2**53


def _json_safe(value: Any, depth: int = 0) -> None:
    """Profile data must round-trip through every store and JSON encoder unchanged."""
    if depth > _MAX_DEPTH:
        raise PydanticCustomError("profile_too_deep", f"nested deeper than {_MAX_DEPTH} levels")
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            raise PydanticCustomError("profile_number", "integers must lie within ±2^53")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise PydanticCustomError("profile_number", "numbers must be finite")
    elif isinstance(value, str):
        if "\x00" in value or len(value) > 2048:
            raise PydanticCustomError(
                "profile_text", "text must be under 2048 characters, without NUL"
            )
    elif isinstance(value, list):
        for item in value:
            _json_safe(item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _json_safe(key, depth + 1)
            _json_safe(item, depth + 1)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


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
    claim: str | None = Field(None, description="With token_claim_* codes: the claim at fault.")
    expiredAt: str | None = Field(
        None, description="With token_expired: when the token expired (ISO 8601 UTC)."
    )
    notBefore: str | None = Field(
        None, description="With token_not_yet_valid: the token's nbf (ISO 8601 UTC)."
    )
    issuedAt: str | None = Field(
        None, description="With token_issued_in_future: the token's iat (ISO 8601 UTC)."
    )
    kid: Any = Field(None, description="With token_unknown_kid, token_key_retired: the kid.")
    alg: Any = Field(None, description="With token_alg_mismatch: the token's alg.")
    expected: str | None = Field(
        None,
        description="With token_alg_mismatch, token_issuer_invalid, token_audience_invalid: "
        "what was expected.",
    )
    found: Any = Field(
        None,
        description="With token_issuer_invalid, token_audience_invalid: what the token holds.",
    )
    header: str | None = Field(None, description="With token_header_forbidden: the header.")
    part: str | None = Field(None, description="With token_too_large: token, header or payload.")
    limit: int | None = Field(None, description="With token_too_large: the cap, in bytes.")
    origin: str | None = Field(None, description="With origin_not_allowed: the origin refused.")


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

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    userId: Id
    organizationId: Id | None = None
    email: Email | None = None
    name: Annotated[str, Field(max_length=256, pattern=PRINTABLE)] | None = None
    photoUrl: Annotated[str, Field(max_length=2048, pattern=PRINTABLE)] | None = None

    @model_validator(mode="after")
    def _profile_is_json_safe(self) -> IdentifyUser:
        _json_safe(self.model_extra or {})
        return self


class IdentifyRequest(_Strict):
    apiKey: Id
    user: IdentifyUser
    authToken: Annotated[str, Field(min_length=1, max_length=16384, pattern=PRINTABLE)] | None = (
        None
    )


class SessionOut(BaseModel):
    id: str
    user: dict[str, Any]
    organizationId: str | None
    isAdmin: bool
    expiresAt: str
    expiresIn: float = Field(
        description="Seconds left by idmint's clock (millisecond precision), so a client can "
        "schedule with its own."
    )
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
    jwksUri: str = Field(description="Where the issuer's public keys are published.")
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
    name: Name = "default"
    requireJwt: StrictBool = True


class WorkspaceSettingsPatch(_Strict):
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
    name: Name
    expiresAt: Annotated[str, Field(max_length=64, pattern=PRINTABLE)] | None = Field(
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


class CreateUser(_Strict):
    userId: Id
    email: Email | None = None
    organizationId: Id | None = None
    name: Annotated[str, Field(max_length=256, pattern=PRINTABLE)] | None = Field(
        None, description="Starts the user's profile (identify replaces it)."
    )
    isAdmin: StrictBool = False


class UpdateUser(_Strict):
    """The trusted attributes to change; members left out stay as they are."""

    email: Email | None = Field(None, description="Unique in the workspace; null clears it.")
    organizationId: Id | None = Field(None, description="null clears it.")
    isAdmin: StrictBool = False


# --- lifecycle: revocations, audit, keys ---------------------------------------------------------


class RevocationCreate(_Strict):
    """Exactly one of ``jti``, ``userId``, ``organizationId``."""

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


class KeyRotate(_Strict):
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


class SignOutRequest(_Strict):
    apiKey: Id
    sessionId: Id


class SignOutResponse(BaseModel):
    signedOut: bool = Field(description="Whether an open session was ended.")
