"""``idmint init``, ``idmint serve`` and ``idmint migrate``: make a store, run the server on
it, and upgrade its schema."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from idmint.cli._context import JsonOption, ScopeOption, open_service, scopes_of, where
from idmint.cli._output import echo_json, plain, stderr, stdout

if TYPE_CHECKING:
    from idmint.service import CreatedAccount

__all__ = ["init", "migrate", "serve"]


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind. [default: IDMINT_HOST or 127.0.0.1]")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port to listen on. [default: IDMINT_PORT or 8000]"),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Worker processes. [default: IDMINT_WORKERS or 1]"),
    ] = None,
    migrate_first: Annotated[
        bool,
        typer.Option(
            "--migrate",
            help="Upgrade a store whose schema is behind first (as `idmint migrate` does); "
            "without it such a store is refused.",
        ),
    ] = False,
) -> None:
    """Run the idmint server (the HTTP API, the JWKS and the browser SDK) with uvicorn.

    The store must exist (`idmint init` makes it) and its schema be current: a store that is
    behind is refused, naming `idmint migrate`, unless --migrate is given.  The server refuses
    to start when the master key cannot open the store's signing keys.  Workers read their
    settings from the same IDMINT_* environment, with the host, port and worker count given
    here.  Without IDMINT_PUBLIC_URL, issuers are http://<host>:<port>/w/<apiKey> of the
    address served (a wildcard host as loopback); the base in use is printed at start.

    Example:

        IDMINT_DATA_DIR=./.idmint idmint serve --host 0.0.0.0 --port 8000 --workers 2
        idmint serve --migrate
    """
    from idmint.settings import Settings

    given: dict[str, Any] = {"host": host, "port": port, "workers": workers}
    # Built as each worker builds its own, from the environment with these choices in it.
    settings = Settings(**{name: value for name, value in given.items() if value is not None})
    with open_service(settings, migrate=migrate_first):
        pass  # opening checks the schema and the master key
    # Worker processes build their own Settings from the environment: hand the choices down.
    os.environ["IDMINT_HOST"] = settings.host
    os.environ["IDMINT_PORT"] = str(settings.port)
    os.environ["IDMINT_WORKERS"] = str(settings.workers)
    stderr().print(
        f"idmint: serving on {plain(settings.host)}:{settings.port}, issuers "
        f"{plain(settings.base_url)}/w/<apiKey> (store: {plain(where(settings))})"
    )
    import uvicorn  # imported here: the other commands need no server

    uvicorn.run(
        "idmint.api:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=settings.access_log,
        # No "server: uvicorn" on every answer: it tells a scanner what to try, and costs
        # a header per response.
        server_header=False,
        # The bounded edge: header size and count, header and body timeouts, a connection
        # cap (idmint.api.edge); and an idle keep-alive longer than a balancer's.
        http="idmint.api.edge:EdgeProtocol",
        timeout_keep_alive=settings.keep_alive_seconds,
    )


def migrate(
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Change nothing: exit 0 when the schema is current, 1 when it is behind.",
        ),
    ] = False,
) -> None:
    """Upgrade the store's schema to this version of idmint: the one command that does.

    Run it after installing a new idmint, before `idmint serve` (which refuses a store that is
    behind); with several servers on one store, run it once, from one place.  Every other
    command leaves the schema as it is.  --check only reports, for a deployment script.

    Example:

        idmint migrate --check || idmint migrate
    """
    from idmint.service import Idmint
    from idmint.settings import Settings

    settings = Settings()
    current, head = Idmint.schema_revisions(settings)
    if current == head:
        stdout().print(f"The store's schema is current (revision {head}).")
        return
    if check:
        stdout().print(f"The store's schema is at revision {current}, behind {head}.")
        raise typer.Exit(1)
    with open_service(settings, migrate=True):
        pass
    stdout().print(f"Upgraded the store's schema from revision {current} to {head}.")


def init(
    name: Annotated[str, typer.Option(help="The workspace's display name.")] = "default",
    if_missing: Annotated[
        bool,
        typer.Option(
            "--if-missing",
            help="When a workspace exists, say so and exit 0 instead of failing (`make run` uses it).",
        ),
    ] = False,
    serving: Annotated[
        bool,
        typer.Option(
            "--serving",
            help="The server starts right after (as `make run` does): say so, instead of "
            "telling to start it.",
        ),
    ] = False,
    scope: ScopeOption = None,
    owner_email: Annotated[
        str,
        typer.Option(
            "--owner-email",
            help="The email of the console's owner account, made when the console has no "
            "owner yet.",
        ),
    ] = "owner@localhost",
    as_json: JsonOption = False,
) -> None:
    """Create the workspace, its signing key, a first auth token and the console's owner.

    The auth token is the backend's: it may mint (--scope mint, the default) and nothing
    else.  For the admin API, create a token with `idmint auth-tokens create NAME --scope
    admin`, or set IDMINT_ADMIN_TOKEN for the instance-wide admin credential.

    Prints the API key, the auth token (once: store it now, it is never shown again), the
    issuer, the JWKS URL, the two `export` lines the README's example uses, and a curl
    command that mints a token.  Never overwrites: when the store already holds a workspace,
    it stops with exit code 1 (workspace_exists), or with --if-missing reports the existing
    workspace's API key and exits 0.

    When the console has no owner account yet, it makes one (--owner-email, owner@localhost
    by default) and prints its sign-in URL and generated password, once; an existing owner
    is left alone (`idmint console-accounts reset-password EMAIL` makes a new password).
    --json adds consoleEmail, consolePassword and consoleUrl (null when no owner was made).

    The only command that creates a store: the data directory (mode 0700), the SQLite
    database (0600) and, unless IDMINT_MASTER_KEY is set, the master key file master.key
    (0600), made only while the store holds no sealed signing key.

    Example:

        idmint init --name "Acme"
        idmint init --json > idmint-credentials.json
    """
    from idmint.serializers import jwks_uri

    with open_service(create=True) as service:
        base_url = service.settings.base_url
        existing = service.workspaces.all()
        if existing and if_missing:
            owner = service.console.ensure_owner(owner_email)
            stdout().print(
                f"Workspace {plain(existing[0].name)} exists (API key {existing[0].api_key}); "
                "its auth token was shown when it was created."
            )
            _print_owner(owner, base_url)
            return
        result = service.init_workspace(name, scopes=scopes_of(scope))
        owner = service.console.ensure_owner(owner_email)
    api_key, secret = result.workspace.api_key, result.auth_token.secret
    if as_json:
        echo_json(
            {
                "apiKey": api_key,
                "authToken": secret,
                "issuer": result.issuer,
                "jwksUri": jwks_uri(result.issuer),
                "workspaceId": result.workspace.id,
                "scopes": result.auth_token.record.scopes.split(),
                "consoleEmail": None if owner is None else owner.account.email,
                "consolePassword": None if owner is None else owner.password,
                "consoleUrl": None if owner is None else _sign_in_url(base_url),
            }
        )
        return
    body = json.dumps(
        {
            "data": {
                "apiKey": api_key,
                "authToken": secret,
                "userId": "user-1",
                "userProperties": {"organizationId": "org-1", "email": "ann@example.com"},
            }
        }
    )
    out = stdout()
    out.print(f"Created workspace [bold]{plain(result.workspace.name)}[/] ({result.workspace.id})")
    out.print(f"  API key:    {api_key}")
    out.print(f"  Issuer:     {plain(result.issuer)}")
    out.print(f"  JWKS URL:   {plain(jwks_uri(result.issuer))}")
    out.print()
    scopes = result.auth_token.record.scopes.split()
    out.print(f"  Auth token: [bold]{secret}[/]  (scope: {' and '.join(scopes)})")
    out.print(
        "  [bold red]Store the auth token now; it is never shown again.[/] "
        "Keep it on your backend only."
    )
    if "admin" not in scopes:
        out.print(
            "  It mints and nothing else. For the admin API: "
            "`idmint auth-tokens create ops --scope admin`, or set IDMINT_ADMIN_TOKEN.",
            highlight=False,
        )
    _print_owner(owner, base_url)
    out.print()
    out.print("For the README's example, paste into a second terminal:")
    out.print()
    out.print(f"  export API_KEY={api_key}", highlight=False)
    out.print(f"  export AUTH_TOKEN={secret}", highlight=False)
    out.print()
    if serving:
        out.print(f"The server starts now on {plain(base_url)}; then mint a token for a user:")
    else:
        out.print("Start the server with `idmint serve`, then mint a token for a user:")
    out.print()
    out.print(
        f"  curl -sS -X POST {plain(base_url)}/v1/auth/token/get \\\n"
        "    -H 'Content-Type: application/json' \\\n"
        f"    -d '{plain(body)}'",
        highlight=False,
    )


def _sign_in_url(base_url: str) -> str:
    return f"{base_url}/console/sign-in"


def _print_owner(owner: CreatedAccount | None, base_url: str) -> None:
    """The console's new owner account and its password, once."""
    if owner is None:
        return
    out = stdout()
    out.print()
    out.print(f"Created the console's owner account {plain(owner.account.email)}")
    out.print(f"  Sign in at: {plain(_sign_in_url(base_url))}", highlight=False)
    out.print(f"  Password:   [bold]{plain(owner.password)}[/]")
    out.print(
        "  [bold red]Store the password now; it is never shown again.[/] "
        "(`idmint console-accounts reset-password EMAIL` makes a new one.)"
    )
