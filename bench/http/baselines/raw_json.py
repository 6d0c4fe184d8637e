"""Baseline (a), the HTTP ceiling: a raw ASGI app that reads the request body and answers a
fixed JSON document shaped and sized like a mint answer (a token-sized string).  No parsing,
no crypto, no store: what uvicorn (httptools, uvloop) costs per request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:  # mypy, from the repository root, knows this module by its path
    from bench.http.baselines._shared import Receive, Send, answer, lifespan, read_body
else:  # uvicorn --app-dir puts this directory on sys.path
    from _shared import Receive, Send, answer, lifespan, read_body

BODY = orjson.dumps(
    {
        "result": {
            "status": "success",
            "message": "Token generated successfully.",
            "data": {"token": "x" * 470, "expiresAt": "2026-11-23T10:00:00Z", "expiresIn": 172800},
        }
    }
)


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    await read_body(receive)
    await answer(send, 200, BODY)
