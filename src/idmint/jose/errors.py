"""The one exception tree of idmint.

Every error carries a stable snake_case ``code`` (a public contract: codes are never renamed) and
its context as attributes (``claim``, ``kid``, ``expired_at``), never only inside the message.
The context names of a class are listed in ``context_names``, and each is an optional keyword
of its constructor, so ``cls(message, **context)`` rebuilds any error (the client does this
from the server's envelope).  Errors know nothing of HTTP: the API maps each code to its
status (``idmint.api.errors``).

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
    │   └── InvalidEmailError             invalid_email
    ├── CredentialError                   credentials_invalid
    │   ├── CredentialsMissingError       credentials_missing
    │   ├── ApiKeyNotFoundError           api_key_not_found
    │   ├── AuthTokenNotFoundError        auth_token_not_found
    │   ├── AuthTokenRevokedError         auth_token_revoked
    │   ├── AuthTokenExpiredError         auth_token_expired
    │   ├── AuthTokenWrongWorkspaceError  auth_token_wrong_workspace
    │   ├── AuthTokenScopeError           auth_token_scope_missing
    │   ├── ScopeExceededError            auth_token_scope_exceeded
    │   ├── AdminRequiredError            admin_required
    │   └── SignInFailedError             sign_in_failed
    ├── RateLimitedError                  rate_limited
    ├── NotFoundError                     not_found
    │   ├── UserNotFoundError             user_not_found
    │   ├── WorkspaceNotFoundError        workspace_not_found
    │   └── AccountNotFoundError          account_not_found
    ├── ConflictError                     conflict
    │   ├── WorkspaceExistsError          workspace_exists
    │   ├── UserExistsError               user_exists
    │   ├── EmailTakenError               email_taken
    │   ├── EmailAmbiguousError           email_ambiguous
    │   ├── AccountExistsError            account_exists
    │   └── LastOwnerError                last_owner
    ├── IdentifyError                     identify_failed
    │   ├── JwtRequiredError              jwt_required
    │   ├── OriginNotAllowedError         origin_not_allowed
    │   └── IdentityMismatchError         identity_mismatch
    │       ├── UserMismatchError         user_mismatch
    │       ├── OrganizationMismatchError organization_mismatch
    │       └── EmailMismatchError        email_mismatch
    ├── UnavailableError                  unavailable
    └── ConfigurationError                configuration_invalid
        ├── StoreNotFoundError            store_not_found
        ├── StoreOutdatedError            store_outdated
        ├── MasterKeyMissingError         master_key_missing
        ├── MasterKeyMismatchError        master_key_mismatch
        └── InsecureFileModeError         file_mode_insecure
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

__all__ = [
    "AccountExistsError",
    "AccountNotFoundError",
    "AdminRequiredError",
    "AlgorithmMismatchError",
    "ApiKeyNotFoundError",
    "AuthTokenExpiredError",
    "AuthTokenNotFoundError",
    "AuthTokenRevokedError",
    "AuthTokenScopeError",
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
    "LastOwnerError",
    "MalformedTokenError",
    "MasterKeyMismatchError",
    "MasterKeyMissingError",
    "MissingClaimError",
    "NoActiveKeyError",
    "NotFoundError",
    "OrganizationMismatchError",
    "OriginNotAllowedError",
    "RateLimitedError",
    "RetiredKeyError",
    "ScopeExceededError",
    "SignInFailedError",
    "SigningKeyError",
    "StoreNotFoundError",
    "StoreOutdatedError",
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
    #: The context attributes this class carries, each an optional keyword of its constructor.
    context_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message()
        super().__init__(self.message)

    def default_message(self) -> str:
        """The message when none is given: from the context, else the docstring's first line."""
        return (self.__doc__ or self.code).strip().splitlines()[0]

    @property
    def context(self) -> dict[str, object]:
        """The context attributes that are set (``None`` ones left out), by name."""
        found = {name: getattr(self, name, None) for name in self.context_names}
        return {name: value for name, value in found.items() if value is not None}


