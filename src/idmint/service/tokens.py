"""The use cases on the hot path: mint a user token, and identify a user with one.

Only authenticated callers assert identity.  A user's trusted attributes (``userId``,
``email``, ``organizationId``, ``isAdmin``) are written by the mint routes, the admin API and
the CLI alone; identify never writes them, in any mode.  What identify may store (``name``,
``photoUrl``, other members) is the user's untrusted profile, kept in a table of its own and
never put into a token.  A session's organization and admin flag come from the token; without
one (development mode) the session says it is unverified and is never admin.

Each use case returns a :class:`~idmint.service._pending.Pending`: the result, and the writes
it submitted to group commit; the caller answers once they are committed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from idmint.jose.clock import Clock
from idmint.jose.errors import (
    ApiKeyNotFoundError,
    EmailMismatchError,
    EmailTakenError,
    IdmintError,
    JwtRequiredError,
    OrganizationMismatchError,
    OriginNotAllowedError,
    UserMismatchError,
    UserNotFoundError,
)
from idmint.jose.tokens import MintedToken, VerifiedToken
from idmint.service._ids import new_id
from idmint.service._pending import Pending
from idmint.service.audit import AuditLog
from idmint.service.keys import KeyService
from idmint.service.origins import origin_allowed
from idmint.service.revocations import RevocationService
from idmint.service.users import UserService
from idmint.service.validation import check_email, check_id
from idmint.service.workspaces import WorkspaceService
from idmint.store import AuditRow, Store, Unit, User, UserColumns, Workspace, email_key

__all__ = ["IdentifiedSession", "TokenService"]

# Members of identify's user object that name who the user is: checked against the token,
# never stored from identify.  Everything else the client sends is its untrusted profile.
_IDENTITY_MEMBERS = frozenset({"userId", "organizationId", "email", "isAdmin", "is_admin"})


@dataclass(frozen=True, slots=True)
class IdentifiedSession:
    """The answer to identify.

    :param user: ``userId``, and ``organizationId`` and ``email`` as the token proves them
        (absent when it carries none; the client's own claims in development mode), then the
        untrusted profile members as the client sent them.
    """

    id: str
    user: dict[str, Any]
    organization_id: str | None
    is_admin: bool
    expires_at: float
    verified: bool
    claims: dict[str, Any] = field(default_factory=dict)


class TokenService:
    """Mints tokens (by user id and by email), identifies users, verifies tokens.

    :param commit_timeout: how long a request waits for its writes to be committed before it
        is answered ``unavailable`` (``IDMINT_COMMIT_TIMEOUT_SECONDS``); the writes are then
        withdrawn, never written later.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        audit: AuditLog,
        workspaces: WorkspaceService,
        keys: KeyService,
        users: UserService,
        revocations: RevocationService,
        *,
        commit_timeout: float = 5.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit
        self._workspaces = workspaces
        self._keys = keys
        self._users = users
        self._revocations = revocations
        self._commit_timeout = commit_timeout

    # --- mint by user id ------------------------------------------------------------------------

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
        """Mint a token for ``user_id`` with an API key and auth token (``POST
        /v1/auth/token/get``), once its user change and audit event are committed.

        :raises CredentialError: for a bad API key or auth token (see ``authenticate``).
        :raises InvalidLifetimeError: for an ``expires_in`` outside the workspace's bounds.
        :raises UserNotFoundError: with auto-create off and an unknown user.
        :raises EmailTakenError: when another user of the workspace holds ``email``.
        """
        return self.start_mint(
            api_key,
            auth_token,
            user_id,
            organization_id=organization_id,
            email=email,
            is_admin=is_admin,
            expires_in=expires_in,
        ).result()

    def start_mint(
        self,
        api_key: str,
        auth_token: str,
        user_id: str,
        *,
        organization_id: str | None = None,
        email: str | None = None,
        is_admin: bool = False,
        expires_in: int | None = None,
    ) -> Pending[MintedToken]:
        """:meth:`mint`, returning before the commit (wait on the result)."""
        workspace, actor = self._authenticate(api_key, auth_token, user_id)
        return self.start_issue(
            workspace,
            user_id,
            actor=actor,
            organization_id=organization_id,
            email=email,
            is_admin=is_admin,
            expires_in=expires_in,
        )

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
        return self.start_issue(
            workspace,
            user_id,
            actor=actor,
            organization_id=organization_id,
            email=email,
            is_admin=is_admin,
            expires_in=expires_in,
        ).result()

    def start_issue(
        self,
        workspace: Workspace,
        user_id: str,
        *,
        actor: str,
        organization_id: str | None = None,
        email: str | None = None,
        is_admin: bool = False,
        expires_in: int | None = None,
    ) -> Pending[MintedToken]:
        """:meth:`issue`, returning before the commit (wait on the result)."""
        try:
            check_id(user_id, "userId")
            if organization_id is not None:
                check_id(organization_id, "organizationId")
            if email is not None:
                check_email(email)
            keys = self._keys.for_workspace(workspace)
            if expires_in is not None:
                keys.minter.bounds.check(expires_in)
            values = self._trusted_values(workspace, user_id, organization_id, email, is_admin)
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
        unit = self._unit()
        unit.upsert_user(workspace.id, user_id, values, self._clock.now())
        unit.add_audit(self._success_event(workspace, actor, minted))

        def committed() -> None:
            self._users.changed(workspace.id, user_id, values)

        return Pending(
            minted,
            self._store,
            self._store.submit(unit),
            committed,
            lambda exc: self._audit_failure(workspace, actor, exc, user_id),
        )

    def _trusted_values(
        self,
        workspace: Workspace,
        user_id: str,
        organization_id: str | None,
        email: str | None,
        is_admin: bool,
    ) -> UserColumns:
        """The user columns a mint writes (the caller is authenticated).

        :raises UserNotFoundError: with auto-create off and an unknown user.
        :raises EmailTakenError: when users shared ``email`` before emails became unique and
            ``user_id`` is not one of them (a holder is refused by the unique index).
        """
        if not workspace.auto_create_users and self._store.user(workspace.id, user_id) is None:
            raise UserNotFoundError(
                f"User {user_id!r} not found, and this workspace does not create users on mint."
            )
        values: UserColumns = {"is_admin": is_admin}
        if organization_id is not None:
            values["organization_id"] = organization_id
        if email is not None:
            key = email_key(email)
            if self._store.contested(workspace.id, key):
                sharers = {user.user_id for user in self._store.email_sharers(workspace.id, key)}
                if sharers and user_id not in sharers:
                    raise EmailTakenError("Another user of this workspace has this email.")
                if sharers:
                    values["email"] = email  # still shared: stays marked until resolved
                    return values
            values.update({"email": email, "email_key": key, "email_conflict": None})
        return values

    # --- mint by email ----------------------------------------------------------------------------

    def mint_for_email(self, api_key: str, auth_token: str, email: str) -> tuple[MintedToken, User]:
        """Mint a token for the existing user with ``email`` (``POST /api/v1/tokens``).

        :raises InvalidEmailError: for a malformed email.
        :raises UserNotFoundError: when no user has it (no user is created).
        :raises EmailAmbiguousError: when several users shared it before emails became unique.
        """
        return self.start_mint_for_email(api_key, auth_token, email).result()

    def start_mint_for_email(
        self, api_key: str, auth_token: str, email: str
    ) -> Pending[tuple[MintedToken, User]]:
        """:meth:`mint_for_email`, returning before the commit (wait on the result)."""
        workspace, actor = self._authenticate(api_key, auth_token, None)
        return self.start_issue_for_email(workspace, email, actor=actor)

    def issue_for_email(
        self, workspace: Workspace, email: str, *, actor: str, expires_in: int | None = None
    ) -> tuple[MintedToken, User]:
        """Mint for the existing user with ``email``, with their stored organization, email and
        admin flag; never creates a user.  Audited."""
        return self.start_issue_for_email(
            workspace, email, actor=actor, expires_in=expires_in
        ).result()

    def start_issue_for_email(
        self, workspace: Workspace, email: str, *, actor: str, expires_in: int | None = None
    ) -> Pending[tuple[MintedToken, User]]:
        """:meth:`issue_for_email`, returning before the commit (wait on the result)."""
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
        unit = self._unit()
        unit.add_audit(self._success_event(workspace, actor, minted))
        return Pending(
            (minted, user),
            self._store,
            self._store.submit(unit),
            None,
            lambda exc: self._audit_failure(workspace, actor, exc, None),
        )

    # --- shared by both mints -------------------------------------------------------------------

    def _authenticate(
        self, api_key: str, auth_token: str, user_id: object
    ) -> tuple[Workspace, str]:
        try:
            workspace, credential = self._workspaces.authenticate(api_key, auth_token)
        except IdmintError as exc:
            # Attempts with a revoked or foreign auth token belong in the named workspace's log.
            known = None if isinstance(exc, ApiKeyNotFoundError) else self._workspaces.get(api_key)
            self._audit.queue(
                "token.mint",
                workspace_id=known.id if known is not None else None,
                actor="unknown",
                outcome="failure",
                reason_code=exc.code,
                subject=user_id if isinstance(user_id, str) else None,
            )
            raise
        return workspace, f"auth_token:{credential.id}"

    def _unit(self) -> Unit:
        """A unit for one request's writes, withdrawn if not committed within the timeout."""
        return Unit(deadline=time.monotonic() + self._commit_timeout)

    def _success_event(self, workspace: Workspace, actor: str, minted: MintedToken) -> AuditRow:
        return self._audit.event(
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
        self._audit.queue(
            "token.mint",
            workspace_id=workspace.id,
            actor=actor,
            outcome="failure",
            reason_code=exc.code,
            subject=user_id if isinstance(user_id, str) else None,
        )

    # --- verify and identify --------------------------------------------------------------------

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
        where the token carries them (emails compared as :func:`~idmint.store.email_key`
        says).  Where the token carries no ``organizationId`` or ``email``, the client's are
        ignored: not checked, not stored, not in the session.  Without a token, identify
        succeeds only when the workspace does not require one (development mode: the session
        says it is unverified, is never admin, and nothing it brings reaches a later mint).

        The session and the user's untrusted profile (every member but the ids) are committed
        before this returns.

        :raises OriginNotAllowedError: ``origin`` (a browser's) is not an allowed domain.
        :raises JwtRequiredError: no token, and the workspace requires one.
        :raises TokenError: the token is not valid (expired: ``token_expired``).
        :raises IdentityMismatchError: ``user_mismatch``, ``organization_mismatch`` or
            ``email_mismatch``, naming the field.
        """
        return self.start_identify(api_key, user, auth_token, origin=origin).result()

    def start_identify(
        self,
        api_key: str,
        user: dict[str, Any],
        auth_token: str | None,
        *,
        origin: str | None = None,
    ) -> Pending[IdentifiedSession]:
        """:meth:`identify`, returning before the commit (wait on the result)."""
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
                # Development mode: the client's own claims, shown as unverified.
                organization_id = _text(user.get("organizationId"))
                email = _text(user.get("email"))
            else:
                token_claims = self._verify(workspace, auth_token).claims
                if token_claims.subject != user_id:
                    raise UserMismatchError()
                organization_id, email = token_claims.organization_id, token_claims.email
                if organization_id is not None and user.get("organizationId") != organization_id:
                    raise OrganizationMismatchError()
                if email is not None and (
                    not isinstance(user.get("email"), str)
                    or email_key(user["email"]) != email_key(email)
                ):
                    raise EmailMismatchError()
                claims = dict(token_claims.raw)
                is_admin, verified, jti = token_claims.is_admin, True, token_claims.jti
                expires_at = float(token_claims.expires_at)
        except IdmintError as exc:
            subject = claimed[:256] if isinstance(claimed, str) else None
            self._audit.queue(
                "identify",
                workspace_id=workspace.id,
                actor=f"user:{subject}",
                outcome="failure",
                reason_code=exc.code,
                subject=subject,
            )
            raise
        profile = {name: value for name, value in user.items() if name not in _IDENTITY_MEMBERS}
        identity: dict[str, Any] = {"userId": user_id}
        if organization_id is not None:
            identity["organizationId"] = organization_id
        if email is not None:
            identity["email"] = email
        now = self._clock.now()
        session_id = new_id("ses")
        unit = self._unit()
        unit.upsert_profile(workspace.id, user_id, profile, now)
        unit.add_session(
            {
                "id": session_id,
                "workspace_id": workspace.id,
                "user_id": user_id,
                "jti": jti,
                "verified": verified,
                "is_admin": is_admin,
                "expires_at": expires_at,
                "created_at": now,
                "ended_at": None,
            }
        )
        session = IdentifiedSession(
            id=session_id,
            user={**identity, **profile},
            organization_id=organization_id,
            is_admin=is_admin,
            expires_at=expires_at,
            verified=verified,
            claims=claims,
        )
        return Pending(session, self._store, self._store.submit(unit))

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


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
