"""The two mint routes, each keeping the request and answer of the hosted token API it stands
in for, so that a backend written for one moves over by changing its base URL.

- Mint by user id, ``POST /v1/auth/token/get``: the API key and auth token in the body; the
  user is created or updated with what the backend asserts.
- Mint by email, ``POST /api/v1/tokens``: ``Authorization: idmint API_KEY:AUTH_TOKEN`` (or
  HTTP Basic with the same pair; ``Outseta`` is accepted as an alias of ``idmint``, the
  scheme word of the API it stands in for), for an existing user found by email.

Both are answered by the fast path (:mod:`idmint.api.fast`) under load; the FastAPI routes
here answer the same, and declare them for the OpenAPI document.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from idmint.api._common import client_of, errors, fast_route, json_response, service_of
from idmint.api.bodies import BodyRoute, parse_body
from idmint.api.errors import BASIC_CHALLENGE, challenged
from idmint.api.schemas import (
    MintRequest,
    MintResponse,
    TokenForEmailRequest,
    TokenForEmailResponse,
)
from idmint.jose.errors import CredentialsMissingError, InvalidArgumentError
from idmint.jose.tokens import MintedToken
from idmint.serializers import mint_by_email_json, mint_by_user_id_json
from idmint.service import Idmint, User
from idmint.service._pending import Pending

__all__ = [
    "parse_key_pair",
    "router",
    "start_mint_by_email",
    "start_mint_by_user_id",
]

router = APIRouter(tags=["mint"], route_class=BodyRoute)

_authorization = APIKeyHeader(
    name="Authorization",
    auto_error=False,
    scheme_name="ApiKeyPair",
    description="`idmint API_KEY:AUTH_TOKEN`, or `Basic base64(API_KEY:AUTH_TOKEN)`; "
    "`Outseta API_KEY:AUTH_TOKEN` is accepted as an alias of `idmint`.",
)
_PAIR_SCHEMES = {"idmint", "outseta"}  # outseta: the scheme word of the API mint by email mirrors


def parse_key_pair(header: str | None) -> tuple[str, str]:
    """The (API key, auth token) pair of an Authorization header.

    :raises CredentialsMissingError: no header.
    :raises InvalidArgumentError: a header in no accepted form.
    """
    if not header:
        raise CredentialsMissingError(
            "Authorization header required: idmint API_KEY:AUTH_TOKEN (or Basic)."
        )
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        try:
            value = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidArgumentError(
                "Malformed Basic credentials: expected base64 of API_KEY:AUTH_TOKEN.",
                field="Authorization",
            ) from None
    elif scheme not in _PAIR_SCHEMES:
        raise InvalidArgumentError(
            f"Authorization must be 'idmint API_KEY:AUTH_TOKEN' or Basic, not {scheme[:32]!r}.",
            field="Authorization",
        )
    api_key, sep, secret = value.strip().partition(":")
    if not sep or not api_key or not secret:
        raise InvalidArgumentError(
            "Authorization must carry API_KEY:AUTH_TOKEN, the two joined by a colon.",
            field="Authorization",
        )
    return api_key, secret


# --- mint by user id ----------------------------------------------------------------------


def start_mint_by_user_id(
    service: Idmint, body: MintRequest, client: str | None
) -> Pending[MintedToken]:
    """A mint by user id, its writes submitted (the route and the fast path share it)."""
    data = body.data
    return service.tokens.start_mint(
        data.apiKey,
        data.authToken,
        data.userId,
        organization_id=data.userProperties.organizationId,
        email=data.userProperties.email,
        is_admin=data.userProperties.isAdmin,
        expires_in=data.expiresIn,
        client=client,
    )


async def _mint_by_user_id_fast(
    service: Idmint, body: bytes, _headers: dict[bytes, bytes], client: str | None
) -> dict[str, Any]:
    pending = start_mint_by_user_id(service, parse_body(MintRequest, body), client)
    return mint_by_user_id_json(await pending.confirmed())


@router.post(
    "/v1/auth/token/get",
    response_model=MintResponse,
    responses=errors(401, 429, 403, 404, 409),
    summary="Mint by user id (API key and auth token in the body)",
)
@fast_route(_mint_by_user_id_fast)
def mint_by_user_id(body: MintRequest, request: Request) -> Response:
    """Mint a short-lived JWT for ``userId``, to pass to the client's ``identify()``.

    ``userProperties.organizationId`` and ``email`` are bound into the token and checked by
    identify; ``isAdmin`` is the only way to make a user an admin.  With the workspace's
    auto-create on (default) the user is created or updated.  The answer comes once the user
    change and the audit event are committed.
    """
    minted = start_mint_by_user_id(service_of(request), body, client_of(request)).result()
    return json_response(mint_by_user_id_json(minted))


# --- mint by email --------------------------------------------------------------------------


def start_mint_by_email(
    service: Idmint, api_key: str, secret: str, email: str, client: str | None
) -> Pending[tuple[MintedToken, User]]:
    """A mint by email, its writes submitted (the route and the fast path share it).  Its
    credentials come in the Authorization header, so a wrong or missing one is answered 401
    with a challenge (:class:`~idmint.api.errors.Challenge`)."""
    with challenged(BASIC_CHALLENGE):
        return service.tokens.start_mint_for_email(api_key, secret, email, client=client)


async def _mint_by_email_fast(
    service: Idmint, body: bytes, headers: dict[bytes, bytes], client: str | None
) -> dict[str, Any]:
    email = parse_body(TokenForEmailRequest, body).username
    header = headers.get(b"authorization")
    with challenged(BASIC_CHALLENGE):
        api_key, secret = parse_key_pair(None if header is None else header.decode("latin-1"))
    if service.users.cached_by_email(api_key, email):  # no store read: stay on the loop
        pending = start_mint_by_email(service, api_key, secret, email, client)
    else:
        pending = await run_in_threadpool(
            start_mint_by_email, service, api_key, secret, email, client
        )
    minted, _user = await pending.confirmed()
    return mint_by_email_json(minted)


@router.post(
    "/api/v1/tokens",
    response_model=TokenForEmailResponse,
    responses=errors(401, 429, 403, 404, 409),
    summary="Mint by email, for an existing user (API key and auth token in Authorization)",
)
@fast_route(_mint_by_email_fast)
def mint_by_email(
    body: TokenForEmailRequest,
    request: Request,
    authorization: str | None = Depends(_authorization),
) -> Response:
    """Mint a token for the existing user whose email is ``username``.

    An unknown user is ``user_not_found`` (404): no user is created.
    """
    with challenged(BASIC_CHALLENGE):
        api_key, secret = parse_key_pair(authorization)
    pending = start_mint_by_email(
        service_of(request), api_key, secret, body.username, client_of(request)
    )
    minted, _user = pending.result()
    return json_response(mint_by_email_json(minted))
