"""The two use cases on the hot path: mint a user token, and identify a user with one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from idmint.clock import Clock
from idmint.errors import (
    ApiKeyNotFoundError,
    EmailMismatchError,
    IdmintError,
    JwtRequiredError,
    OrganizationMismatchError,
    OriginNotAllowedError,
    UserMismatchError,
    UserNotFoundError,
)
from idmint.service._ids import new_id
from idmint.service.audit import AuditLog
from idmint.service.keys import KeyService
from idmint.service.origins import origin_allowed
from idmint.service.revocations import RevocationService
from idmint.service.users import UserService
from idmint.service.validation import check_email, check_id
from idmint.service.workspaces import WorkspaceService
from idmint.store import Store, User, Workspace, email_key
from idmint.tokens import MintedToken, VerifiedToken

__all__ = ["IdentifiedSession", "TokenService"]

# Identify fields with a column of their own; anything else the client sends is profile data.
_USER_COLUMNS = {
    "userId": "user_id",
    "organizationId": "organization_id",
    "email": "email",
    "name": "name",
    "photoUrl": "photo_url",
}
# Never taken from identify: admin rights come only from a minted token.
_IGNORED_FROM_IDENTIFY = {"isAdmin", "is_admin"}


@dataclass(frozen=True, slots=True)
class IdentifiedSession:
    """The answer to identify."""

    id: str
    user: dict[str, Any]
    organization_id: str | None
    is_admin: bool
    expires_at: float
    verified: bool
    claims: dict[str, Any] = field(default_factory=dict)


class TokenService:
    """Mints tokens (both API shapes), identifies users, verifies tokens."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        audit: AuditLog,
        workspaces: WorkspaceService,
        keys: KeyService,
        users: UserService,
        revocations: RevocationService,
    ) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit
        self._workspaces = workspaces
        self._keys = keys
        self._users = users
        self._revocations = revocations

    def mint(
        self,
        api_key: str,
        auth_token: str,
        user_id: str,
        *,
        organization_id: str | None = None,
        email: str | None = None,
        is_admin: bool = False,
        expires_in: int | None = None,
    ) -> MintedToken:
        """Mint a token for ``user_id`` with an API key and auth token (the first API shape).

        :raises CredentialError: for a bad API key or auth token (see ``authenticate``).
        :raises InvalidLifetimeError: for an ``expires_in`` outside the workspace's bounds.
        :raises UserNotFoundError: with auto-create off and an unknown user.
        """
        workspace, actor = self._authenticate(api_key, auth_token, user_id)
        return self.issue(
            workspace,
            user_id,
            actor=actor,
            organization_id=organization_id,
            email=email,
            is_admin=is_admin,
            expires_in=expires_in,
        )

    def mint_for_email(self, api_key: str, auth_token: str, email: str) -> tuple[MintedToken, User]:
        """Mint a token for the existing user with ``email`` (the second API shape).

        :raises InvalidEmailError: for a malformed email.
        :raises UserNotFoundError: when no user has it (no user is created).
        """
        workspace, actor = self._authenticate(api_key, auth_token, None)
        return self.issue_for_email(workspace, email, actor=actor)

    def _authenticate(
        self, api_key: str, auth_token: str, user_id: object
    ) -> tuple[Workspace, str]:
        try:
            workspace, credential = self._workspaces.authenticate(api_key, auth_token)
        except IdmintError as exc:
            # Attempts with a revoked or foreign auth token belong in the named workspace's log.
            known = None if isinstance(exc, ApiKeyNotFoundError) else self._workspaces.get(api_key)
            self._audit.record(
                "token.mint",
                workspace_id=known.id if known is not None else None,
                actor="unknown",
                outcome="failure",
                reason_code=exc.code,
                subject=user_id if isinstance(user_id, str) else None,
            )
            raise
        return workspace, f"auth_token:{credential.id}"

    def issue(
        self,
        workspace: Workspace,
        user_id: str,
        *,
        actor: str,
        organization_id: str | None = None,
        email: str | None = None,
        is_admin: bool = False,
        expires_in: int | None = None,
    ) -> MintedToken:
        """Mint for a caller already trusted with ``workspace`` (after ``authenticate``, or the
        local CLI).  With auto-create on (the default) the user is created or updated with the
        given organization, email and admin flag; otherwise the user must exist.  Audited.
        """
        try:
            check_id(user_id, "userId")
            if organization_id is not None:
                check_id(organization_id, "organizationId")
            if email is not None:
                check_email(email)
            keys = self._keys.for_workspace(workspace)
            if expires_in is not None:
                keys.minter.bounds.check(expires_in)
            self._sync_user(workspace, user_id, organization_id, email, is_admin)
            minted = keys.minter.mint(
                user_id,
                organization_id=organization_id,
                email=email,
                is_admin=is_admin,
                lifetime=expires_in,
            )
        except IdmintError as exc:
            self._audit_failure(workspace, actor, exc, user_id)
            raise
        self._audit_success(workspace, actor, minted)
        return minted

    def issue_for_email(
        self, workspace: Workspace, email: str, *, actor: str, expires_in: int | None = None
    ) -> tuple[MintedToken, User]:
        """Mint for the existing user with ``email``, with their stored organization, email and
        admin flag; never creates a user.  Audited."""
        try:
            user = self._users.by_email(workspace.api_key, email)
            minted = self._keys.for_workspace(workspace).minter.mint(
                user.user_id,
                organization_id=user.organization_id,
                email=user.email,
                is_admin=user.is_admin,
                lifetime=expires_in,
            )
        except IdmintError as exc:
            self._audit_failure(workspace, actor, exc, None)
            raise
        self._audit_success(workspace, actor, minted)
        return minted, user

    def _audit_success(self, workspace: Workspace, actor: str, minted: MintedToken) -> None:
        self._audit.record(
            "token.mint",
            workspace_id=workspace.id,
            actor=actor,
            subject=str(minted.claims["sub"]),
            jti=minted.jti,
            kid=minted.kid,
            expires_at=minted.expires_at,
        )

    def _audit_failure(
        self, workspace: Workspace, actor: str, exc: IdmintError, user_id: object
    ) -> None:
        self._audit.record(
            "token.mint",
            workspace_id=workspace.id,
            actor=actor,
            outcome="failure",
            reason_code=exc.code,
            subject=user_id if isinstance(user_id, str) else None,
        )

    def _sync_user(
        self,
        workspace: Workspace,
        user_id: str,
        organization_id: str | None,
        email: str | None,
        is_admin: bool,
    ) -> None:
        if not workspace.auto_create_users and self._store.user(workspace.id, user_id) is None:
            raise UserNotFoundError(
                f"User {user_id!r} not found, and this workspace does not create users on mint."
            )
        values: dict[str, Any] = {"is_admin": is_admin}
        if organization_id is not None:
            values["organization_id"] = organization_id
        if email is not None:
            values["email"] = email
        self._write_user(workspace.id, user_id, values)

    def _write_user(self, workspace_id: str, user_id: str, values: dict[str, Any]) -> None:
        """Create or update the user (buffered with write-behind), and drop what the email
        look-up cached that this changes."""
        self._store.upsert_user(workspace_id, user_id, values, self._clock.now())
        self._users.changed(workspace_id, user_id, values)

    def verify(self, api_key: str, token: str) -> VerifiedToken:
        """Verify a token of the workspace: signature, claims and revocation."""
        return self._verify(self._workspaces.get(api_key), token)

    def _verify(self, workspace: Workspace, token: str) -> VerifiedToken:
        verified = self._keys.for_workspace(workspace).verifier.verify(token)
        self._revocations.check(workspace, verified.claims)
        return verified

    def identify(
        self,
        api_key: str,
        user: dict[str, Any],
        auth_token: str | None,
        *,
        origin: str | None = None,
    ) -> IdentifiedSession:
        """Identify a user, with the token that proves who they are.

        Checks the token (signature, expiry, audience, issuer, revocation), then that
        ``userId`` is its subject and that ``organizationId`` and ``email`` equal the token's
        where the token carries them.  Without a token, identify succeeds only when the
        workspace does not require one (development mode; the session says so).

        :raises OriginNotAllowedError: ``origin`` (a browser's) is not an allowed domain.
        :raises JwtRequiredError: no token, and the workspace requires one.
        :raises TokenError: the token is not valid (expired: ``token_expired``).
        :raises IdentityMismatchError: ``user_mismatch``, ``organization_mismatch`` or
            ``email_mismatch``, naming the field.
        """
        workspace = self._workspaces.get(api_key)
        claimed = user.get("userId")
        try:
            self.check_origin(workspace, origin)
            user_id = check_id(claimed, "user.userId")
            if auth_token is None:
                if workspace.require_jwt:
                    raise JwtRequiredError()
                claims: dict[str, Any] = {}
                is_admin, verified, jti = False, False, None
                expires_at = self._clock.now() + workspace.token_ttl_seconds
                organization_id = user.get("organizationId")
            else:
                result = self._verify(workspace, auth_token)
                token_claims = result.claims
                if token_claims.subject != user_id:
                    raise UserMismatchError()
                if token_claims.organization_id is not None and (
                    user.get("organizationId") != token_claims.organization_id
                ):
                    raise OrganizationMismatchError()
                if token_claims.email is not None and (
                    not isinstance(user.get("email"), str)
                    or email_key(user["email"]) != email_key(token_claims.email)
                ):
                    raise EmailMismatchError()
                claims = dict(token_claims.raw)
                is_admin, verified, jti = token_claims.is_admin, True, token_claims.jti
                expires_at = float(token_claims.expires_at)
                organization_id = token_claims.organization_id or user.get("organizationId")
        except IdmintError as exc:
            subject = claimed[:256] if isinstance(claimed, str) else None
            self._audit.record(
                "identify",
                workspace_id=workspace.id,
                actor=f"user:{subject}",
                outcome="failure",
                reason_code=exc.code,
                subject=subject,
            )
            raise
        profile = self._store_profile(workspace, user_id, user)
        session_id = new_id("ses")
        self._store.add_session(
            {
                "id": session_id,
                "workspace_id": workspace.id,
                "user_id": user_id,
                "jti": jti,
                "verified": verified,
                "is_admin": is_admin,
                "expires_at": expires_at,
                "created_at": self._clock.now(),
                "ended_at": None,
            }
        )
        return IdentifiedSession(
            id=session_id,
            user=profile,
            organization_id=organization_id if isinstance(organization_id, str) else None,
            is_admin=is_admin,
            expires_at=expires_at,
            verified=verified,
            claims=claims,
        )

    def _store_profile(
        self, workspace: Workspace, user_id: str, user: dict[str, Any]
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for name, value in user.items():
            if name in _IGNORED_FROM_IDENTIFY or name == "userId":
                continue
            column = _USER_COLUMNS.get(name)
            if column is None:
                extra[name] = value
            elif isinstance(value, str):
                values[column] = value
        if extra:
            values["profile"] = extra
        self._write_user(workspace.id, user_id, values)
        return {
            "userId": user_id,
            **{k: v for k, v in user.items() if k not in _IGNORED_FROM_IDENTIFY},
        }

    @staticmethod
    def check_origin(workspace: Workspace, origin: str | None) -> None:
        """:raises OriginNotAllowedError: when a browser's ``Origin`` is not an allowed domain."""
        if origin is not None and not origin_allowed(origin, workspace.allowed_domains or []):
            raise OriginNotAllowedError(origin=origin[:256])

    def sign_out(self, api_key: str, session_id: str, *, origin: str | None = None) -> bool:
        """End a session; returns whether one was open."""
        workspace = self._workspaces.get(api_key)
        self.check_origin(workspace, origin)
        return self._store.end_sessions(workspace.id, self._clock.now(), session_id=session_id) > 0
