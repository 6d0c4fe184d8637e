"""``AsyncIdmintClient``: the asyncio client of the idmint HTTP API, the twin of
:class:`~idmint.client.IdmintClient` (the same calls, from :mod:`idmint.client._http`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx

from idmint.client._errors import transport_error
from idmint.client._http import UNSET, USER_AGENT, Call, Requests, Unset
from idmint.client._models import (
    AuditEvent,
    AuditPage,
    AuthTokenInfo,
    CreatedWorkspace,
    GeneratedToken,
    Revocation,
    Session,
    SigningKeyInfo,
    User,
    UserPage,
    Workspace,
)
from idmint.client._transport import AsyncHttpClientOwner

__all__ = ["AsyncIdmintClient"]

T = TypeVar("T")


class AsyncIdmintClient(AsyncHttpClientOwner):
    """A client of one idmint server, for one workspace.

    .. code-block:: python

        async with AsyncIdmintClient(
            "http://127.0.0.1:8000", api_key="pk_...", auth_token="sk_..."
        ) as c:
            token = (await c.generate_token("user-1", organization_id="org-1")).token

    The same surface as :class:`IdmintClient`, every method a coroutine (and the iterators
    async iterators).

    :param base_url: where idmint answers, e.g. ``https://idmint.example.com``.
    :param api_key: the workspace's API key (public).
    :param auth_token: one of the workspace's auth tokens (secret; keep it on your server).
        Mints, and reaches the admin API for this workspace.
    :param admin_token: the deployment's admin credential (``IDMINT_ADMIN_TOKEN``); when
        given, the admin API uses it instead of ``auth_token``.
    :param timeout: seconds to wait for the server (connect, read, write, pool).
    :param transport: an ``httpx.AsyncBaseTransport`` to send through (tests, proxies, retries).
    :param http_client: an ``httpx.AsyncClient`` to send through instead; it is not closed
        by :meth:`aclose`, and ``timeout`` is its own.
    :raises ValueError: when both ``transport`` and ``http_client`` are given.

    Every method raises the :mod:`idmint.jose.errors` class that the server's answer names (see
    ``docs/sdk-python.md``), :class:`~idmint.jose.errors.UnavailableError` when the server does
    not answer, and :class:`~idmint.jose.errors.CredentialsMissingError` before sending when the
    client lacks the credential the operation needs.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        auth_token: str | None = None,
        admin_token: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(http_client, transport, timeout)
        self._requests = Requests(
            base_url, api_key=api_key, auth_token=auth_token, admin_token=admin_token
        )

    @property
    def base_url(self) -> str:
        return self._requests.base_url

    @property
    def api_key(self) -> str | None:
        return self._requests.api_key

    def __repr__(self) -> str:
        return f"AsyncIdmintClient({self.base_url!r}, api_key={self.api_key!r})"

    # --- plumbing -----------------------------------------------------------------------------

    async def _send(self, call: Call[T]) -> T:
        # The User-Agent again: a passed-in http_client has its own default headers.
        try:
            response = await self._http.request(
                call.method,
                call.url,
                json=call.json,
                params=call.params,
                headers={"User-Agent": USER_AGENT, **call.headers},
            )
        except httpx.RequestError as exc:
            raise transport_error(call.method, call.url, exc) from exc
        return call.finish(response)

    async def close(self) -> None:
        """The same as :meth:`aclose`."""
        await self.aclose()

    # --- mint ---------------------------------------------------------------------------------

    async def generate_token(
        self,
        user_id: str,
        organization_id: str,
        *,
        email: str | None = None,
        is_admin: bool = False,
        expires_in: int | timedelta | None = None,
    ) -> GeneratedToken:
        """Mint a user token by user id (``POST /v1/auth/token/get``).

        :param user_id: your id of the user; the token's ``sub``.
        :param organization_id: bound into the token; identify must name the same.
        :param email: bound into the token when given; identify must name the same.
        :param is_admin: make the user an admin (the only way to).
        :param expires_in: lifetime, within the workspace's bounds (default: its TTL, 48 h).
        :raises InvalidLifetimeError: ``expires_in`` outside the bounds.
        :raises AuthTokenNotFoundError: and the other credential errors.
        :raises UserNotFoundError: an unknown user while the workspace does not auto-create.
        """
        return await self._send(
            self._requests.generate_token(
                user_id, organization_id, email=email, is_admin=is_admin, expires_in=expires_in
            )
        )

    async def token_for_email(self, email: str) -> GeneratedToken:
        """Mint by email, for the existing user with ``email`` (``POST /api/v1/tokens``, with
        ``Authorization: idmint API_KEY:AUTH_TOKEN``).

        :raises UserNotFoundError: no user has this email (none is created).
        :raises InvalidEmailError: not an email address.
        """
        return await self._send(self._requests.token_for_email(email))

    # --- identify and public documents -------------------------------------------------------

    async def identify(self, user: Mapping[str, Any], auth_token: str | None = None) -> Session:
        """Identify ``user`` with a minted token, as the browser SDK does (``POST
        /v1/identify``); mostly for tests and server-side checks.

        :param user: ``{"userId", "organizationId", "email", "name", ...}``.
        :param auth_token: the user's token (not the client's auth token).
        :raises TokenExpiredError: with ``expired_at``; mint a fresh token.
        :raises IdentityMismatchError: a subclass whose ``field`` names the mismatch.
        :raises JwtRequiredError: no token while the workspace requires one.
        """
        return await self._send(self._requests.identify(user, auth_token))

    async def sign_out(self, session_id: str) -> bool:
        """End a session that identify started; whether an open one was ended."""
        return await self._send(self._requests.sign_out(session_id))

    async def jwks(self) -> dict[str, Any]:
        """The workspace's JWK set document (for verifying, prefer :class:`AsyncRemoteVerifier`)."""
        return await self._send(self._requests.jwks())

    # --- admin: workspaces ----------------------------------------------------------------------

    async def list_workspaces(self) -> list[Workspace]:
        """Every workspace of the deployment.

        :raises AdminRequiredError: unless the client holds the admin token.
        """
        return await self._send(self._requests.list_workspaces())

    async def create_workspace(
        self,
        name: str | None = None,
        *,
        require_jwt: bool = True,
        scopes: Iterable[str] = ("mint",),
    ) -> CreatedWorkspace:
        """A new workspace with a signing key and a first auth token (shown this once).

        :param scopes: the first auth token's scopes: ``mint`` (the default, what a backend
            needs), ``admin``, or both.
        :raises AdminRequiredError: unless the client holds the admin token.
        """
        return await self._send(self._requests.create_workspace(name, require_jwt, scopes))

    async def get_workspace(self) -> Workspace:
        """The client's workspace and its settings."""
        return await self._send(self._requests.get_workspace())

    async def update_settings(
        self,
        *,
        name: str | None = None,
        require_jwt: bool | None = None,
        token_ttl_seconds: int | timedelta | None = None,
        min_ttl_seconds: int | timedelta | None = None,
        max_ttl_seconds: int | timedelta | None = None,
        auto_create_users: bool | None = None,
        allowed_domains: Iterable[str] | None = None,
        mint_rate_limit: str | None = None,
    ) -> Workspace:
        """Change the workspace's settings; those left ``None`` stay as they are.

        :param mint_rate_limit: a mint quota such as ``"100/minute"``; ``"off"`` removes it.

        :raises InvalidArgumentError: lifetimes that do not nest (``field``
            ``tokenTtlSeconds``); nothing changes then.
        """
        return await self._send(
            self._requests.update_settings(
                name=name,
                require_jwt=require_jwt,
                token_ttl_seconds=token_ttl_seconds,
                min_ttl_seconds=min_ttl_seconds,
                max_ttl_seconds=max_ttl_seconds,
                auto_create_users=auto_create_users,
                allowed_domains=allowed_domains,
                mint_rate_limit=mint_rate_limit,
            )
        )

    # --- admin: auth tokens ---------------------------------------------------------------------

    async def create_auth_token(
        self,
        name: str,
        expires_at: datetime | str | None = None,
        *,
        scopes: Iterable[str] = ("mint",),
    ) -> tuple[AuthTokenInfo, str]:
        """A new named auth token and its secret, which the server never shows again.

        :param expires_at: optional expiry (a naive datetime is UTC), at most ten years ahead,
            and for a token created with an auth token no later than that token's.
        :param scopes: ``mint`` (the default), ``admin``, or both; an auth token can give no
            scope it lacks itself.
        :raises ScopeExceededError: more scopes, or a later expiry, than the creating token's.
        """
        return await self._send(self._requests.create_auth_token(name, expires_at, scopes))

    async def list_auth_tokens(self) -> list[AuthTokenInfo]:
        """The workspace's auth tokens, oldest first, without secrets."""
        return await self._send(self._requests.list_auth_tokens())

    async def revoke_auth_token(self, token_id: str) -> AuthTokenInfo:
        """Revoke an auth token at once; revoking again keeps the first time.

        :raises NotFoundError: no such token in this workspace.
        """
        return await self._send(self._requests.revoke_auth_token(token_id))

    # --- admin: users -------------------------------------------------------------------------

    async def create_user(
        self,
        user_id: str,
        email: str | None = None,
        organization_id: str | None = None,
        name: str | None = None,
        is_admin: bool = False,
    ) -> User:
        """Add a user (e.g. before :meth:`token_for_email`).

        :raises UserExistsError: the userId is taken.
        :raises EmailTakenError: another user of the workspace holds ``email``.
        """
        return await self._send(
            self._requests.create_user(
                user_id, email=email, organization_id=organization_id, name=name, is_admin=is_admin
            )
        )

    async def update_user(
        self,
        user_id: str,
        *,
        email: str | Unset | None = UNSET,
        organization_id: str | Unset | None = UNSET,
        is_admin: bool | Unset = UNSET,
    ) -> User:
        """Change a user's trusted attributes; arguments left out stay as they are, and
        ``None`` clears ``email`` or ``organization_id``.

        :raises UserNotFoundError: no such user.
        :raises EmailTakenError: another user of the workspace holds ``email``.
        """
        changes = {
            name: value
            for name, value in (
                ("email", email),
                ("organization_id", organization_id),
                ("is_admin", is_admin),
            )
            if value is not UNSET
        }
        return await self._send(self._requests.update_user(user_id, changes))

    async def get_user(self, user_id: str) -> User:
        """One user, with the profile identify stored.

        :raises UserNotFoundError: no such user.
        """
        return await self._send(self._requests.get_user(user_id))

    async def list_users(self, limit: int = 100, after: str | None = None) -> UserPage:
        """One page of users by userId; pass the page's ``next`` as ``after``."""
        return await self._send(self._requests.list_users(limit, after))

    async def iter_users(self, page_size: int = 100) -> AsyncIterator[User]:
        """Every user, fetched a page at a time."""
        after: str | None = None
        while True:
            page = await self.list_users(page_size, after)
            for user in page.users:
                yield user
            if page.next is None:
                return
            after = page.next

    async def delete_user(self, user_id: str) -> None:
        """Delete a user.

        :raises UserNotFoundError: no such user.
        """
        await self._send(self._requests.delete_user(user_id))

    # --- admin: lifecycle -----------------------------------------------------------------------

    async def revoke(
        self,
        jti: str | None = None,
        user_id: str | None = None,
        organization_id: str | None = None,
        reason: str | None = None,
    ) -> Revocation:
        """Revoke one token by ``jti``, or every token of a user or organization issued until
        now; give exactly one.  ``reason`` goes to the audit log.

        :raises InvalidArgumentError: none or several targets (``field`` ``body``).
        """
        return await self._send(
            self._requests.revoke(
                jti=jti, user_id=user_id, organization_id=organization_id, reason=reason
            )
        )

    async def revocations(self) -> list[Revocation]:
        """The live denylist, oldest first."""
        return await self._send(self._requests.revocations())

    async def audit(
        self,
        limit: int = 100,
        before: int | None = None,
        action: str | None = None,
        outcome: str | None = None,
    ) -> AuditPage:
        """One page of audit events, newest first; pass the page's ``next`` as ``before``.

        :param action: e.g. ``token.mint``, ``identify``, ``key.rotate``.
        :param outcome: ``success`` or ``failure``.
        """
        return await self._send(self._requests.audit(limit, before, action, outcome))

    async def iter_audit(
        self, page_size: int = 100, *, action: str | None = None, outcome: str | None = None
    ) -> AsyncIterator[AuditEvent]:
        """Every matching audit event, newest first, fetched a page at a time."""
        before: int | None = None
        while True:
            page = await self.audit(page_size, before, action, outcome)
            for event in page.events:
                yield event
            if page.next is None:
                return
            before = page.next

    async def signing_keys(self) -> list[SigningKeyInfo]:
        """The workspace's signing keys and their states (no private parts)."""
        return await self._send(self._requests.signing_keys())

    async def rotate_key(self, alg: str | None = None, now: bool = False) -> SigningKeyInfo:
        """Start a key rotation: the new key is published at once and signs after the
        pre-publish period.  ``now=True`` promotes it at once: only for a compromised key,
        since verifiers with a cached JWKS learn it only when they refetch."""
        return await self._send(self._requests.rotate_key(alg, now))
