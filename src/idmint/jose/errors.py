"""The one exception tree of idmint.

Every error carries a stable snake_case ``code`` (a public contract: codes are never renamed),
an HTTP status and the gRPC-style status word that the wire envelope uses.  Context travels as
attributes (``claim``, ``kid``, ``expired_at``), never only inside the message.

    IdmintError                           internal
    ├── TokenError                        token_invalid
    │   ├── MalformedTokenError           token_malformed
    │   ├── TokenTooLargeError            token_too_large
    │   ├── UnsecuredTokenError           token_alg_none
    │   ├── AlgorithmMismatchError        token_alg_mismatch
    │   ├── UnknownKeyError               token_unknown_kid
    │   │   └── RetiredKeyError           token_key_retired
    │   ├── ForbiddenHeaderError          token_header_forbidden
    │   ├── UnsupportedCriticalError      token_crit_unsupported
    │   ├── InvalidTokenTypeError         token_typ_invalid
    │   ├── InvalidSignatureError         token_signature_invalid
    │   ├── TokenRevokedError             token_revoked
    │   └── ClaimError                    token_claim_invalid
    │       ├── MissingClaimError         token_claim_missing
    │       ├── TokenExpiredError         token_expired
    │       ├── TokenNotYetValidError     token_not_yet_valid
    │       ├── TokenIssuedInFutureError  token_issued_in_future
    │       ├── InvalidAudienceError      token_audience_invalid
    │       └── InvalidIssuerError        token_issuer_invalid
    ├── SigningKeyError                   key_error
    │   ├── InvalidKeyError               key_invalid
    │   ├── NoActiveKeyError              key_no_active
    │   └── KeyDecryptionError            key_decryption_failed
    ├── InvalidLifetimeError              lifetime_out_of_bounds
    ├── InvalidArgumentError              invalid_argument
    │   ├── InvalidEmailError             invalid_email
    │   ├── RequestTooLargeError          request_too_large
    │   └── UnsupportedMediaTypeError     unsupported_media_type
    ├── CredentialError                   credentials_invalid
    │   ├── CredentialsMissingError       credentials_missing
    │   ├── ApiKeyNotFoundError           api_key_not_found
    │   ├── AuthTokenNotFoundError        auth_token_not_found
    │   ├── AuthTokenRevokedError         auth_token_revoked
    │   ├── AuthTokenExpiredError         auth_token_expired
    │   ├── AuthTokenWrongWorkspaceError  auth_token_wrong_workspace
    │   └── AdminRequiredError            admin_required
    ├── NotFoundError                     not_found
    │   ├── UserNotFoundError             user_not_found
    │   └── WorkspaceNotFoundError        workspace_not_found
    ├── ConflictError                     conflict
    │   ├── WorkspaceExistsError          workspace_exists
    │   ├── UserExistsError               user_exists
    │   ├── EmailTakenError               email_taken
    │   └── EmailAmbiguousError           email_ambiguous
    ├── IdentifyError                     identify_failed
    │   ├── JwtRequiredError              jwt_required
    │   ├── OriginNotAllowedError         origin_not_allowed
    │   └── IdentityMismatchError         identity_mismatch
    │       ├── UserMismatchError         user_mismatch
    │       ├── OrganizationMismatchError organization_mismatch
    │       └── EmailMismatchError        email_mismatch
    ├── MethodNotAllowedError             method_not_allowed
    ├── UnavailableError                  unavailable
    └── ConfigurationError                configuration_invalid
        ├── StoreNotFoundError            store_not_found
        ├── MasterKeyMissingError         master_key_missing
        ├── MasterKeyMismatchError        master_key_mismatch
        └── InsecureFileModeError         file_mode_insecure
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

__all__ = [
    "AdminRequiredError",
    "AlgorithmMismatchError",
    "ApiKeyNotFoundError",
    "AuthTokenExpiredError",
    "AuthTokenNotFoundError",
    "AuthTokenRevokedError",
    "AuthTokenWrongWorkspaceError",
    "ClaimError",
    "ConfigurationError",
    "ConflictError",
    "CredentialError",
    "CredentialsMissingError",
    "EmailAmbiguousError",
    "EmailMismatchError",
    "EmailTakenError",
    "ForbiddenHeaderError",
    "IdentifyError",
    "IdentityMismatchError",
    "IdmintError",
    "InsecureFileModeError",
    "InvalidArgumentError",
    "InvalidAudienceError",
    "InvalidEmailError",
    "InvalidIssuerError",
    "InvalidKeyError",
    "InvalidLifetimeError",
    "InvalidSignatureError",
    "InvalidTokenTypeError",
    "JwtRequiredError",
    "KeyDecryptionError",
    "MalformedTokenError",
    "MasterKeyMismatchError",
    "MasterKeyMissingError",
    "MethodNotAllowedError",
    "MissingClaimError",
    "NoActiveKeyError",
    "NotFoundError",
    "OrganizationMismatchError",
    "OriginNotAllowedError",
    "RequestTooLargeError",
    "RetiredKeyError",
    "SigningKeyError",
    "StoreNotFoundError",
    "TokenError",
    "TokenExpiredError",
    "TokenIssuedInFutureError",
    "TokenNotYetValidError",
    "TokenRevokedError",
    "TokenTooLargeError",
    "UnavailableError",
    "UnknownKeyError",
    "UnsecuredTokenError",
    "UnsupportedCriticalError",
    "UnsupportedMediaTypeError",
    "UserExistsError",
    "UserMismatchError",
    "UserNotFoundError",
    "WorkspaceExistsError",
    "WorkspaceNotFoundError",
    "error_classes",
]


class IdmintError(Exception):
    """Raised when idmint refuses an operation; the root of every idmint error."""

    code: ClassVar[str] = "internal"
    http_status: ClassVar[int] = 500
    status: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or self.code).strip().splitlines()[0]
        super().__init__(self.message)

    def to_dict(self) -> dict[str, object]:
        """The error as the body of the wire envelope (``{"error": <this>}``)."""
        return {"message": self.message, "status": self.status, "code": self.code}


class TokenError(IdmintError):
    """Raised when a presented user token is not valid."""

    code = "token_invalid"
    http_status = 401
    status = "UNAUTHENTICATED"


class MalformedTokenError(TokenError):
    """Raised when a token is not a canonical compact JWS with JSON header and claims."""

    code = "token_malformed"


class TokenTooLargeError(TokenError):
    """Raised when a token, its header or its payload exceeds the size caps."""

    code = "token_too_large"

    def __init__(self, message: str | None = None, *, part: str = "token", limit: int = 0) -> None:
        self.part = part
        self.limit = limit
        super().__init__(message or f"The token's {part} exceeds {limit} bytes.")


class UnsecuredTokenError(TokenError):
    """Raised when a token claims the 'none' algorithm (in any letter case)."""

    code = "token_alg_none"


class AlgorithmMismatchError(TokenError):
    """Raised when a token's alg is not the algorithm of the key that its kid selects."""

    code = "token_alg_mismatch"

    def __init__(
        self, message: str | None = None, *, alg: object = None, expected: str = ""
    ) -> None:
        self.alg = alg
        self.expected = expected
        super().__init__(message or f"The token's algorithm {alg!r} is not the key's {expected}.")