class TokenError(IdmintError):
    """Raised when a presented user token is not valid."""

    code = "token_invalid"


class MalformedTokenError(TokenError):
    """Raised when a token is not a canonical compact JWS with JSON header and claims."""

    code = "token_malformed"


class TokenTooLargeError(TokenError):
    """Raised when a token, its header or its payload exceeds the size caps."""

    code = "token_too_large"
    context_names = ("part", "limit")

    def __init__(
        self, message: str | None = None, *, part: str | None = None, limit: int | None = None
    ) -> None:
        self.part = part
        self.limit = limit
        super().__init__(message)

    def default_message(self) -> str:
        return f"The token's {self.part or 'token'} exceeds {self.limit} bytes."


class UnsecuredTokenError(TokenError):
    """Raised when a token claims the 'none' algorithm (in any letter case)."""

    code = "token_alg_none"


class AlgorithmMismatchError(TokenError):
    """Raised when a token's alg is not the algorithm of the key that its kid selects."""

    code = "token_alg_mismatch"
    context_names = ("alg", "expected")

    def __init__(
        self, message: str | None = None, *, alg: object = None, expected: str | None = None
    ) -> None:
        self.alg = alg
        self.expected = expected
        super().__init__(message)

    def default_message(self) -> str:
        return f"The token's algorithm {self.alg!r} is not its key's: expected {self.expected}."


class UnknownKeyError(TokenError):
    """Raised when a token's kid names no published key."""

    code = "token_unknown_kid"
    context_names = ("kid",)

    def __init__(self, message: str | None = None, *, kid: object = None) -> None:
        self.kid = kid
        super().__init__(message)

    def default_message(self) -> str:
        return f"No published key has kid {self.kid!r}."


class RetiredKeyError(UnknownKeyError):
    """Raised when a token was signed by a key that has been retired."""

    code = "token_key_retired"

    def default_message(self) -> str:
        return f"The key {self.kid!r} that signed this token is retired."


class ForbiddenHeaderError(TokenError):
    """Raised when a token carries a key-carrying header (jku, x5u, jwk, x5c) or another we refuse."""

    code = "token_header_forbidden"
    context_names = ("header",)

    def __init__(self, message: str | None = None, *, header: str | None = None) -> None:
        self.header = header
        super().__init__(message)

    def default_message(self) -> str:
        return f"The token header {self.header!r} is not accepted."


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
    context_names: ClassVar[tuple[str, ...]] = ("claim",)
    #: The claim this class is about, when it is always the same one.
    claim_name: ClassVar[str | None] = None

    def __init__(self, message: str | None = None, *, claim: str | None = None) -> None:
        self.claim = claim if claim is not None else self.claim_name
        super().__init__(message)

    def default_message(self) -> str:
        return f"The claim {self.claim!r} is not valid."


class MissingClaimError(ClaimError):
    """Raised when a required claim is absent."""

    code = "token_claim_missing"

    def default_message(self) -> str:
        return f"The token has no {self.claim!r} claim."


class TokenExpiredError(ClaimError):
    """Raised when a token's exp lies in the past beyond the leeway."""

    code = "token_expired"
    context_names = ("claim", "expired_at")
    claim_name = "exp"

    def __init__(
        self,
        message: str | None = None,
        *,
        claim: str | None = None,
        expired_at: datetime | None = None,
    ) -> None:
        self.expired_at = expired_at
        super().__init__(message, claim=claim)

    def default_message(self) -> str:
        if self.expired_at is None:
            return "The token has expired."
        return f"The token expired at {self.expired_at.isoformat()}."


class TokenNotYetValidError(ClaimError):
    """Raised when a token's nbf lies in the future beyond the leeway."""

    code = "token_not_yet_valid"
    context_names = ("claim", "not_before")
    claim_name = "nbf"

    def __init__(
        self,
        message: str | None = None,
        *,
        claim: str | None = None,
        not_before: datetime | None = None,
    ) -> None:
        self.not_before = not_before
        super().__init__(message, claim=claim)

    def default_message(self) -> str:
        if self.not_before is None:
            return "The token is not valid yet."
        return f"The token is not valid before {self.not_before.isoformat()}."


