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
    "Discovery",
    "Email",
    "ErrorBody",
    "ErrorEnvelope",
    "Id",
    "IdentifyRequest",
    "IdentifyResponse",
    "IdentifyUser",
    "Jwks",
    "MintData",
    "MintRequest",
    "MintResponse",
    "Name",
    "SessionOut",
    "SignOutRequest",
    "SignOutResponse",
    "Strict",
    "TokenForEmailRequest",
    "TokenForEmailResponse",
    "UserProperties",
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


# check_email's rule, stated for the document only (the check stays check_email's, whose error
# is invalid_email): one @, a dot in the domain, no space or control character, with Python's
# \s spelled out so that every regex dialect reads the pattern alike.
_EMAIL_CHAR = r"[^@\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_EMAIL_PATTERN = rf"^{_EMAIL_CHAR}+@{_EMAIL_CHAR}+\.{_EMAIL_CHAR}+$"
Email = Annotated[
    str,
    Field(min_length=1, max_length=320, json_schema_extra={"pattern": _EMAIL_PATTERN}),
    AfterValidator(_email),
]

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


class Strict(BaseModel):
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


class UserProperties(Strict):
    organizationId: Id = Field(description="Checked against identify's organizationId.")
    isAdmin: StrictBool = Field(False, description="Grants admin; only minting can set it.")
    email: Email | None = Field(None, description="Checked against identify's email.")


class MintData(Strict):
    apiKey: Id
    authToken: Secret
    userId: Id
    userProperties: UserProperties
    expiresIn: StrictInt | None = Field(
        None, description="Requested lifetime in seconds, within the workspace's bounds."
    )


class MintRequest(Strict):
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


class TokenForEmailRequest(Strict):
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


class IdentifyRequest(Strict):
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


class SignOutRequest(Strict):
    apiKey: Id
    sessionId: Id


class SignOutResponse(BaseModel):
    signedOut: bool = Field(description="Whether an open session was ended.")