class UnknownKeyError(TokenError):
    """Raised when a token's kid names no published key."""

    code = "token_unknown_kid"

    def __init__(self, message: str | None = None, *, kid: object = None) -> None:
        self.kid = kid
        super().__init__(message or f"No published key has kid {kid!r}.")


class RetiredKeyError(UnknownKeyError):
    """Raised when a token was signed by a key that has been retired."""

    code = "token_key_retired"

    def __init__(self, message: str | None = None, *, kid: object = None) -> None:
        super().__init__(message or f"The key {kid!r} that signed this token is retired.", kid=kid)


class ForbiddenHeaderError(TokenError):
    """Raised when a token carries a key-carrying header (jku, x5u, jwk, x5c) or another we refuse."""

    code = "token_header_forbidden"

    def __init__(self, message: str | None = None, *, header: str = "") -> None:
        self.header = header
        super().__init__(message or f"The token header {header!r} is not accepted.")


class UnsupportedCriticalError(TokenError):
    """Raised when a token lists a crit extension that idmint does not understand."""

    code = "token_crit_unsupported"


class InvalidTokenTypeError(TokenError):
    """Raised when a token's typ header is present and is not JWT."""

    code = "token_typ_invalid"


class InvalidSignatureError(TokenError):
    """Raised when a token's signature does not verify under the selected key."""

    code = "token_signature_invalid"


