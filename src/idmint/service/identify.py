"""identify: a client proves who its user is with a minted token, and gets a session.

Only authenticated callers assert identity: identify never writes a user's trusted attributes
(``userId``, ``email``, ``organizationId``, ``isAdmin``).  What it stores (``name``,
``photoUrl``, other members) is the user's untrusted profile, kept in a table of its own and
never put into a token.  A session's organization and admin flag come from the token; without
one (development mode) the session says it is unverified and is never admin.

:class:`IdentifyUseCases` is the identify half of :class:`~idmint.service.tokens.TokenService`
(which mints); the two share the service's parts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from idmint.jose.clock import Clock
from idmint.jose.errors import (
    EmailMismatchError,
    IdmintError,
    JwtRequiredError,
    OrganizationMismatchError,
    OriginNotAllowedError,
    UserMismatchError,
)
from idmint.jose.tokens import VerifiedToken
from idmint.service._ids import new_id
from idmint.service._pending import Pending
from idmint.service.audit import AuditLog
from idmint.service.keys import KeyService
from idmint.service.origins import origin_allowed
from idmint.service.revocations import RevocationService
from idmint.service.validation import check_id
from idmint.service.workspaces import WorkspaceService
from idmint.store import Store, Unit, Workspace, email_key

__all__ = ["IdentifiedSession", "IdentifyUseCases"]

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


class IdentifyUseCases:
    """Verify tokens, identify users, end sessions (mixed into ``TokenService``)."""

    _store: Store
    _clock: Clock
    _audit: AuditLog
    _workspaces: WorkspaceService
    _keys: KeyService
    _revocations: RevocationService
    _commit_timeout: float

    def _unit(self) -> Unit:
        """A unit for one request's writes, withdrawn if not committed within the timeout."""
        return Unit(deadline=time.monotonic() + self._commit_timeout)

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
        client: str | None = None,
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
        return self.start_identify(api_key, user, auth_token, origin=origin, client=client).result()

    def start_identify(
        self,
        api_key: str,
        user: dict[str, Any],
        auth_token: str | None,
        *,
        origin: str | None = None,
        client: str | None = None,
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
            # Anyone can call identify: its failures are counted per workspace, code and
            # minute, not written one row each.
            self._audit.failure("identify", workspace_id=workspace.id, code=exc.code, client=client)
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
