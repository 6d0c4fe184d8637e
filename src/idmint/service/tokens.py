"""The use cases on the hot path: mint a user token, and (:mod:`idmint.service.identify`)
identify a user with one.

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

from idmint.jose.clock import Clock
from idmint.jose.errors import (
    EmailTakenError,
    IdmintError,
    UserNotFoundError,
)
from idmint.jose.tokens import MintedToken
from idmint.service._pending import Pending
from idmint.service.access import Access
from idmint.service.audit import AuditLog
from idmint.service.identify import IdentifiedSession, IdentifyUseCases
from idmint.service.keys import KeyService
from idmint.service.revocations import RevocationService
from idmint.service.users import UserService
from idmint.service.validation import check_email, check_id
from idmint.service.workspaces import WorkspaceService
from idmint.store import AuditRow, Store, User, UserColumns, Workspace, email_key

__all__ = ["IdentifiedSession", "TokenService"]


class TokenService(IdentifyUseCases):
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
        access: Access,
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
        self._access = access
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
        client: str | None = None,
    ) -> MintedToken:
        """Mint a token for ``user_id`` with an API key and auth token (``POST
        /v1/auth/token/get``), once its user change and audit event are committed.

        :param client: the address the request came from (throttling, the audit log).

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
            client=client,
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
        client: str | None = None,
    ) -> Pending[MintedToken]:
        """:meth:`mint`, returning before the commit (wait on the result)."""
        workspace, actor = self._authenticate(api_key, auth_token, user_id, client)
        return self.start_issue(
            workspace,
            user_id,
            actor=actor,
            organization_id=organization_id,
            email=email,
            is_admin=is_admin,
            expires_in=expires_in,
            client=client,
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
        client: str | None = None,
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
            client=client,
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
        client: str | None = None,
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
            self._audit_failure(workspace, actor, exc, user_id, client)
            raise
        unit = self._unit()
        unit.upsert_user(workspace.id, user_id, values, self._clock.now())
        unit.add_audit(self._success_event(workspace, actor, minted, client))

        def committed() -> None:
            self._users.changed(workspace.id, user_id, values)

        return Pending(
            minted,
            self._store,
            self._store.submit(unit),
            committed,
            lambda exc: self._audit_failure(workspace, actor, exc, user_id, client),
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

    def mint_for_email(
        self, api_key: str, auth_token: str, email: str, *, client: str | None = None
    ) -> tuple[MintedToken, User]:
        """Mint a token for the existing user with ``email`` (``POST /api/v1/tokens``).

        :raises InvalidEmailError: for a malformed email.
        :raises UserNotFoundError: when no user has it (no user is created).
        :raises EmailAmbiguousError: when several users shared it before emails became unique.
        """
        return self.start_mint_for_email(api_key, auth_token, email, client=client).result()

    def start_mint_for_email(
        self, api_key: str, auth_token: str, email: str, *, client: str | None = None
    ) -> Pending[tuple[MintedToken, User]]:
        """:meth:`mint_for_email`, returning before the commit (wait on the result)."""
        workspace, actor = self._authenticate(api_key, auth_token, None, client)
        return self.start_issue_for_email(workspace, email, actor=actor, client=client)

    def issue_for_email(
        self,
        workspace: Workspace,
        email: str,
        *,
        actor: str,
        expires_in: int | None = None,
        client: str | None = None,
    ) -> tuple[MintedToken, User]:
        """Mint for the existing user with ``email``, with their stored organization, email and
        admin flag; never creates a user.  Audited."""
        return self.start_issue_for_email(
            workspace, email, actor=actor, expires_in=expires_in, client=client
        ).result()

    def start_issue_for_email(
        self,
        workspace: Workspace,
        email: str,
        *,
        actor: str,
        expires_in: int | None = None,
        client: str | None = None,
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
            self._audit_failure(workspace, actor, exc, None, client)
            raise
        unit = self._unit()
        unit.add_audit(self._success_event(workspace, actor, minted, client))
        return Pending(
            (minted, user),
            self._store,
            self._store.submit(unit),
            None,
            lambda exc: self._audit_failure(workspace, actor, exc, None, client),
        )

    # --- shared by both mints -------------------------------------------------------------------

    def _authenticate(
        self, api_key: str, auth_token: str, user_id: object, client: str | None
    ) -> tuple[Workspace, str]:
        workspace, credential = self._access.authenticate(
            api_key,
            auth_token,
            scope="mint",
            action="token.mint",
            client=client,
            subject=user_id if isinstance(user_id, str) else None,
        )
        self._access.quota(workspace, client=client)
        return workspace, credential.actor

    def _success_event(
        self, workspace: Workspace, actor: str, minted: MintedToken, client: str | None
    ) -> AuditRow:
        return self._audit.event(
            "token.mint",
            workspace_id=workspace.id,
            actor=actor,
            client=client,
            subject=str(minted.claims["sub"]),
            jti=minted.jti,
            kid=minted.kid,
            expires_at=minted.expires_at,
        )

    def _audit_failure(
        self,
        workspace: Workspace,
        actor: str,
        exc: IdmintError,
        user_id: object,
        client: str | None,
    ) -> None:
        self._audit.queue(
            "token.mint",
            workspace_id=workspace.id,
            actor=actor,
            client=client,
            outcome="failure",
            reason_code=exc.code,
            subject=user_id if isinstance(user_id, str) else None,
        )