class TokenRevokedError(TokenError):
    """Raised when a token has been revoked."""

    code = "token_revoked"


class ClaimError(TokenError):
    """Raised when a token's claims are not acceptable."""

    code = "token_claim_invalid"

    def __init__(self, message: str | None = None, *, claim: str = "") -> None:
        self.claim = claim
        super().__init__(message or f"The claim {claim!r} is not valid.")


class MissingClaimError(ClaimError):
    """Raised when a required claim is absent."""

    code = "token_claim_missing"

    def __init__(self, message: str | None = None, *, claim: str = "") -> None:
        super().__init__(message or f"The token has no {claim!r} claim.", claim=claim)


class TokenExpiredError(ClaimError):
    """Raised when a token's exp lies in the past beyond the leeway."""

    code = "token_expired"

    def __init__(self, message: str | None = None, *, expired_at: datetime) -> None:
        self.expired_at = expired_at
        super().__init__(message or f"The token expired at {expired_at.isoformat()}.", claim="exp")

    def to_dict(self) -> dict[str, object]:
        """The envelope body, with ``expiredAt`` (ISO 8601 UTC) for clients to act on."""
        expired = self.expired_at.isoformat().replace("+00:00", "Z")
        return {**super().to_dict(), "expiredAt": expired}


class TokenNotYetValidError(ClaimError):
    """Raised when a token's nbf lies in the future beyond the leeway."""

    code = "token_not_yet_valid"

    def __init__(self, message: str | None = None, *, not_before: datetime) -> None:
        self.not_before = not_before
        super().__init__(
            message or f"The token is not valid before {not_before.isoformat()}.", claim="nbf"
        )


class TokenIssuedInFutureError(ClaimError):
    """Raised when a token's iat lies in the future beyond the leeway."""

    code = "token_issued_in_future"

    def __init__(self, message: str | None = None, *, issued_at: datetime) -> None:
        self.issued_at = issued_at
        super().__init__(
            message or f"The token claims to be issued at {issued_at.isoformat()}, in the future.",
            claim="iat",
        )


class InvalidAudienceError(ClaimError):
    """Raised when a token's aud does not contain the expected audience."""

    code = "token_audience_invalid"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "The token is not meant for this audience.", claim="aud")


class InvalidIssuerError(ClaimError):
    """Raised when a token's iss is not exactly the expected issuer."""

    code = "token_issuer_invalid"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "The token was issued by someone else.", claim="iss")


class SigningKeyError(IdmintError):
    """Raised when a key cannot be used."""

    code = "key_error"


class InvalidKeyError(SigningKeyError):
    """Raised when a key (PEM or JWK) is malformed, weak or inconsistent."""

    code = "key_invalid"
    http_status = 400
    status = "INVALID_ARGUMENT"


class NoActiveKeyError(SigningKeyError):
    """Raised when a key ring has no active key to sign with."""

    code = "key_no_active"
    http_status = 503
    status = "UNAVAILABLE"


class KeyDecryptionError(SigningKeyError):
    """Raised when an encrypted private key cannot be decrypted with the master key."""

    code = "key_decryption_failed"


