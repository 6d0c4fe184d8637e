"""``idmint auth-tokens``: the secrets a backend mints with: create (the secret shown once),
list, revoke."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from idmint.cli._context import (
    ApiKeyOption,
    JsonOption,
    ScopeOption,
    open_service,
    scopes_of,
    workspace_of,
)
from idmint.cli._output import echo_json, plain, show, stdout, table, when

if TYPE_CHECKING:
    from idmint.service import AuthToken

__all__ = ["app"]

app = typer.Typer(
    help="Create, list and revoke the workspace's auth tokens (its backend's secrets).",
    no_args_is_help=True,
)


@app.command("create")
def create(
    name: Annotated[
        str, typer.Argument(help="A name that says who uses it (e.g. billing-backend).")
    ],
    expires_at: Annotated[
        str | None,
        typer.Option(
            "--expires-at",
            metavar="TIME",
            help="When it stops working: ISO 8601, UTC unless it says otherwise, at most ten "
            "years ahead. [default: never; revoke it instead]",
            show_default=False,
        ),
    ] = None,
    scope: ScopeOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an auth token and print its secret, once: it is stored only as a hash.

    A backend that mints needs only the mint scope (the default); give --scope admin to a
    token that manages the workspace over the admin API, and both only where one secret
    must do both (`auth-tokens list` shows such tokens as over-privileged).

    --json prints {"authToken": {...}, "secret": "..."}, as the admin API answers.

    Example:

        idmint auth-tokens create billing-backend
        idmint auth-tokens create ops --scope admin
        idmint auth-tokens create ci --expires-at 2027-06-30T00:00:00Z --json
    """
    from idmint.serializers import auth_token_json, parse_iso

    expiry = None if expires_at is None else parse_iso(expires_at, field="expiresAt")
    with open_service() as service:
        workspace = workspace_of(service, api_key)
        created = service.workspaces.create_auth_token(
            workspace.api_key, name, actor="cli", expires_at=expiry, scopes=scopes_of(scope)
        )
    if as_json:
        echo_json({"authToken": auth_token_json(created.record), "secret": created.secret})
        return
    out = stdout()
    scopes = " and ".join(created.record.scopes.split())
    out.print(f"Created auth token {plain(name)} ({created.record.id}), scope {scopes}.")
    out.print(f"  Auth token: [bold]{created.secret}[/]")
    out.print("  [bold red]Store it now; it is never shown again.[/] Keep it on your backend only.")


def _scopes(token: AuthToken) -> str:
    scopes = token.scopes.split()
    over = {"mint", "admin"} <= set(scopes)
    return " ".join(scopes) + (" [bold yellow](over-privileged)[/]" if over else "")


def _short(seconds: float | None) -> str:
    return when(seconds)[:16].replace("T", " ")


@app.command("list")
def list_tokens(api_key: ApiKeyOption = None, as_json: JsonOption = False) -> None:
    """List the workspace's auth tokens: name, prefix, scopes, created, last used, expiry and
    whether revoked (never the secrets).  A token with both scopes is marked
    over-privileged: a backend that mints needs only mint (tokens made before scopes existed
    have both; replace them with `auth-tokens create NAME` and revoke the old one).

    Example:

        idmint auth-tokens list
    """
    from idmint.serializers import auth_token_json

    with open_service() as service:
        workspace = workspace_of(service, api_key)
        tokens = service.workspaces.auth_tokens(workspace.api_key)
    if as_json:
        echo_json({"authTokens": [auth_token_json(token) for token in tokens]})
        return
    rows = table(
        "id",
        "name",
        "prefix",
        "scopes",
        "created (UTC)",
        "last used",
        "expires",
        "revoked",
        no_wrap=("id", "prefix"),
    )
    for token in tokens:
        rows.add_row(
            token.id,
            plain(token.name),
            token.prefix,
            _scopes(token),
            _short(token.created_at),
            _short(token.last_used_at),
            _short(token.expires_at),
            _short(token.revoked_at) if token.revoked_at else "",
        )
    show(rows)


@app.command("revoke")
def revoke(
    token_id: Annotated[
        str, typer.Argument(help="The token's id (at_..., from `idmint auth-tokens list`).")
    ],
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke an auth token: it stops minting at once.

    Example:

        idmint auth-tokens revoke at_3q2-7wEjZQ1c4tLb
    """
    from idmint.serializers import auth_token_json

    with open_service() as service:
        workspace = workspace_of(service, api_key)
        record = service.workspaces.revoke_auth_token(workspace.api_key, token_id, actor="cli")
    if as_json:
        echo_json(auth_token_json(record))
        return
    stdout().print(f"Revoked auth token {plain(record.name)} ({record.id}).")
