"""Baseline (b'), the crypto + HTTP ceiling of identify: raw ASGI, no framework, no storage.

Parses the body with orjson, verifies the token with PyJWT (``jwt.decode`` with the
workspace's preloaded ES256 public key: signature, exp/nbf/iat with 30 s leeway, audience,
issuer, required claims), compares userId with ``sub`` and organizationId and email (without
case) with the token's, and answers a session like idmint's.  No kid look-up, no revocation
check, no session or profile written.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import jwt
import orjson

if TYPE_CHECKING:  # mypy, from the repository root, knows this module by its path
    from bench.http.baselines._shared import CONFIG, Receive, Send, answer, iso, lifespan, read_body
else:  # uvicorn --app-dir puts this directory on sys.path
    from _shared import CONFIG, Receive, Send, answer, iso, lifespan, read_body

VERIFY = CONFIG["verify"]
PUBLIC_KEY = jwt.PyJWK(VERIFY["jwk"]).key
API_KEY = VERIFY["api_key"]
ISSUER = VERIFY["issuer"]
OPTIONS: Any = {"require": ["exp", "iss", "aud", "sub"]}
INVALID = orjson.dumps({"error": {"message": "Invalid token.", "code": "token_invalid"}})
NOT_FOUND = orjson.dumps({"error": {"message": "No such route.", "code": "not_found"}})
MISMATCH = orjson.dumps({"error": {"message": "Mismatch.", "code": "user_mismatch"}})


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    body = await read_body(receive)
    if scope["path"] != "/v1/identify" or scope["method"] != "POST":
        await answer(send, 404, NOT_FOUND)
        return
    request = orjson.loads(body)
    user = request["user"]
    if request.get("apiKey") != API_KEY:
        await answer(send, 400, INVALID)
        return
    try:
        token = jwt.decode(
            request["authToken"],
            PUBLIC_KEY,
            algorithms=["ES256"],
            audience=API_KEY,
            issuer=ISSUER,
            leeway=30,
            options=OPTIONS,
        )
    except jwt.InvalidTokenError:
        await answer(send, 401, INVALID)
        return
    email = token.get("email")
    if (
        token["sub"] != user.get("userId")
        or ("organizationId" in token and token["organizationId"] != user.get("organizationId"))
        or (email is not None and str(user.get("email", "")).casefold() != email.casefold())
    ):
        await answer(send, 403, MISMATCH)
        return
    out = {
        "session": {
            "id": "ses_" + secrets.token_urlsafe(12),
            "user": user,
            "organizationId": token.get("organizationId"),
            "isAdmin": bool(token.get("isAdmin")),
            "expiresAt": iso(token["exp"]),
            "verified": True,
            "mode": "jwt",
        }
    }
    await answer(send, 200, orjson.dumps(out))
