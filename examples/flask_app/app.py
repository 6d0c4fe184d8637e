"""idmint with Flask: a `/generate-jwt-token` endpoint that mints for the logged-in user.

Run it against `make run` (see examples/README.md):

    IDMINT_URL=http://127.0.0.1:8000 IDMINT_API_KEY=pk_... IDMINT_AUTH_TOKEN=sk_... \\
        .venv/bin/flask --app examples/flask_app/app.py run --port 8002

then open http://127.0.0.1:8002/login?user=ann
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, abort, redirect, request, send_file, session

from idmint import IdmintError
from idmint.client import IdmintClient

IDMINT_URL = os.environ["IDMINT_URL"]  # e.g. http://127.0.0.1:8000
IDMINT_API_KEY = os.environ["IDMINT_API_KEY"]  # pk_...: public, the page needs it too

# One client per process. The auth token (sk_...) is a secret: it never leaves the server.
idmint = IdmintClient(
    IDMINT_URL, api_key=IDMINT_API_KEY, auth_token=os.environ["IDMINT_AUTH_TOKEN"]
)

app = Flask(__name__, static_folder=None)
INDEX = Path(__file__).resolve().parents[1] / "static" / "index.html"

# --- A tiny demo login (your application has its own) -----------------------------------------
# Flask's session is a cookie signed with the secret key, so a browser cannot change who it is.

USERS = {
    "ann": {"userId": "ann", "name": "Ann", "email": "ann@example.com", "organizationId": "org-1"},
    "bob": {"userId": "bob", "name": "Bob", "email": "bob@example.com", "organizationId": "org-1"},
}
app.secret_key = os.environ.get("APP_SECRET_KEY") or secrets.token_hex(32)
app.config["SESSION_COOKIE_SAMESITE"] = "Lax"


def logged_in_user() -> dict[str, str] | None:
    return USERS.get(session.get("user_id", ""))


@app.get("/login")
def login() -> Any:
    user_id = request.args.get("user", "")
    if user_id not in USERS:
        abort(404, "no such demo user")
    session["user_id"] = user_id
    return redirect("/", code=303)


@app.get("/logout")
def logout() -> Any:
    session.clear()
    return redirect("/", code=303)


# --- The server endpoint of the JWT guide -----------------------------------------------------


@app.post("/generate-jwt-token")
def generate_jwt_token() -> Any:
    """A token for the logged-in user: never for a userId that the request names."""
    user = logged_in_user()
    if user is None:
        return {"detail": "not logged in"}, 401
    try:
        minted = idmint.generate_token(
            user["userId"], organization_id=user["organizationId"], email=user["email"]
        )
    except IdmintError as exc:  # exc.code: auth_token_revoked, unavailable, ...
        return {"detail": exc.code}, 502
    body = {"token": minted.token, "expiresAt": minted.expires_at.isoformat()}
    return body, 200, {"Cache-Control": "no-store"}


# --- The page ---------------------------------------------------------------------------------


@app.get("/config")
def config() -> Any:
    """What the page needs: where idmint is, the public API key, and who is logged in."""
    return {"idmintUrl": IDMINT_URL, "apiKey": IDMINT_API_KEY, "user": logged_in_user()}


@app.get("/")
def index() -> Any:
    return send_file(INDEX)
