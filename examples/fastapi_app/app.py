"""idmint with FastAPI: a `/generate-jwt-token` endpoint that mints for the logged-in user.

Run it against `make run` (see examples/README.md):

    IDMINT_URL=http://127.0.0.1:8000 IDMINT_API_KEY=pk_... IDMINT_AUTH_TOKEN=sk_... \\
        .venv/bin/uvicorn --app-dir examples/fastapi_app app:app --port 8001

then open http://127.0.0.1:8001/login?user=ann
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from idmint import IdmintError
from idmint.client import IdmintClient

IDMINT_URL = os.environ["IDMINT_URL"]  # e.g. http://127.0.0.1:8000
IDMINT_API_KEY = os.environ["IDMINT_API_KEY"]  # pk_...: public, the page needs it too

# One client per process. The auth token (sk_...) is a secret: it never leaves the server.
idmint = IdmintClient(
    IDMINT_URL, api_key=IDMINT_API_KEY, auth_token=os.environ["IDMINT_AUTH_TOKEN"]
)

app = FastAPI()
EXAMPLES = Path(__file__).resolve().parents[1]
INDEX = EXAMPLES / "static" / "index.html"
# The React example (examples/react) once built with `npm run build`; REACT_DIST names another
# build folder (the tests build into a temporary one).
REACT_DIST = Path(os.environ.get("REACT_DIST") or EXAMPLES / "react" / "dist")

# --- A tiny demo login (your application has its own) -----------------------------------------
# The session cookie holds the user id and an HMAC of it, so a browser cannot change who it is.

USERS = {
    "ann": {"userId": "ann", "name": "Ann", "email": "ann@example.com", "organizationId": "org-1"},
    "bob": {"userId": "bob", "name": "Bob", "email": "bob@example.com", "organizationId": "org-1"},
}
SECRET = os.environ.get("APP_SECRET_KEY", "").encode() or secrets.token_bytes(32)
COOKIE = "demo_session"


def _signed(user_id: str) -> str:
    return f"{user_id}.{hmac.new(SECRET, user_id.encode(), hashlib.sha256).hexdigest()}"


def logged_in_user(request: Request) -> dict[str, str] | None:
    cookie = request.cookies.get(COOKIE, "")
    user_id = cookie.rpartition(".")[0]
    if user_id in USERS and hmac.compare_digest(cookie, _signed(user_id)):
        return USERS[user_id]
    return None


def current_user(request: Request) -> dict[str, str]:
    user = logged_in_user(request)
    if user is None:
        raise HTTPException(status_code=401, detail="not logged in")
    return user


# Where /login may send the browser back to: the page, or the React example's.
PAGES = {"/", "/react/"}


@app.get("/login")
def login(user: str, next: str = "/") -> RedirectResponse:
    if user not in USERS:
        raise HTTPException(status_code=404, detail="no such demo user")
    if next not in PAGES:  # never an address the request makes up
        raise HTTPException(status_code=400, detail="no such page")
    response = RedirectResponse(next, status_code=303)
    response.set_cookie(COOKIE, _signed(user), httponly=True, samesite="lax")
    return response


@app.get("/logout")
def logout() -> RedirectResponse:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE)
    return response


# --- The server endpoint of the JWT guide -----------------------------------------------------


# A plain `def`: FastAPI runs it in a worker thread, where the sync client belongs.
@app.post("/generate-jwt-token")
def generate_jwt_token(
    response: Response, user: dict[str, str] = Depends(current_user)
) -> dict[str, str]:
    """A token for the logged-in user: never for a userId that the request names."""
    try:
        minted = idmint.generate_token(
            user["userId"], organization_id=user["organizationId"], email=user["email"]
        )
    except IdmintError as exc:  # exc.code: auth_token_revoked, unavailable, ...
        raise HTTPException(status_code=502, detail=exc.code) from exc
    response.headers["Cache-Control"] = "no-store"
    return {"token": minted.token, "expiresAt": minted.expires_at.isoformat()}


# --- The page ---------------------------------------------------------------------------------


@app.get("/config")
def config(request: Request) -> dict[str, Any]:
    """What the page needs: where idmint is, the public API key, and who is logged in."""
    return {"idmintUrl": IDMINT_URL, "apiKey": IDMINT_API_KEY, "user": logged_in_user(request)}


@app.get("/")
def index() -> FileResponse:
    return FileResponse(INDEX)


# The React example's files, when it is built (404 until then).
app.mount("/react", StaticFiles(directory=REACT_DIST, html=True, check_dir=False), name="react")