class InvalidLifetimeError(IdmintError):
    """Raised when a requested token lifetime lies outside the allowed bounds."""

    code = "lifetime_out_of_bounds"
    http_status = 400
    status = "INVALID_ARGUMENT"


class InvalidArgumentError(IdmintError):
    """Raised when a request is malformed or a field is missing, empty or of the wrong type."""

    code = "invalid_argument"
    http_status = 400
    status = "INVALID_ARGUMENT"

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)

    def to_dict(self) -> dict[str, object]:
        body = super().to_dict()
        if self.field is not None:
            body["field"] = self.field
        return body


class InvalidEmailError(InvalidArgumentError):
    """Raised when an email address is not a plausible address."""

    code = "invalid_email"


class RequestTooLargeError(InvalidArgumentError):
    """Raised when a request body exceeds the configured size."""

    code = "request_too_large"
    http_status = 413


class UnsupportedMediaTypeError(InvalidArgumentError):
    """Raised when a request body is not JSON."""

    code = "unsupported_media_type"
    http_status = 415


class CredentialError(IdmintError):
    """Raised when the credentials of a request are not valid."""

    code = "credentials_invalid"
    http_status = 401
    status = "UNAUTHENTICATED"


class CredentialsMissingError(CredentialError):
    """Raised when a request that needs credentials carries none."""

    code = "credentials_missing"


class ApiKeyNotFoundError(CredentialError):
    """Raised when an API key names no workspace."""

    code = "api_key_not_found"
    http_status = 400
    status = "INVALID_ARGUMENT"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "API key not found.")


class AuthTokenNotFoundError(CredentialError):
    """Raised when an auth token is unknown."""

    code = "auth_token_not_found"
    http_status = 400
    status = "INVALID_ARGUMENT"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "Auth token not found.")


class AuthTokenRevokedError(CredentialError):
    """Raised when an auth token has been revoked."""

    code = "auth_token_revoked"
    http_status = 403
    status = "PERMISSION_DENIED"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "Auth token has been revoked.")


class AuthTokenExpiredError(CredentialError):
    """Raised when an auth token is past its expiry."""

    code = "auth_token_expired"
    http_status = 403
    status = "PERMISSION_DENIED"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "Auth token has expired.")


class AuthTokenWrongWorkspaceError(CredentialError):
    """Raised when an auth token belongs to another workspace than the API key names."""

    code = "auth_token_wrong_workspace"
    http_status = 403
    status = "PERMISSION_DENIED"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "Auth token does not belong to this API key's workspace.")


class AdminRequiredError(CredentialError):
    """Raised when an operation needs the admin credential or another workspace's token."""

    code = "admin_required"
    http_status = 403
    status = "PERMISSION_DENIED"


class NotFoundError(IdmintError):
    """Raised when a route or a record does not exist."""

    code = "not_found"
    http_status = 404
    status = "NOT_FOUND"


class UserNotFoundError(NotFoundError):
    """Raised when no user of the workspace has the given userId or email."""

    code = "user_not_found"


class WorkspaceNotFoundError(NotFoundError):
    """Raised when no workspace exists where one is needed."""

    code = "workspace_not_found"


class ConflictError(IdmintError):
    """Raised when a record to create already exists."""

    code = "conflict"
    http_status = 409
    status = "FAILED_PRECONDITION"


class WorkspaceExistsError(ConflictError):
    """Raised when initialising a data directory that already holds a workspace."""

    code = "workspace_exists"


class UserExistsError(ConflictError):
    """Raised when creating a user whose userId is taken in the workspace."""

    code = "user_exists"


class EmailTakenError(ConflictError):
    """Raised when a write would give a user an email that another user of the workspace holds."""

    code = "email_taken"


class EmailAmbiguousError(ConflictError):
    """Raised when minting by an email that several users held before emails became unique."""

    code = "email_ambiguous"


class IdentifyError(IdmintError):
    """Raised when identify refuses a user."""

    code = "identify_failed"
    http_status = 403
    status = "PERMISSION_DENIED"


