"""Each example's ``/generate-jwt-token``: the seed's server step, over real HTTP.

It mints only for the logged-in user (never for a userId the request names), answers 401 to
anyone else, and its token verifies offline through idmint's JWKS.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import jwt
import pytest

from idmint.client import IdmintClient, RemoteVerifier
from idmint.jose.errors import JwtRequiredError, TokenError, UserMismatchError

from .conftest import Example, Idmint

ANN = {"userId": "ann", "organizationId": "org-1", "email": "ann@example.com"}


@contextmanager
def logged_in(example: Example, user: str) -> Iterator[httpx.Client]:
    """A client with ``user``'s session cookie, logged in through the demo ``/login``."""
    with httpx.Client(base_url=example.url, timeout=10) as client:
        answer = client.get("/login", params={"user": user})
        assert answer.status_code == 303
        assert answer.headers["location"].endswith("/")
        yield client


def mint(example: Example, user: str, **request: object) -> str:
    with logged_in(example, user) as client:
        answer = client.post("/generate-jwt-token", **request)  # type: ignore[arg-type]
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    token: str = answer.json()["token"]
    return token


def test_not_logged_in_is_401(example: Example) -> None:
    answer = httpx.post(f"{example.url}/generate-jwt-token", timeout=10)
    assert answer.status_code == 401
    assert "token" not in answer.text
    config = httpx.get(f"{example.url}/config", timeout=10).json()
    assert config["user"] is None


def test_a_forged_session_cookie_is_401(example: Example) -> None:
    with logged_in(example, "ann") as ann, logged_in(example, "bob") as bob:
        ((name, ann_cookie),) = ann.cookies.items()
        bob_cookie = bob.cookies[name]
        # Both cookies are `value.signature`: bob's value with ann's signature does not verify.
        forged = f"{bob_cookie.rpartition('.')[0]}.{ann_cookie.rpartition('.')[2]}"
        for value in (forged, "bob", ""):
            answer = httpx.post(
                f"{example.url}/generate-jwt-token",
                headers={"Cookie": f"{name}={value}"},
                timeout=10,
            )
            assert answer.status_code == 401, value
        assert bob.post("/generate-jwt-token").status_code == 200


def test_an_unknown_demo_user_cannot_log_in(example: Example) -> None:
    answer = httpx.get(f"{example.url}/login", params={"user": "mallory"}, timeout=10)
    assert answer.status_code == 404


def test_the_token_is_for_the_logged_in_user(example: Example, idmint_server: Idmint) -> None:
    # The body names bob; the endpoint ignores it and mints for ann, who is logged in.
    token = mint(example, "ann", json={"userId": "bob", "isAdmin": True})
    jwks = jwt.PyJWKClient(f"{idmint_server.issuer}/.well-known/jwks.json")
    claims = jwt.decode(
        token,
        jwks.get_signing_key_from_jwt(token).key,
        algorithms=["ES256"],
        audience=idmint_server.api_key,
        issuer=idmint_server.issuer,
    )
    assert claims["sub"] == "ann"
    assert claims["organizationId"] == "org-1"
    assert claims["email"] == "ann@example.com"
    assert not claims.get("isAdmin")

    with logged_in(example, "bob") as client:
        assert client.get("/config").json()["user"]["userId"] == "bob"
        bobs = client.post("/generate-jwt-token").json()["token"]
    assert jwt.decode(bobs, options={"verify_signature": False})["sub"] == "bob"


def test_identify_accepts_the_token_only_for_its_user(
    example: Example, idmint_server: Idmint
) -> None:
    token = mint(example, "ann")
    with IdmintClient(idmint_server.base_url, api_key=idmint_server.api_key) as idmint:
        session = idmint.identify(ANN, token)
        assert session.user["userId"] == "ann"
        assert session.verified is True
        assert session.mode == "jwt"
        with pytest.raises(UserMismatchError):
            idmint.identify({**ANN, "userId": "bob", "email": "bob@example.com"}, token)
        # "Require JWT Token" is on: identify without a token is refused.
        with pytest.raises(JwtRequiredError):
            idmint.identify(ANN)


def test_remote_verifier_checks_the_token_offline(example: Example, idmint_server: Idmint) -> None:
    token = mint(example, "ann")
    verifier = RemoteVerifier(idmint_server.issuer, audience=idmint_server.api_key)
    try:
        claims = verifier.verify(token).claims
        assert (claims.user_id, claims.organization_id, claims.email) == (
            "ann",
            "org-1",
            "ann@example.com",
        )
        header, payload, signature = token.split(".")
        with pytest.raises(TokenError):
            verifier.verify(f"{header}.{payload}.{signature[:-4]}AAAA")
    finally:
        verifier.close()
