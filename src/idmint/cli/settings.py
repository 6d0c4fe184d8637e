"""``idmint settings``: show and change a workspace's settings, "Require JWT Token" first."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from idmint.cli._context import ApiKeyOption, JsonOption, open_service, workspace_of
from idmint.cli._output import echo_json, plain, stdout, table
from idmint.cli._output import show as show_table

if TYPE_CHECKING:
    from idmint.service import Idmint, Workspace

__all__ = ["app"]

app = typer.Typer(
    help="Show or change the workspace settings (bare `idmint settings` shows them).",
    invoke_without_command=True,
)


def _values(service: Idmint, workspace: Workspace) -> dict[str, Any]:
    from idmint.serializers import workspace_json

    return workspace_json(workspace, service.settings.issuer_for(workspace.api_key))


def _print(values: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        echo_json(values)
        return
    out = stdout()
    out.print(f"Workspace [bold]{plain(values['name'])}[/] ({values['id']})")
    out.print(f"  API key:   {values['apiKey']}")
    out.print(f"  Issuer:    {plain(values['issuer'])}")
    out.print(f"  JWKS URL:  {plain(values['jwksUri'])}")
    rows = table("setting", "value", "change with")
    on_off = {True: "on", False: "off"}
    rows.add_row("Require JWT", on_off[values["requireJwt"]], "--require-jwt / --no-require-jwt")
    rows.add_row("Token TTL (default)", f"{values['tokenTtlSeconds']} s", "--ttl")
    rows.add_row("Minimum TTL", f"{values['minTtlSeconds']} s", "--min-ttl")
    rows.add_row("Maximum TTL", f"{values['maxTtlSeconds']} s", "--max-ttl")
    rows.add_row(
        "Auto-create users on mint",
        on_off[values["autoCreateUsers"]],
        "--auto-create-users / --no-auto-create-users",
    )
    rows.add_row(
        "Allowed domains",
        plain(", ".join(values["allowedDomains"]) or "(any)"),
        "--allowed-domain",
    )
    rows.add_row("Mint rate limit", plain(values["mintRateLimit"] or "off"), "--mint-rate-limit")
    show_table(rows)


@app.callback()
def main(ctx: typer.Context) -> None:
    """Show or change the workspace settings.

    `idmint settings` alone is `idmint settings show`.

    Example:

        idmint settings
        idmint settings set --no-require-jwt --ttl 3600
        idmint settings require-jwt on
    """
    if ctx.invoked_subcommand is None:
        show(api_key=None, as_json=False)


@app.command("show")
def show(api_key: ApiKeyOption = None, as_json: JsonOption = False) -> None:
    """Show the workspace's settings, its API key, issuer and JWKS URL.

    --json prints the workspace as the admin API answers it.

    Example:

        idmint settings show --json
    """
    with open_service() as service:
        values = _values(service, workspace_of(service, api_key))
    _print(values, as_json=as_json)


@app.command("set")
def set_settings(
    require_jwt: Annotated[
        bool | None,
        typer.Option(
            "--require-jwt/--no-require-jwt",
            help="Whether identify needs a token (off: development only).",
            show_default=False,
        ),
    ] = None,
    ttl: Annotated[
        int | None,
        typer.Option(
            "--ttl",
            min=1,
            metavar="SECONDS",
            help="Default token lifetime, seconds.",
            show_default=False,
        ),
    ] = None,
    min_ttl: Annotated[
        int | None,
        typer.Option(
            "--min-ttl",
            min=1,
            metavar="SECONDS",
            help="Shortest lifetime, seconds.",
            show_default=False,
        ),
    ] = None,
    max_ttl: Annotated[
        int | None,
        typer.Option(
            "--max-ttl",
            min=1,
            metavar="SECONDS",
            help="Longest lifetime, seconds.",
            show_default=False,
        ),
    ] = None,
    auto_create_users: Annotated[
        bool | None,
        typer.Option(
            "--auto-create-users/--no-auto-create-users",
            help="Whether mint creates unknown users (off: they must exist).",
            show_default=False,
        ),
    ] = None,
    allowed_domains: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-domain",
            metavar="DOMAIN",
            help="A domain the browser may identify from (repeat; e.g. *.example.com). "
            "Replaces the list.",
            show_default=False,
        ),
    ] = None,
    clear_allowed_domains: Annotated[
        bool,
        typer.Option("--clear-allowed-domains", help="Empty the allowed domain list."),
    ] = False,
    mint_rate_limit: Annotated[
        str | None,
        typer.Option(
            "--mint-rate-limit",
            metavar="RATE",
            help="The workspace's mint quota, e.g. '100/second' or '5000 per hour'; 'off' "
            "removes it. Mints past it are answered 429 rate_limited.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Rename the workspace.", show_default=False)
    ] = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change workspace settings; only the options given change.

    Lifetimes must nest: 1 <= --min-ttl <= --ttl <= --max-ttl <= 30 days.  The change is
    audited (actor "cli") and takes effect at once.

    Example:

        idmint settings set --no-require-jwt --ttl 3600 --max-ttl 86400
        idmint settings set --allowed-domain "*.example.com"
        idmint settings set --mint-rate-limit "100/second"
    """
    if allowed_domains and clear_allowed_domains:
        raise typer.BadParameter(
            "give one or the other.", param_hint="'--allowed-domain' / '--clear-allowed-domains'"
        )
    domains = [] if clear_allowed_domains else (allowed_domains or None)
    changes: dict[str, Any] = {
        "require_jwt": require_jwt,
        "token_ttl_seconds": ttl,
        "min_ttl_seconds": min_ttl,
        "max_ttl_seconds": max_ttl,
        "auto_create_users": auto_create_users,
        "allowed_domains": domains,
        "mint_rate_limit": mint_rate_limit,
        "name": name,
    }
    if all(value is None for value in changes.values()):
        raise typer.BadParameter(
            "nothing to change; give at least one setting (see --help).", param_hint="options"
        )
    with open_service() as service:
        workspace = workspace_of(service, api_key)
        updated = service.workspaces.update_settings(workspace.api_key, actor="cli", **changes)
        values = _values(service, updated)
    if not as_json:
        stdout().print("Settings updated.")
    _print(values, as_json=as_json)


class Toggle(StrEnum):
    """``on`` or ``off``."""

    on = "on"
    off = "off"


@app.command("require-jwt")
def require_jwt(
    state: Annotated[Toggle, typer.Argument(help="on or off.", show_default=False)],
    api_key: ApiKeyOption = None,
) -> None:
    """Turn "Require JWT" on or off (a shortcut for `settings set --[no-]require-jwt`).

    With it on (the default), identify refuses a user without a token; turn it off only
    while developing.

    Example:

        idmint settings require-jwt off
    """
    with open_service() as service:
        workspace = workspace_of(service, api_key)
        service.workspaces.update_settings(
            workspace.api_key, actor="cli", require_jwt=state is Toggle.on
        )
    stdout().print(f"Require JWT is now {state.value}.")
