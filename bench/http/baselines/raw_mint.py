"""Baseline (b), the crypto + HTTP ceiling of a mint: raw ASGI, no framework, no storage.

Both mint shapes, as idmint answers them: the body is parsed with orjson, the auth token's
SHA-256 compared with ``hmac.compare_digest`` to the stored hash, the claims built as idmint
builds them and signed ES256 with PyJWT (``jwt.encode`` with a preloaded key and the kid).
``POST /api/v1/tokens`` finds the user by email in a dict (the in-memory stand-in for idmint's
user table).  Bad credentials answer 400, as idmint does.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any

import jwt
import orjson

if TYPE_CHECKING:  # mypy, from the repository root, knows this module by its path
    from bench.http.baselines._shared import (
        CONFIG,
        Receive,
        Send,
        answer,
        claims,
        iso,
        lifespan,
        load_private_key,
        read_body,
    )
else:  # uvicorn --app-dir puts this directory on sys.path
    from _shared import (
        CONFIG,
        Receive,
        Send,
        answer,
        claims,
        iso,
        lifespan,
        load_private_key,
        read_body,
    )

KEY = load_private_key()
KID = CONFIG["kid"]
API_KEY = CONFIG["api_key"]
TOKEN_HASH = CONFIG["auth_token_sha256"].encode("ascii")
LIFETIME = CONFIG["lifetime"]
USERS: dict[str, list[Any]] = CONFIG["users_by_email"]  # email -> [userId, org, email, isAdmin]
HEADERS = {"kid": KID}
BAD = orjson.dumps({"error": {"message": "Auth token not found.", "code": "auth_token_not_found"}})
NOT_FOUND = orjson.dumps({"error": {"message": "No such route.", "code": "not_found"}})


def _authentic(api_key: object, secret: object) -> bool:
    if api_key != API_KEY or not isinstance(secret, str):
        return False
    digest = hashlib.sha256(secret.encode("utf-8")).hexdigest().encode("ascii")
    return hmac.compare_digest(digest, TOKEN_HASH)


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    path = scope["path"]
    body = await read_body(receive)
    if path == "/v1/auth/token/get":
        data = orjson.loads(body)["data"]
        if not _authentic(data.get("apiKey"), data.get("authToken")):
            await answer(send, 400, BAD)
            return
        props = data.get("userProperties") or {}
        payload = claims(
            data["userId"],
            props.get("organizationId"),
            props.get("email"),
            bool(props.get("isAdmin")),
        )
        token = jwt.encode(payload, KEY, algorithm="ES256", headers=HEADERS)
        result = {
            "result": {
                "status": "success",
                "message": "Token generated successfully.",
                "data": {"token": token, "expiresAt": iso(payload["exp"]), "expiresIn": LIFETIME},
            }
        }
        await answer(send, 200, orjson.dumps(result))
    elif path == "/api/v1/tokens":
        authorization = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
        scheme, _, pair = authorization.partition(" ")
        api_key, _, secret = pair.partition(":")
        if scheme.lower() != "outseta" or not _authentic(api_key, secret):
            await answer(send, 400, BAD)
            return
        user = USERS.get(orjson.loads(body)["username"].casefold())
        if user is None:
            await answer(send, 404, NOT_FOUND)
            return
        payload = claims(user[0], user[1], user[2], user[3])
        token = jwt.encode(payload, KEY, algorithm="ES256", headers=HEADERS)
        out: dict[str, Any] = {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": LIFETIME,
        }
        await answer(send, 200, orjson.dumps(out))
    else:
        await answer(send, 404, NOT_FOUND)