class TokenIssuedInFutureError(ClaimError):
    """Raised when a token's iat lies in the future beyond the leeway."""

    code = "token_issued_in_future"
    context_names = ("claim", "issued_at")
    claim_name = "iat"

    def __init__(
        self,
        message: str | None = None,
        *,
        claim: str | None = None,
        issued_at: datetime | None = None,
    ) -> None:
        self.issued_at = issued_at
        super().__init__(message, claim=claim)

    def default_message(self) -> str:
        if self.issued_at is None:
            return "The token claims to be issued in the future."
        return f"The token claims to be issued at {self.issued_at.isoformat()}, in the future."


class InvalidAudienceError(ClaimError):
    """Raised when a token's aud does not contain the expected audience."""

    code = "token_audience_invalid"
    context_names = ("claim", "expected", "found")
    claim_name = "aud"

    def __init__(
        self,
        message: str | None = None,
        *,
        claim: str | None = None,
        expected: str | None = None,
        found: object = None,
    ) -> None:
        self.expected = expected
        self.found = found
        super().__init__(message, claim=claim)

    def default_message(self) -> str:
        if self.expected is None:
            return "The token is not meant for this audience."
        return (
            f"The token is meant for audience {self.found!r}, not for {self.expected!r} "
            "(a token of another workspace?)."
        )


class InvalidIssuerError(ClaimError):
    """Raised when a token's iss is not exactly the expected issuer."""

    code = "token_issuer_invalid"
    context_names = ("claim", "expected", "found")
    claim_name = "iss"

    def __init__(
        self,
        message: str | None = None,
        *,
        claim: str | None = None,
        expected: str | None = None,
        found: object = None,
    ) -> None:
        self.expected = expected
        self.found = found
        super().__init__(message, claim=claim)

    def default_message(self) -> str:
        if self.expected is None:
            return "The token was issued by someone else."
        return (
            f"The token was issued by {self.found!r}, expected {self.expected!r} (issuers "
            "are compared exactly: scheme, host, port and path)."
        )


class SigningKeyError(IdmintError):
    """Raised when a key cannot be used."""

    code = "key_error"


class InvalidKeyError(SigningKeyError):
    """Raised when a key (PEM or JWK) is malformed, weak or inconsistent."""

    code = "key_invalid"


class NoActiveKeyError(SigningKeyError):
    """Raised when a key ring has no active key to sign with."""

    code = "key_no_active"


class KeyDecryptionError(SigningKeyError):
    """Raised when an encrypted private key cannot be decrypted with the master key."""

    code = "key_decryption_failed"


class InvalidLifetimeError(IdmintError):
    """Raised when a requested token lifetime lies outside the allowed bounds."""

    code = "lifetime_out_of_bounds"


class InvalidArgumentError(IdmintError):
    """Raised when a request is malformed or a field is missing, empty or of the wrong type."""

    code = "invalid_argument"
    context_names: ClassVar[tuple[str, ...]] = ("field",)

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class InvalidEmailError(InvalidArgumentError):
    """Raised when an email address is not a plausible address."""

    code = "invalid_email"


class CredentialError(IdmintError):
    """Raised when the credentials of a request are not valid."""

    code = "credentials_invalid"


class CredentialsMissingError(CredentialError):
    """Raised when a request that needs credentials carries none."""

    code = "credentials_missing"


class ApiKeyNotFoundError(CredentialError):
    """Raised when an API key names no workspace."""

    code = "api_key_not_found"

    def default_message(self) -> str:
        return "API key not found."


class AuthTokenNotFoundError(CredentialError):
    """Raised when an auth token is unknown."""

    code = "auth_token_not_found"

    def default_message(self) -> str:
        return "Auth token not found."


