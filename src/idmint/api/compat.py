"""The two minting shapes of the seeds, exactly as their documents write them.

``POST /v1/auth/token/get`` takes the API key and auth token in the body (seed 000);
``POST /api/v1/tokens`` takes ``Authorization: Outseta API_KEY:API_SECRET`` (seed 002), or
standard HTTP Basic with the same pair, and mints for an existing user by email.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import APIKeyHeader
from starlette.responses import Response

from idmint.api._common import errors, iso, json_response, service
from idmint.api.bodies import BodyRoute
from idmint.api.schemas import (
    MintRequest,
    MintResponse,
    TokenForEmailRequest,
    TokenForEmailResponse,
)
from idmint.jose.errors import CredentialsMissingError, InvalidArgumentError
from idmint.jose.tokens import MintedToken
from idmint.service import Idmint
from idmint.service._pending import Pending
from idmint.store import User

__all__ = [
    "email_answer",
    "email_reply",
    "mint_answer",
    "mint_reply",
    "parse_key_pair",
    "router",
    "start_email",
    "start_mint",
]

router = APIRouter(tags=["mint"], route_class=BodyRoute)

_authorization = APIKeyHeader(
    name="Authorization",
    auto_error=False,
    scheme_name="ApiKeyPair",
    description="`Outseta API_KEY:API_SECRET` (the seed's scheme word), `idmint API_KEY:API_SECRET`, "
    "or `Basic base64(API_KEY:API_SECRET)`.",
)
_PAIR_SCHEMES = {"outseta", "idmint"}


def parse_key_pair(header: str | None) -> tuple[str, str]:
    """The (API key, auth token) pair of an Authorization header.

    :raises CredentialsMissingError: no header.
    :raises InvalidArgumentError: a header in no accepted form.
    """
    if not header:
        raise CredentialsMissingError("Authorization header required: Outseta API_KEY:API_SECRET.")
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        try:
            value = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidArgumentError(
                "Malformed Basic credentials.", field="Authorization"
            ) from None
    elif scheme not in _PAIR_SCHEMES:
        raise InvalidArgumentError(
            "Authorization must be 'Outseta API_KEY:API_SECRET' or Basic.", field="Authorization"
        )
    api_key, sep, secret = value.strip().partition(":")
    if not sep or not api_key or not secret:
        raise InvalidArgumentError(
            "Authorization must carry API_KEY:API_SECRET.", field="Authorization"
        )
    return api_key, secret


@router.post(
    "/v1/auth/token/get",
    response_model=MintResponse,
    responses=errors(401, 403, 404),
    summary="Mint a user token (API key and auth token in the body)",
)
def mint_token(body: MintRequest, request: Request) -> Response:
    """Mint a short-lived JWT for ``userId``, to pass to the client's ``identify()``.

    ``userProperties.organizationId`` and ``email`` are bound into the token and checked by
    identify; ``isAdmin`` is the only way to make a user an admin.  With the workspace's
    auto-create on (default) the user is created or updated.
    """
    return json_response(mint_answer(service(request), body))


def mint_answer(idmint: Idmint, body: MintRequest) -> dict[str, Any]:
    """The answer to a mint by user id, once its writes are committed (the FastAPI route's;
    the front waits on :func:`start_mint` without blocking a thread)."""
    return mint_reply(start_mint(idmint, body).result())


def start_mint(idmint: Idmint, body: MintRequest) -> Pending[MintedToken]:
    """A mint by user id, its writes submitted (the route and the front share it)."""
    data = body.data
    return idmint.tokens.start_mint(
        data.apiKey,
        data.authToken,
        data.userId,
        organization_id=data.userProperties.organizationId,
        email=data.userProperties.email,
        is_admin=data.userProperties.isAdmin,
        expires_in=data.expiresIn,
    )


def mint_reply(minted: MintedToken) -> dict[str, Any]:
    """The body of a successful mint by user id."""
    return {
        "result": {
            "status": "success",
            "message": "Token generated successfully.",
            "data": {
                "token": minted.token,
                "expiresAt": iso(minted.expires_at),
                "expiresIn": minted.expires_in,
            },
        }
    }


@router.post(
    "/api/v1/tokens",
    response_model=TokenForEmailResponse,
    responses=errors(401, 403, 404),
    summary="Mint an access token for an existing user by email (admin credentials)",
)
def token_for_email(
    body: TokenForEmailRequest,
    request: Request,
    authorization: str | None = Depends(_authorization),
) -> Response:
    """Mint a token for the existing user whose email is ``username``.

    An unknown user is ``user_not_found`` (404): no user is created.
    """
    api_key, secret = parse_key_pair(authorization)
    return json_response(email_answer(service(request), api_key, secret, body.username))


def email_answer(idmint: Idmint, api_key: str, secret: str, username: str) -> dict[str, Any]:
    """The answer to a mint by email, its Authorization header parsed, once its audit event is
    committed (the FastAPI route's)."""
    minted, _user = start_email(idmint, api_key, secret, username).result()
    return email_reply(minted)


def start_email(
    idmint: Idmint, api_key: str, secret: str, username: str
) -> Pending[tuple[MintedToken, User]]:
    """A mint by email, its writes submitted (the route and the front share it)."""
    return idmint.tokens.start_mint_for_email(api_key, secret, username)


def email_reply(minted: MintedToken) -> dict[str, Any]:
    """The body of a successful mint by email."""
    return {"access_token": minted.token, "token_type": "bearer", "expires_in": minted.expires_in}