class JwtRequiredError(IdentifyError):
    """Raised when identify has no token but the workspace requires one."""

    code = "jwt_required"
    http_status = 401
    status = "UNAUTHENTICATED"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "This workspace requires a JWT: pass authToken to identify().")


class OriginNotAllowedError(IdentifyError):
    """Raised when a browser on an origin outside the workspace's allowed domains calls identify."""

    code = "origin_not_allowed"

    def __init__(self, message: str | None = None, *, origin: str = "") -> None:
        self.origin = origin
        super().__init__(
            message or f"The origin {origin} is not among this workspace's allowed domains."
        )


class IdentityMismatchError(IdentifyError):
    """Raised when the user that identify names differs from the token's."""

    code = "identity_mismatch"
    field_name: ClassVar[str] = ""

    def __init__(self, message: str | None = None) -> None:
        self.field = self.field_name
        super().__init__(message or f"{self.field_name} does not match the token.")

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "field": self.field}


class UserMismatchError(IdentityMismatchError):
    """Raised when identify's userId is not the token's subject."""

    code = "user_mismatch"
    field_name = "userId"


class OrganizationMismatchError(IdentityMismatchError):
    """Raised when identify's organizationId is not the token's."""

    code = "organization_mismatch"
    field_name = "organizationId"


class EmailMismatchError(IdentityMismatchError):
    """Raised when identify's email is not the token's."""

    code = "email_mismatch"
    field_name = "email"


class MethodNotAllowedError(IdmintError):
    """Raised when a route does not take the request's method."""

    code = "method_not_allowed"
    http_status = 405
    status = "INVALID_ARGUMENT"


class UnavailableError(IdmintError):
    """Raised when the store cannot be reached."""

    code = "unavailable"
    http_status = 503
    status = "UNAVAILABLE"


class ConfigurationError(IdmintError):
    """Raised when idmint cannot start as configured: its store or master key is not usable."""

    code = "configuration_invalid"


class StoreNotFoundError(ConfigurationError):
    """Raised when a command other than ``idmint init`` finds no idmint store where the
    settings point."""

    code = "store_not_found"

    def __init__(self, message: str | None = None, *, location: str = "") -> None:
        self.location = location
        super().__init__(message or f"No idmint store at {location}: run `idmint init` first.")


class MasterKeyMissingError(ConfigurationError):
    """Raised when neither IDMINT_MASTER_KEY nor the master key file is there, and no new
    master key may be made."""

    code = "master_key_missing"

    def __init__(self, message: str | None = None, *, path: str = "") -> None:
        self.path = path
        super().__init__(
            message or f"No master key: IDMINT_MASTER_KEY is unset and {path} does not exist."
        )


class MasterKeyMismatchError(ConfigurationError):
    """Raised when the configured master key cannot open the signing keys the store holds."""

    code = "master_key_mismatch"

    def __init__(
        self,
        message: str | None = None,
        *,
        path: str = "",
        master_key_id: str = "",
        sealed_under: str = "",
    ) -> None:
        self.path = path
        self.master_key_id = master_key_id
        self.sealed_under = sealed_under
        super().__init__(
            message
            or f"The master key {master_key_id} cannot open this store's signing keys, sealed "
            f"under master key {sealed_under}: configure that key in IDMINT_MASTER_KEY or {path}."
        )


class InsecureFileModeError(ConfigurationError):
    """Raised when a secret file is readable or writable by users other than its owner."""

    code = "file_mode_insecure"

    def __init__(self, message: str | None = None, *, path: str = "", mode: int = 0) -> None:
        self.path = path
        self.mode = mode
        super().__init__(
            message
            or f"{path} is readable or writable by other users (mode {mode:04o}): "
            f"run `chmod 600 {path}`."
        )


def error_classes() -> list[type[IdmintError]]:
    """Every error class of the tree, root first; codes are unique across it."""
    found: list[type[IdmintError]] = []
    pending: list[type[IdmintError]] = [IdmintError]
    while pending:
        cls = pending.pop(0)
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found
