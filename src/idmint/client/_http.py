"""What the sync and async clients share: request building and answer parsing.

Each operation is a :class:`Call`: the request to send and how to read its answer.  The clients
only send calls (``IdmintClient._send``, ``AsyncIdmintClient._send``), so both speak exactly
the same protocol.  Error answers become exceptions in :mod:`idmint.client._errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx

from idmint.client._calls import (
    UNSET,
    USER_AGENT,
    Call,
    Unset,
    as_seconds,
    checked_url,
    iso_time,
    read_access_token,
    read_audit_page,
    read_created_auth_token,
    read_created_workspace,
    read_generated,
    read_nothing,
    read_object,
    read_user_page,
    segment,
)
from idmint.client._models import (
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
from idmint.jose.errors import CredentialsMissingError

T = TypeVar("T")

__all__ = ["UNSET", "USER_AGENT", "Call", "Requests", "Unset", "checked_url"]


class Requests:
    """Builds every :class:`Call` of the API for one base URL and set of credentials.

    :param base_url: the server, e.g. ``http://127.0.0.1:8000`` (no trailing path needed).
    :param api_key: the workspace's API key (public).
    :param auth_token: one of its auth tokens (secret): mints, and reaches the admin API.
    :param admin_token: the deployment's admin credential; preferred for the admin API.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        auth_token: str | None,
        admin_token: str | None,
    ) -> None:
        self.base_url = checked_url(base_url)
        self.api_key = api_key
        self._auth_token = auth_token
        self._admin_token = admin_token

    # --- credentials ------------------------------------------------------------------------

    def _require_api_key(self) -> str:
        if not self.api_key:
            raise CredentialsMissingError("This operation needs the client's api_key.")
        return self.api_key

    def _require_auth_token(self) -> str:
        if not self._auth_token:
            raise CredentialsMissingError("Minting needs the client's auth_token.")
        return self._auth_token

    def _admin_headers(self) -> dict[str, str]:
        bearer = self._admin_token or self._auth_token
        if not bearer:
            raise CredentialsMissingError(
                "The admin API needs the client's admin_token or auth_token."
            )
        return {"Authorization": f"Bearer {bearer}"}

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _workspace_url(self, *segments: str) -> str:
        path = "/".join(segment(s) for s in (self._require_api_key(), *segments))
        return self._url(f"/admin/v1/workspaces/{path}")

    def _admin(
        self,
        method: str,
        parse: Callable[[httpx.Response], T],
        *segments: str,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
    ) -> Call[T]:
        return Call(
            method,
            self._workspace_url(*segments),
            parse,
            json=json,
            params=params,
            headers=self._admin_headers(),
        )

    # --- mint ---------------------------------------------------------------------------------

    def generate_token(
        self,
        user_id: str,
        organization_id: str,
        *,
        email: str | None,
        is_admin: bool,
        expires_in: int | timedelta | None,
    ) -> Call[GeneratedToken]:
        properties: dict[str, Any] = {"organizationId": organization_id, "isAdmin": is_admin}
        if email is not None:
            properties["email"] = email
        data: dict[str, Any] = {
            "apiKey": self._require_api_key(),
            "authToken": self._require_auth_token(),
            "userId": user_id,
            "userProperties": properties,
        }
        if expires_in is not None:
            data["expiresIn"] = as_seconds(expires_in)
        return Call("POST", self._url("/v1/auth/token/get"), read_generated, json={"data": data})

    def token_for_email(self, email: str) -> Call[GeneratedToken]:
        pair = f"{self._require_api_key()}:{self._require_auth_token()}"
        return Call(
            "POST",
            self._url("/api/v1/tokens"),
            read_access_token,
            json={"username": email},
            headers={"Authorization": f"idmint {pair}"},
        )

    # --- identify and public documents -------------------------------------------------------

    def identify(self, user: Mapping[str, Any], auth_token: str | None) -> Call[Session]:
        body: dict[str, Any] = {"apiKey": self._require_api_key(), "user": dict(user)}
        if auth_token is not None:
            body["authToken"] = auth_token
        return Call(
            "POST",
            self._url("/v1/identify"),
            lambda r: Session.from_json(read_object(r)["session"]),
            json=body,
        )

    def sign_out(self, session_id: str) -> Call[bool]:
        body = {"apiKey": self._require_api_key(), "sessionId": session_id}
        return Call(
            "POST",
            self._url("/v1/sign-out"),
            lambda r: bool(read_object(r)["signedOut"]),
            json=body,
        )

    def jwks(self) -> Call[dict[str, Any]]:
        url = self._url(f"/w/{segment(self._require_api_key())}/.well-known/jwks.json")
        return Call("GET", url, lambda r: dict(read_object(r)))

    # --- admin: workspaces ----------------------------------------------------------------------

    def list_workspaces(self) -> Call[list[Workspace]]:
        return Call(
            "GET",
            self._url("/admin/v1/workspaces"),
            lambda r: [Workspace.from_json(w) for w in read_object(r)["workspaces"]],
            headers=self._admin_headers(),
        )

    def create_workspace(
        self, name: str | None, require_jwt: bool, scopes: Iterable[str]
    ) -> Call[CreatedWorkspace]:
        body: dict[str, Any] = {"requireJwt": require_jwt, "scopes": _scopes(scopes)}
        if name is not None:
            body["name"] = name
        return Call(
            "POST",
            self._url("/admin/v1/workspaces"),
            read_created_workspace,
            json=body,
            headers=self._admin_headers(),
        )

    def get_workspace(self) -> Call[Workspace]:
        return self._admin("GET", lambda r: Workspace.from_json(read_object(r)))

    def update_settings(
        self,
        *,
        name: str | None,
        require_jwt: bool | None,
        token_ttl_seconds: int | timedelta | None,
        min_ttl_seconds: int | timedelta | None,
        max_ttl_seconds: int | timedelta | None,
        auto_create_users: bool | None,
        allowed_domains: Iterable[str] | None,
        mint_rate_limit: str | None,
    ) -> Call[Workspace]:
        # Members left out stay as they are on the server.
        body: dict[str, Any] = {}
        for member, flag in (
            ("name", name),
            ("requireJwt", require_jwt),
            ("autoCreateUsers", auto_create_users),
        ):
            if flag is not None:
                body[member] = flag
        for member, seconds in (
            ("tokenTtlSeconds", token_ttl_seconds),
            ("minTtlSeconds", min_ttl_seconds),
            ("maxTtlSeconds", max_ttl_seconds),
        ):
            if seconds is not None:
                body[member] = as_seconds(seconds)
        if allowed_domains is not None:
            if isinstance(allowed_domains, str):
                raise TypeError("allowed_domains is a list of domains, not one string")
            body["allowedDomains"] = list(allowed_domains)
        if mint_rate_limit is not None:
            body["mintRateLimit"] = mint_rate_limit
        return self._admin("PATCH", lambda r: Workspace.from_json(read_object(r)), json=body)

    # --- admin: auth tokens ---------------------------------------------------------------------

    def create_auth_token(
        self, name: str, expires_at: datetime | str | None, scopes: Iterable[str]
    ) -> Call[tuple[AuthTokenInfo, str]]:
        body: dict[str, Any] = {"name": name, "scopes": _scopes(scopes)}
        if expires_at is not None:
            body["expiresAt"] = iso_time(expires_at)
        return self._admin("POST", read_created_auth_token, "auth-tokens", json=body)

    def list_auth_tokens(self) -> Call[list[AuthTokenInfo]]:
        return self._admin(
            "GET",
            lambda r: [AuthTokenInfo.from_json(t) for t in read_object(r)["authTokens"]],
            "auth-tokens",
        )

    def revoke_auth_token(self, token_id: str) -> Call[AuthTokenInfo]:
        return self._admin(
            "DELETE", lambda r: AuthTokenInfo.from_json(read_object(r)), "auth-tokens", token_id
        )

    # --- admin: users -------------------------------------------------------------------------

    def create_user(
        self,
        user_id: str,
        *,
        email: str | None,
        organization_id: str | None,
        name: str | None,
        is_admin: bool,
    ) -> Call[User]:
        body: dict[str, Any] = {"userId": user_id, "isAdmin": is_admin}
        for member, value in (
            ("email", email),
            ("organizationId", organization_id),
            ("name", name),
        ):
            if value is not None:
                body[member] = value
        return self._admin("POST", lambda r: User.from_json(read_object(r)), "users", json=body)

    def get_user(self, user_id: str) -> Call[User]:
        return self._admin("GET", lambda r: User.from_json(read_object(r)), "users", user_id)

    def update_user(self, user_id: str, changes: Mapping[str, Any]) -> Call[User]:
        names = {"email": "email", "organization_id": "organizationId", "is_admin": "isAdmin"}
        body = {names[name]: value for name, value in changes.items()}
        return self._admin(
            "PATCH", lambda r: User.from_json(read_object(r)), "users", user_id, json=body
        )

    def list_users(self, limit: int, after: str | None) -> Call[UserPage]:
        params: dict[str, str | int] = {"limit": limit}
        if after is not None:
            params["after"] = after
        return self._admin("GET", read_user_page, "users", params=params)

    def delete_user(self, user_id: str) -> Call[None]:
        return self._admin("DELETE", read_nothing, "users", user_id)

    # --- admin: lifecycle -----------------------------------------------------------------------

    def revoke(
        self,
        *,
        jti: str | None,
        user_id: str | None,
        organization_id: str | None,
        reason: str | None,
    ) -> Call[Revocation]:
        # The server decides "exactly one target" (invalid_argument, field "body"): one rule,
        # one place.
        members = {"jti": jti, "userId": user_id, "organizationId": organization_id}
        body = {name: value for name, value in members.items() if value is not None}
        if reason is not None:
            body["reason"] = reason
        return self._admin(
            "POST", lambda r: Revocation.from_json(read_object(r)), "revocations", json=body
        )

    def revocations(self) -> Call[list[Revocation]]:
        return self._admin(
            "GET",
            lambda r: [Revocation.from_json(x) for x in read_object(r)["revocations"]],
            "revocations",
        )

    def audit(
        self, limit: int, before: int | None, action: str | None, outcome: str | None
    ) -> Call[AuditPage]:
        params: dict[str, str | int] = {"limit": limit}
        for name, value in (("before", before), ("action", action), ("outcome", outcome)):
            if value is not None:
                params[name] = value
        return self._admin("GET", read_audit_page, "audit", params=params)

    def signing_keys(self) -> Call[list[SigningKeyInfo]]:
        return self._admin(
            "GET", lambda r: [SigningKeyInfo.from_json(k) for k in read_object(r)["keys"]], "keys"
        )

    def rotate_key(self, alg: str | None, now: bool) -> Call[SigningKeyInfo]:
        body: dict[str, Any] = {}
        if alg is not None:
            body["alg"] = alg
        if now:
            body["now"] = True
        return self._admin(
            "POST", lambda r: SigningKeyInfo.from_json(read_object(r)), "keys", "rotate", json=body
        )


def _scopes(scopes: Iterable[str]) -> list[str]:
    if isinstance(scopes, str):
        raise TypeError("scopes is a list of scopes, not one string")
    return list(scopes)