class AuthTokenRevokedError(CredentialError):
    """Raised when an auth token has been revoked."""

    code = "auth_token_revoked"

    def default_message(self) -> str:
        return "Auth token has been revoked."


class AuthTokenExpiredError(CredentialError):
    """Raised when an auth token is past its expiry."""

    code = "auth_token_expired"

    def default_message(self) -> str:
        return "Auth token has expired."


class AuthTokenWrongWorkspaceError(CredentialError):
    """Raised when an auth token belongs to another workspace than the API key names."""

    code = "auth_token_wrong_workspace"

    def default_message(self) -> str:
        return "Auth token does not belong to this API key's workspace."


class AuthTokenScopeError(CredentialError):
    """Raised when an auth token is used for what its scopes do not allow (minting with an
    admin-only token, the admin API with a mint-only one)."""

    code = "auth_token_scope_missing"
    context_names = ("scope",)

    def __init__(self, message: str | None = None, *, scope: str | None = None) -> None:
        self.scope = scope
        super().__init__(message)

    def default_message(self) -> str:
        return f"This auth token lacks the {self.scope!r} scope."


class ScopeExceededError(CredentialError):
    """Raised when an auth token would create a token with more scopes than its own, or one
    that outlives it."""

    code = "auth_token_scope_exceeded"


class AdminRequiredError(CredentialError):
    """Raised when an operation needs the admin credential or another workspace's token."""

    code = "admin_required"


class SignInFailedError(CredentialError):
    """Raised when a console sign-in's email or password is wrong (which of the two is never
    said), or the account is disabled."""

    code = "sign_in_failed"

    def default_message(self) -> str:
        return "The email or the password is wrong."


class RateLimitedError(IdmintError):
    """Raised when a caller has failed too often (guessing credentials) or a workspace has
    used its mint quota; ``retry_after`` says when to try again."""

    code = "rate_limited"
    context_names = ("retry_after",)

    def __init__(self, message: str | None = None, *, retry_after: int | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)

    def default_message(self) -> str:
        if self.retry_after is None:
            return "Too many requests: try again later."
        return f"Too many requests: try again in {self.retry_after} s."


class NotFoundError(IdmintError):
    """Raised when a route or a record does not exist."""

    code = "not_found"


class UserNotFoundError(NotFoundError):
    """Raised when no user of the workspace has the given userId or email."""

    code = "user_not_found"


class WorkspaceNotFoundError(NotFoundError):
    """Raised when no workspace exists where one is needed."""

    code = "workspace_not_found"


class AccountNotFoundError(NotFoundError):
    """Raised when no console account has the given email or id."""

    code = "account_not_found"

    def default_message(self) -> str:
        return "No console account has this email."


class ConflictError(IdmintError):
    """Raised when a record to create already exists."""

    code = "conflict"


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


class AccountExistsError(ConflictError):
    """Raised when creating a console account whose email another account holds."""

    code = "account_exists"

    def default_message(self) -> str:
        return "A console account with this email exists."


class LastOwnerError(ConflictError):
    """Raised when a change would leave the console without an owner (deleting the last one,
    or making it a member)."""

    code = "last_owner"

    def default_message(self) -> str:
        return "This is the console's last owner: make another account owner first."


class IdentifyError(IdmintError):
    """Raised when identify refuses a user."""

    code = "identify_failed"


class JwtRequiredError(IdentifyError):
    """Raised when identify has no token but the workspace requires one."""

    code = "jwt_required"

    def default_message(self) -> str:
        return "This workspace requires a JWT: pass authToken to identify()."


class OriginNotAllowedError(IdentifyError):
    """Raised when a browser on an origin outside the workspace's allowed domains calls identify."""

    code = "origin_not_allowed"
    context_names = ("origin",)

    def __init__(self, message: str | None = None, *, origin: str | None = None) -> None:
        self.origin = origin
        super().__init__(message)

    def default_message(self) -> str:
        return f"The origin {self.origin} is not among this workspace's allowed domains."


