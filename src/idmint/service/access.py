"""Who may act: the credential check of the mint routes and the admin API, behind the
throttle (:mod:`idmint.service.throttle`), with the audit of its failures.

A client address that has failed too often is refused with ``rate_limited`` before its
credentials are looked at.  An API key that has failed too often (from all addresses
together) is blocked for every caller that does not present a credential this instance
has seen pass: API keys are public, so an attacker can exhaust one's limit, and the
backend whose token is in use (it passed a check on this instance within the last hour) must
not be locked out by that; every other caller is refused without a store read.

Only guesses count toward the limits: unknown API keys and auth tokens.  A revoked, expired,
foreign or under-scoped token is a real one, most often held by a worker not yet switched to
its successor; it is audited but not counted, so that it cannot block its host.

In the audit log, unknown API keys and auth tokens (what anonymous traffic can send without
bound) are aggregated failure events, the others one event each; each block the throttle
starts is one event too.

The console's sign-in goes through the same throttle: a failed sign-in counts for the client
address and for ``console:<email>`` in the place of an API key (:meth:`Access.check_sign_in`,
:meth:`Access.sign_in_failed`).
"""

from __future__ import annotations

from idmint.jose.errors import (
    ApiKeyNotFoundError,
    AuthTokenNotFoundError,
    CredentialError,
    RateLimitedError,
)
from idmint.service.audit import AuditLog
from idmint.service.throttle import Throttle
from idmint.service.workspaces import Credential, WorkspaceService
from idmint.store import Workspace

__all__ = ["Access"]


class Access:
    """Checks credentials for a scope, throttled and audited."""

    def __init__(self, workspaces: WorkspaceService, throttle: Throttle, audit: AuditLog) -> None:
        self._workspaces = workspaces
        self._throttle = throttle
        self._audit = audit

    def check_throttle(self, client: str | None, api_key: str | None) -> None:
        """:raises RateLimitedError: the address or API key is blocked (memory only)."""
        retry = self._throttle.retry_after(client, api_key)
        if retry is not None:
            raise _rate_limited(retry)

    def authenticate(
        self,
        api_key: str,
        secret: str,
        *,
        scope: str,
        action: str,
        client: str | None,
        subject: str | None = None,
    ) -> tuple[Workspace, Credential]:
        """The workspace and credential, for ``scope`` (``mint`` or ``admin``).

        :param action: the audit action a failure is recorded under (``token.mint``,
            ``admin.auth``).
        :raises RateLimitedError: the caller is blocked (see the module docstring).
        :raises CredentialError: as :meth:`WorkspaceService.authenticate`.
        """
        by_address, by_api_key = self._throttle.blocked(client, api_key)
        if by_address is not None:
            raise _rate_limited(by_address)
        if by_api_key is not None and not self._workspaces.recently_valid(api_key, secret):
            raise _rate_limited(by_api_key)
        try:
            return self._workspaces.authenticate(api_key, secret, scope=scope)
        except CredentialError as exc:
            self.failed(exc, api_key=api_key, action=action, client=client, subject=subject)
            raise

    def failed(
        self,
        exc: CredentialError,
        *,
        api_key: str | None,
        action: str,
        client: str | None,
        subject: str | None = None,
    ) -> None:
        """Count and audit a failed credential check."""
        known = (
            None
            if isinstance(exc, ApiKeyNotFoundError) or api_key is None
            else self._workspaces.cached(api_key)
        )
        workspace_id = known.id if known is not None else None
        if isinstance(exc, ApiKeyNotFoundError | AuthTokenNotFoundError):
            self._audit.failure(action, workspace_id=workspace_id, code=exc.code, client=client)
        else:
            self._audit.queue(
                action,
                workspace_id=workspace_id,
                actor="unknown",
                outcome="failure",
                reason_code=exc.code,
                subject=subject,
                client=client,
            )
        if not isinstance(exc, ApiKeyNotFoundError | AuthTokenNotFoundError):
            # A revoked, expired, foreign or under-scoped token is no guess: it is a backend
            # not yet switched to its new token, and must not block its host's other workers.
            return
        self._count(client, api_key, workspace_id)

    # --- console sign-in ----------------------------------------------------------------------

    def check_sign_in(self, client: str | None, key: str, *, known_client: bool) -> None:
        """Whether a console sign-in may be tried: ``key`` (``console:<email>``) is counted
        as the API key is on the API routes.

        :param known_client: this address signed in to this account lately; it is spared a
            block of the account (not of its own address), so that whoever guesses at an
            account's password cannot lock its owner out.
        :raises RateLimitedError: the address is blocked, or the account and the client is
            not known.
        """
        by_address, by_key = self._throttle.blocked(client, key)
        if by_address is not None:
            raise _rate_limited(by_address, what="sign-ins")
        if by_key is not None and not known_client:
            raise _rate_limited(by_key, what="sign-ins")

    def sign_in_failed(self, *, action: str, code: str, client: str | None, key: str) -> None:
        """Count and audit a failed console sign-in: aggregated, as unknown credentials are
        (anyone can cause them without bound), and one event per block it starts."""
        self._audit.failure(action, workspace_id=None, code=code, client=client)
        self._count(client, key, None)

    def _count(self, client: str | None, key: str | None, workspace_id: str | None) -> None:
        for block in self._throttle.failed(client, key):
            self._audit.queue(
                "throttle.block",
                workspace_id=workspace_id,
                actor="throttle",
                outcome="failure",
                reason_code="rate_limited",
                subject=f"{block.scope}:{block.value}"[:256],
                client=client,
                until=block.until,
            )

    def quota(self, workspace: Workspace, *, client: str | None) -> None:
        """:raises RateLimitedError: the workspace used its mint quota."""
        if workspace.mint_rate_limit is None:
            return
        retry = self._throttle.within_quota(workspace.mint_rate_limit, workspace.id)
        if retry is not None:
            self._audit.failure(
                "token.mint", workspace_id=workspace.id, code="rate_limited", client=client
            )
            raise RateLimitedError(
                f"This workspace's mint quota ({workspace.mint_rate_limit}) is used up: try "
                f"again in {retry} s.",
                retry_after=retry,
            )


def _rate_limited(retry: int, *, what: str = "") -> RateLimitedError:
    if what:
        message = f"Too many failed {what} from this address or for this account"
    else:
        message = "Too many failed attempts from this address or with this API key"
    return RateLimitedError(f"{message}: try again in {retry} s.", retry_after=retry)
