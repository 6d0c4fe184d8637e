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
    └── InvalidLifetimeError              lifetime_out_of_bounds
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

__all__ = [
    "AlgorithmMismatchError",
    "ClaimError",
    "ForbiddenHeaderError",
    "IdmintError",
    "InvalidAudienceError",
    "InvalidIssuerError",
    "InvalidKeyError",
    "InvalidLifetimeError",
    "InvalidSignatureError",
    "InvalidTokenTypeError",
    "KeyDecryptionError",
    "MalformedTokenError",
    "MissingClaimError",
    "NoActiveKeyError",
    "RetiredKeyError",
    "SigningKeyError",
    "TokenError",
    "TokenExpiredError",
    "TokenIssuedInFutureError",
    "TokenNotYetValidError",
    "TokenRevokedError",
    "TokenTooLargeError",
    "UnknownKeyError",
    "UnsecuredTokenError",
    "UnsupportedCriticalError",
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


def error_classes() -> list[type[IdmintError]]:
    """Every error class of the tree, root first; codes are unique across it."""
    found: list[type[IdmintError]] = []
    pending: list[type[IdmintError]] = [IdmintError]
    while pending:
        cls = pending.pop(0)
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found
