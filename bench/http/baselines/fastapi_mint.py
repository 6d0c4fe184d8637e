"""Baseline (c), what a user would write by hand: FastAPI, a pydantic body, PyJWT.

Both mint shapes, as a FastAPI tutorial would write them: ``async def`` endpoints (nothing
blocks), pydantic request models, the auth token's SHA-256 compared in constant time, the
claims signed ES256 with ``jwt.encode`` and a preloaded key, a plain ``dict`` returned (FastAPI
serializes it).  No storage: the email shape looks the user up in a dict.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any

import jwt
from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel

if TYPE_CHECKING:  # mypy, from the repository root, knows this module by its path
    from bench.http.baselines._shared import CONFIG, claims, iso, load_private_key
else:  # uvicorn --app-dir puts this directory on sys.path
    from _shared import CONFIG, claims, iso, load_private_key

KEY = load_private_key()
HEADERS = {"kid": CONFIG["kid"]}
API_KEY = CONFIG["api_key"]
TOKEN_HASH = CONFIG["auth_token_sha256"]
LIFETIME = CONFIG["lifetime"]
USERS: dict[str, list[Any]] = CONFIG["users_by_email"]

app = FastAPI()


class UserProperties(BaseModel):
    organizationId: str
    isAdmin: bool = False
    email: str | None = None


class MintData(BaseModel):
    apiKey: str
    authToken: str
    userId: str
    userProperties: UserProperties
    expiresIn: int | None = None


class MintRequest(BaseModel):
    data: MintData


class TokenRequest(BaseModel):
    username: str


def check(api_key: str, secret: str) -> None:
    digest = hashlib.sha256(secret.encode()).hexdigest()
    if api_key != API_KEY or not hmac.compare_digest(digest, TOKEN_HASH):
        raise HTTPException(status_code=400, detail="Auth token not found.")


@app.post("/v1/auth/token/get")
async def mint(body: MintRequest) -> dict[str, Any]:
    data = body.data
    check(data.apiKey, data.authToken)
    props = data.userProperties
    payload = claims(data.userId, props.organizationId, props.email, props.isAdmin)
    token = jwt.encode(payload, KEY, algorithm="ES256", headers=HEADERS)
    return {
        "result": {
            "status": "success",
            "message": "Token generated successfully.",
            "data": {"token": token, "expiresAt": iso(payload["exp"]), "expiresIn": LIFETIME},
        }
    }


@app.post("/api/v1/tokens")
async def token_for_email(body: TokenRequest, authorization: str = Header()) -> dict[str, Any]:
    scheme, _, pair = authorization.partition(" ")
    api_key, _, secret = pair.partition(":")
    if scheme.lower() != "outseta":
        raise HTTPException(status_code=400, detail="Bad Authorization.")
    check(api_key, secret)
    user = USERS.get(body.username.casefold())
    if user is None:
        raise HTTPException(status_code=404, detail="User not found.")
    payload = claims(user[0], user[1], user[2], user[3])
    token = jwt.encode(payload, KEY, algorithm="ES256", headers=HEADERS)
    return {"access_token": token, "token_type": "bearer", "expires_in": LIFETIME}
