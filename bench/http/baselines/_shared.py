"""What the baseline apps share: their configuration, the ASGI plumbing, the claims.

The harness (``bench/http/deployment.py``) writes a JSON file and names it in
``BENCH_BASELINE_CONFIG``; every worker reads it once at import, so each request does only its
own work.  Nothing here touches a store.
"""

from __future__ import annotations

import json
import os
import time
from base64 import urlsafe_b64encode
from collections.abc import Awaitable, Callable
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

with open(os.environ["BENCH_BASELINE_CONFIG"], encoding="utf-8") as _file:
    CONFIG: dict[str, Any] = json.load(_file)

JSON_HEADERS = [(b"content-type", b"application/json")]


def load_private_key() -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return load_pem_private_key(CONFIG["private_key_pem"].encode("ascii"), password=None)


def claims(
    user_id: str, organization_id: str | None, email: str | None, is_admin: bool
) -> dict[str, Any]:
    """The claims idmint puts in a token, built the same way."""
    issued = int(time.time())
    out: dict[str, Any] = {
        "iss": CONFIG["issuer"],
        "aud": CONFIG["audience"],
        "sub": user_id,
        "iat": issued,
        "nbf": issued,
        "exp": issued + CONFIG["lifetime"],
        "jti": urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode("ascii"),
        "isAdmin": is_admin,
    }
    if organization_id is not None:
        out["organizationId"] = organization_id
    if email is not None:
        out["email"] = email
    return out


def iso(timestamp: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


async def read_body(receive: Receive) -> bytes:
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def answer(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*JSON_HEADERS, (b"content-length", str(len(body)).encode("ascii"))],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