class IdentityMismatchError(IdentifyError):
    """Raised when the user that identify names differs from the token's."""

    code = "identity_mismatch"
    context_names = ("field",)
    #: The member of identify's user object this class is about.
    field_name: ClassVar[str] = ""

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.field = field if field is not None else self.field_name
        super().__init__(message)

    def default_message(self) -> str:
        return f"{self.field} does not match the token."


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


class UnavailableError(IdmintError):
    """Raised when the store cannot be reached."""

    code = "unavailable"


class ConfigurationError(IdmintError):
    """Raised when idmint cannot start as configured: its store or master key is not usable."""

    code = "configuration_invalid"


class StoreNotFoundError(ConfigurationError):
    """Raised when a command other than ``idmint init`` finds no idmint store where the
    settings point."""

    code = "store_not_found"
    context_names = ("location",)

    def __init__(self, message: str | None = None, *, location: str | None = None) -> None:
        self.location = location
        super().__init__(message)

    def default_message(self) -> str:
        return f"No idmint store at {self.location}: run `idmint init` first."


class StoreOutdatedError(ConfigurationError):
    """Raised when the store's schema is older than this idmint's and the command may not
    upgrade it (only ``idmint migrate`` and ``idmint serve --migrate`` do)."""

    code = "store_outdated"
    context_names = ("revision", "head")

    def __init__(
        self, message: str | None = None, *, revision: str | None = None, head: str | None = None
    ) -> None:
        self.revision = revision
        self.head = head
        super().__init__(message)

    def default_message(self) -> str:
        return (
            f"The store's schema is at revision {self.revision}, behind this idmint's "
            f"{self.head}: run `idmint migrate` first (once, with every server stopped or "
            "about to be upgraded)."
        )


class MasterKeyMissingError(ConfigurationError):
    """Raised when neither IDMINT_MASTER_KEY nor the master key file is there, and no new
    master key may be made."""

    code = "master_key_missing"
    context_names = ("path",)

    def __init__(self, message: str | None = None, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(message)

    def default_message(self) -> str:
        return f"No master key: IDMINT_MASTER_KEY is unset and {self.path} does not exist."


class MasterKeyMismatchError(ConfigurationError):
    """Raised when the configured master key cannot open the signing keys the store holds."""

    code = "master_key_mismatch"
    context_names = ("path", "master_key_id", "sealed_under")

    def __init__(
        self,
        message: str | None = None,
        *,
        path: str | None = None,
        master_key_id: str | None = None,
        sealed_under: str | None = None,
    ) -> None:
        self.path = path
        self.master_key_id = master_key_id
        self.sealed_under = sealed_under
        super().__init__(message)

    def default_message(self) -> str:
        return (
            f"The master key {self.master_key_id} cannot open this store's signing keys, sealed "
            f"under master key {self.sealed_under}: configure that key in IDMINT_MASTER_KEY or "
            f"{self.path}."
        )


class InsecureFileModeError(ConfigurationError):
    """Raised when a secret file is readable or writable by users other than its owner."""

    code = "file_mode_insecure"
    context_names = ("path", "mode")

    def __init__(
        self, message: str | None = None, *, path: str | None = None, mode: int | None = None
    ) -> None:
        self.path = path
        self.mode = mode
        super().__init__(message)

    def default_message(self) -> str:
        return (
            f"{self.path} is readable or writable by other users (mode {self.mode or 0:04o}): "
            f"run `chmod 600 {self.path}`."
        )


def error_classes() -> list[type[IdmintError]]:
    """Every error class of this tree, root first; codes are unique across it.  (Subclasses
    defined elsewhere, such as the API's HTTP-only errors, are not part of it.)"""
    found: list[type[IdmintError]] = []
    pending: list[type[IdmintError]] = [IdmintError]
    while pending:
        cls = pending.pop(0)
        if cls.__module__ == __name__:
            found.append(cls)
        pending.extend(cls.__subclasses__())
    return found
