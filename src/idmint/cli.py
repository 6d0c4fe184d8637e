"""The ``idmint`` command: run the server and manage the local store from a shell.

Every command works on the store named by the settings (``IDMINT_DATA_DIR``, default
``./.idmint``, or ``IDMINT_DATABASE_URL``).  Only ``idmint init`` creates a store; every other
command refuses to run without one (``store_not_found``), and every command refuses a master
key that cannot open the store's signing keys.  When the store holds one workspace, commands
use it; with several, ``--api-key`` chooses one.  Each command's docstring is its manual, and
``docs/cli.md`` repeats them.

Errors: every :class:`~idmint.jose.errors.IdmintError` is caught in one place
(:meth:`_Group.invoke`) and printed as ``Error [code]: message`` on stderr with exit code 1;
usage errors exit with 2.  Secrets (the auth token) are printed by ``idmint init`` only, once.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from idmint.jose.errors import (
    IdmintError,
    InvalidArgumentError,
    TokenError,
    UserNotFoundError,
    WorkspaceNotFoundError,
)
from idmint.jose.jws import DEFAULT_LIMITS
from idmint.jose.tokens import MintedToken
from idmint.serializers import error_fields
from idmint.service import Idmint
from idmint.settings import Settings
from idmint.store import SigningKeyRow, User, UserProfile, Workspace

__all__ = ["app", "main"]


class _Group(TyperGroup):
    """The root command group: the one place where expected errors become one-line messages."""

    def invoke(self, ctx: Any) -> Any:  # Any: Typer's Context type lives in a private module
        try:
            return super().invoke(ctx)
        except IdmintError as exc:
            _fail(exc)
        except ValidationError as exc:
            # Bad IDMINT_* settings are the user's to fix, not a bug: no traceback.
            problems = "; ".join(
                f"IDMINT_{'_'.join(map(str, error['loc'])).upper()}: {error['msg']}"
                if error["loc"]
                else error["msg"]
                for error in exc.errors()
            )
            _fail(InvalidArgumentError(f"Invalid settings: {problems}."))


app = typer.Typer(
    name="idmint",
    cls=_Group,
    help="idmint: mint short-lived signed user tokens and verify them.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    # Locals can hold secrets (the master key, auth tokens): never print them in a traceback.
    pretty_exceptions_show_locals=False,
)
users_app = typer.Typer(help="Add and list the users of the workspace.", no_args_is_help=True)
settings_app = typer.Typer(
    help="Show or change the workspace settings (bare `idmint settings` shows them).",
    invoke_without_command=True,
)
keys_app = typer.Typer(help="List and rotate the workspace's signing keys.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(settings_app, name="settings")

ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        help="The workspace to use; needed only when the store holds several.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object for scripts.")]


# --- plumbing -----------------------------------------------------------------------------


def _stdout() -> Console:
    # Made per call so that output follows sys.stdout (the test runner swaps it).
    return Console(highlight=False, soft_wrap=True)


def _fail(exc: IdmintError) -> NoReturn:
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"Error {_plain(f'[{exc.code}]')}: {_plain(exc.message)}"
    )
    raise typer.Exit(1)


def _plain(value: object) -> str:
    """``value`` as text that is safe to print: Rich markup escaped, and control characters
    shown as JSON escapes (user fields may come from browsers, a bad token from anyone)."""
    text = value if isinstance(value, str) else json.dumps(value)
    if not text.isprintable():
        text = json.dumps(text)[1:-1]
    return escape(text)


def _echo_json(value: object) -> None:
    # ASCII only: every control character is escaped, so the output cannot drive a terminal.
    typer.echo(json.dumps(value, indent=2))


@contextmanager
def _service(settings: Settings | None = None, *, create: bool = False) -> Iterator[Idmint]:
    """The service over the configured store, migrated, its master key checked; closed
    (audit flushed) on exit.  Only ``create`` (``idmint init``) makes a missing store."""
    idmint = Idmint.open(settings or Settings(), create=create)
    try:
        yield idmint
    finally:
        idmint.close()


def _where(settings: Settings) -> str:
    return "IDMINT_DATABASE_URL" if settings.database_url else str(settings.data_dir)


def _workspace(idmint: Idmint, api_key: str | None) -> Workspace:
    """The workspace named by ``api_key``, or the store's only workspace."""
    if api_key is not None:
        return idmint.workspaces.get(api_key)
    workspaces = idmint.workspaces.all()
    if not workspaces:
        raise WorkspaceNotFoundError(
            f"No workspace in {_where(idmint.settings)} yet: run `idmint init` first."
        )
    if len(workspaces) > 1:
        keys = ", ".join(workspace.api_key for workspace in workspaces)
        raise InvalidArgumentError(
            f"This store holds {len(workspaces)} workspaces; choose one with --api-key ({keys}).",
            field="apiKey",
        )
    return workspaces[0]


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, ValueError, OSError):  # an unverified claim can hold anything
        return "out of range"
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _when_or_none(seconds: float | None) -> str | None:
    """:func:`_when` for JSON output, where an absent time stays null."""
    return None if seconds is None else _when(seconds)


def _jwks_uri(issuer: str) -> str:
    return f"{issuer}/.well-known/jwks.json"


# --- serve --------------------------------------------------------------------------------


@app.command()
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
) -> None:
    """Run the idmint server (the HTTP API, JWKS and console) with uvicorn.

    The store must exist (`idmint init` makes it); it is migrated first, and the server
    refuses to start when the master key cannot open its signing keys.  Workers read their
    settings from the same IDMINT_* environment, with the host, port and worker count given
    here.  Without IDMINT_PUBLIC_URL, issuers are http://<host>:<port>/w/<apiKey> of the
    address served (a wildcard host as loopback); the base in use is printed at start.

    Example:

        IDMINT_DATA_DIR=./.idmint idmint serve --host 0.0.0.0 --port 8000 --workers 2
    """
    given: dict[str, Any] = {"host": host, "port": port, "workers": workers}
    # Built as each worker builds its own, from the environment with these choices in it.
    settings = Settings(**{name: value for name, value in given.items() if value is not None})
    with _service(settings):
        pass  # opening runs the migrations and checks the master key
    # Worker processes build their own Settings from the environment: hand the choices down.
    os.environ["IDMINT_HOST"] = settings.host
    os.environ["IDMINT_PORT"] = str(settings.port)
    os.environ["IDMINT_WORKERS"] = str(settings.workers)
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"idmint: serving on {_plain(settings.host)}:{settings.port}, issuers "
        f"{_plain(settings.base_url)}/w/<apiKey> (store: {_plain(_where(settings))})"
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
    )


# --- init ---------------------------------------------------------------------------------


@app.command()
def init(
    name: Annotated[str, typer.Option(help="The workspace's display name.")] = "default",
    if_missing: Annotated[
        bool,
        typer.Option(
            "--if-missing",
            help="When a workspace exists, say so and exit 0 instead of failing (`make run` uses it).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create the workspace, its signing key and a first auth token.

    Prints the API key, the auth token (once: store it now, it is never shown again), the
    issuer, the JWKS URL, the two `export` lines the README's example uses, and a curl
    command that mints a token.  Never overwrites: when the store already holds a workspace,
    it stops with exit code 1 (workspace_exists), or with --if-missing reports the existing
    workspace's API key and exits 0.

    The only command that creates a store: the data directory (mode 0700), the SQLite
    database (0600) and, unless IDMINT_MASTER_KEY is set, the master key file master.key
    (0600), made only while the store holds no sealed signing key.

    Example:

        idmint init --name "Acme"
        idmint init --json > idmint-credentials.json
    """
    with _service(create=True) as idmint:
        existing = idmint.workspaces.all()
        if existing and if_missing:
            _stdout().print(
                f"Workspace {_plain(existing[0].name)} exists (API key {existing[0].api_key}); "
                "its auth token was shown when it was created."
            )
            return
        result = idmint.init_workspace(name)
        settings = idmint.settings
    api_key, secret = result.workspace.api_key, result.auth_token.secret
    if as_json:
        _echo_json(
            {
                "apiKey": api_key,
                "authToken": secret,
                "issuer": result.issuer,
                "jwksUri": _jwks_uri(result.issuer),
                "workspaceId": result.workspace.id,
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
    out = _stdout()
    out.print(f"Created workspace [bold]{_plain(result.workspace.name)}[/] ({result.workspace.id})")
    out.print(f"  API key:    {api_key}")
    out.print(f"  Issuer:     {_plain(result.issuer)}")
    out.print(f"  JWKS URL:   {_plain(_jwks_uri(result.issuer))}")
    out.print()
    out.print(f"  Auth token: [bold]{secret}[/]")
    out.print(
        "  [bold red]Store the auth token now; it is never shown again.[/] "
        "Keep it on your backend only."
    )
    out.print()
    out.print("For the README's example, paste into a second terminal:")
    out.print()
    out.print(f"  export API_KEY={api_key}", highlight=False)
    out.print(f"  export AUTH_TOKEN={secret}", highlight=False)
    out.print()
    out.print("Start the server with `idmint serve`, then mint a token for a user:")
    out.print()
    out.print(
        f"  curl -sS -X POST {_plain(settings.base_url)}/v1/auth/token/get \\\n"
        "    -H 'Content-Type: application/json' \\\n"
        f"    -d '{_plain(body)}'",
        highlight=False,
    )


# --- token --------------------------------------------------------------------------------


def _ask_email() -> str:
    """Ask for the email on stderr (click's prompt writes a space to stdout, which would spoil
    ``--json`` output); an empty answer asks again, end of input aborts."""
    while True:
        typer.echo("Email: ", nl=False, err=True)
        line = sys.stdin.readline()
        if not line:
            typer.echo(err=True)
            raise typer.Abort()
        if line.strip():
            return line.strip()


def _mint_for_email(
    idmint: Idmint, workspace: Workspace, email: str, expires_in: int | None
) -> tuple[MintedToken, User]:
    """Mint for the existing user with ``email`` (like ``POST /api/v1/tokens``): no user is
    created, and the claims come from the stored user."""
    try:
        return idmint.tokens.issue_for_email(workspace, email, actor="cli", expires_in=expires_in)
    except UserNotFoundError:
        raise UserNotFoundError(
            f"No user with the email {email!r} in this workspace "
            "(add one with `idmint users add`, or mint with --user-id)."
        ) from None


@app.command()
def token(
    email: Annotated[
        str | None,
        typer.Argument(
            help="The user's email. Alone: mint for the existing user with it. "
            "With --user-id: the email to put in the token.",
            show_default=False,
        ),
    ] = None,
    user_id: Annotated[
        str | None,
        typer.Option(
            "--user-id",
            help="Mint for this userId, creating or updating the user (as the API's mint does).",
            show_default=False,
        ),
    ] = None,
    organization: Annotated[
        str | None,
        typer.Option(help="organizationId for the token (with --user-id).", show_default=False),
    ] = None,
    admin: Annotated[
        bool | None,
        typer.Option(
            "--admin/--no-admin",
            help="isAdmin for the token (with --user-id). [default: --no-admin]",
            show_default=False,
        ),
    ] = None,
    expires_in: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="SECONDS",
            help="Lifetime in seconds, within the workspace's bounds. "
            "[default: the workspace's TTL]",
            show_default=False,
        ),
    ] = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Mint a user token (a signed JWT) locally, without the server.

    With no EMAIL and no --user-id, asks for the email.  With EMAIL only, mints for the
    existing user with that email (an unknown email is an error, user_not_found; no user is
    created).  With --user-id, mints for that userId and, like the API's mint, creates or
    updates the user with the given email, organization and admin flag.  Every mint is
    audited (actor "cli").  --json prints {"access_token", "token_type", "expires_in"}.

    Example:

        idmint token ann@example.com
        idmint token --user-id user-1 --organization org-1 ann@example.com --json
    """
    if user_id is None and (organization is not None or admin is not None):
        raise typer.BadParameter(
            "it applies with --user-id only.", param_hint="'--organization' / '--admin'"
        )
    with _service() as idmint:
        workspace = _workspace(idmint, api_key)  # before prompting: no workspace, no question
        if user_id is None:
            address = email if email is not None else _ask_email()
            minted, user = _mint_for_email(idmint, workspace, address, expires_in)
            who = f"{user.user_id} ({user.email})"
        else:
            minted = idmint.tokens.issue(
                workspace,
                user_id,
                actor="cli",
                email=email,
                organization_id=organization,
                is_admin=bool(admin),
                expires_in=expires_in,
            )
            who = user_id if email is None else f"{user_id} ({email})"
    if as_json:
        _echo_json(
            {"access_token": minted.token, "token_type": "bearer", "expires_in": minted.expires_in}
        )
        return
    out = _stdout()
    out.print(f"Token generated for {_plain(who)}.")
    out.print("Token type: bearer")
    out.print(f"JWT: {minted.token}")
    out.print(f"Expires in: {minted.expires_in} seconds")


# --- verify -------------------------------------------------------------------------------


def _b64_json(segment: str) -> dict[str, Any] | None:
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        # NaN and Infinity stay strings: the --json output must remain valid JSON.
        value = json.loads(data, parse_constant=str)
    except (binascii.Error, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _unverified(token: str) -> dict[str, Any] | None:
    """The header and claims of a token, decoded without any check (for diagnosis only)."""
    if len(token) > DEFAULT_LIMITS.token or token.count(".") != 2:
        return None
    header_segment, payload_segment, _signature = token.split(".")
    header, claims = _b64_json(header_segment), _b64_json(payload_segment)
    if header is None and claims is None:
        return None
    return {"header": header, "claims": claims}


def _fields_table(title: str, values: Mapping[str, Any]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in values.items():
        text = _plain(value)
        if name in {"iat", "nbf", "exp"} and isinstance(value, int | float):
            text = f"{text} ({_when(value)})"
        table.add_row(_plain(name), text)
    return table


@app.command()
def verify(
    token: Annotated[str, typer.Argument(help="The JWT to check.", show_default=False)],
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Verify a user token with the workspace's keys: signature, claims and revocation.

    Prints "valid" with the header and claims (exit 0), or "invalid" with the error code and
    reason (exit 1) followed by the token's header and claims decoded WITHOUT verification,
    for diagnosis, when they can be decoded.

    Example:

        idmint verify "$(idmint token ann@example.com --json | jq -r .access_token)"
    """
    token = token.strip()
    with _service() as idmint:
        workspace = _workspace(idmint, api_key)
        try:
            verified = idmint.tokens.verify(workspace.api_key, token)
        except TokenError as exc:
            _report_invalid(exc, _unverified(token), as_json=as_json)
            raise typer.Exit(1) from None
    header, claims = dict(verified.header), dict(verified.claims.raw)
    if as_json:
        _echo_json({"valid": True, "header": header, "claims": claims})
        return
    out = _stdout()
    out.print("[bold green]valid[/]")
    out.print(_fields_table("Header", header))
    out.print(_fields_table("Claims", claims))


def _report_invalid(exc: TokenError, unverified: dict[str, Any] | None, *, as_json: bool) -> None:
    if as_json:
        _echo_json({"valid": False, "error": error_fields(exc), "unverified": unverified})
        return
    out = _stdout()
    out.print(f"[bold red]invalid[/] {_plain(f'[{exc.code}]')}: {_plain(exc.message)}")
    if unverified is None:
        out.print("The token cannot be decoded.")
        return
    out.print("[yellow]UNVERIFIED contents, for diagnosis only: do not trust them.[/]")
    for part in ("header", "claims"):
        values = unverified[part]
        if values is None:
            out.print(f"Unverified {part}: cannot be decoded.")
        else:
            out.print(_fields_table(f"Unverified {part}", values))


# --- users --------------------------------------------------------------------------------


def _user_dict(user: User, profile: UserProfile | None) -> dict[str, Any]:
    return {
        "userId": user.user_id,
        "email": user.email,
        "emailShared": user.email_conflict is not None,
        "organizationId": user.organization_id,
        "isAdmin": user.is_admin,
        "createdAt": _when(user.created_at),
        "updatedAt": _when(user.updated_at),
        # Untrusted: what the user's client last sent to identify.
        "profile": {} if profile is None else dict(profile.profile or {}),
    }


def _profile_name(profile: UserProfile | None) -> str:
    name = None if profile is None else (profile.profile or {}).get("name")
    return name if isinstance(name, str) else "-"


@users_app.command("add")
def users_add(
    user_id: Annotated[str, typer.Argument(help="The user's userId.", show_default=False)],
    email: Annotated[str | None, typer.Option(help="Email.", show_default=False)] = None,
    organization: Annotated[
        str | None, typer.Option(help="organizationId.", show_default=False)
    ] = None,
    name: Annotated[str | None, typer.Option(help="Display name.", show_default=False)] = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Add a user to the workspace (an error, user_exists, if the userId is taken).

    Useful when the workspace does not create users on mint, and for `idmint token EMAIL`.

    Example:

        idmint users add user-1 --email ann@example.com --organization org-1 --name "Ann"
    """
    with _service() as idmint:
        workspace = _workspace(idmint, api_key)
        user = idmint.users.create(
            workspace.api_key,
            user_id,
            actor="cli",
            email=email,
            organization_id=organization,
            name=name,
        )
    _stdout().print(f"Added user {_plain(user.user_id)}.")


@users_app.command("list")
def users_list(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Users per page.")] = 100,
    after: Annotated[
        str | None,
        typer.Option(help="Start after this userId (the next page).", show_default=False),
    ] = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the workspace's users, ordered by userId, a page at a time.

    --json prints {"users": [...], "next": userId or null}; pass "next" to --after.

    Example:

        idmint users list --limit 50
        idmint users list --after user-50 --json
    """
    with _service() as idmint:
        workspace = _workspace(idmint, api_key)
        users = idmint.users.list(workspace.api_key, limit=limit, after=after)
        profiles = idmint.users.profiles(workspace.api_key, users)
    following = users[-1].user_id if len(users) == limit else None
    if as_json:
        _echo_json(
            {
                "users": [_user_dict(user, profiles.get(user.user_id)) for user in users],
                "next": following,
            }
        )
        return
    out = _stdout()
    if not users:
        out.print("No users.")
        return
    table = Table(
        "userId",
        "email",
        "organizationId",
        "name",
        "admin",
        caption="name: as the user's client last sent it to identify (untrusted)",
        caption_justify="left",
    )
    table.add_column("created (UTC)", no_wrap=True)
    for user in users:
        table.add_row(
            _plain(user.user_id),
            _plain(user.email or "-"),
            _plain(user.organization_id or "-"),
            _plain(_profile_name(profiles.get(user.user_id))),
            "yes" if user.is_admin else "no",
            _when(user.created_at)[:16].replace("T", " "),
        )
    out.print(table)
    if following is not None:
        out.print(f"More: idmint users list --after {_plain(following)}")


@users_app.command("set")
def users_set(
    user_id: Annotated[str, typer.Argument(help="The user's userId.", show_default=False)],
    email: Annotated[
        str | None,
        typer.Option(help="New email (unique in the workspace); '' clears it.", show_default=False),
    ] = None,
    organization: Annotated[
        str | None,
        typer.Option(help="New organizationId; '' clears it.", show_default=False),
    ] = None,
    admin: Annotated[
        bool | None,
        typer.Option(
            "--admin/--no-admin", help="Make the user an admin, or not.", show_default=False
        ),
    ] = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Change a user's trusted attributes (what minting by email puts into the token).

    Options left out stay as they are. An email another user holds is an error,
    email_taken. Tokens already minted keep what they carry.

    Example:

        idmint users set user-1 --email ann@example.org --no-admin
    """
    changes: dict[str, Any] = {}
    if email is not None:
        changes["email"] = email or None
    if organization is not None:
        changes["organization_id"] = organization or None
    if admin is not None:
        changes["is_admin"] = admin
    if not changes:
        raise typer.BadParameter(
            "give at least one of them.", param_hint="'--email' / '--organization' / '--admin'"
        )
    with _service() as idmint:
        workspace = _workspace(idmint, api_key)
        user = idmint.users.update(workspace.api_key, user_id, actor="cli", changes=changes)
    _stdout().print(f"Updated user {_plain(user.user_id)}.")


@users_app.command("duplicates")
def users_duplicates(api_key: ApiKeyOption = None, as_json: JsonOption = False) -> None:
    """List the users who share an email from before emails were unique.

    Minting by such an email answers email_ambiguous until all but one of its users have
    another email (`idmint users set USER_ID --email ...`) or are deleted.

    Example:

        idmint users duplicates --json
    """
    with _service() as idmint:
        workspace = _workspace(idmint, api_key)
        users = idmint.users.duplicates(workspace.api_key)
    if as_json:
        _echo_json(
            {"duplicates": [{"email": user.email, "userId": user.user_id} for user in users]}
        )
        return
    out = _stdout()
    if not users:
        out.print("No users share an email.")
        return
    table = Table("email", "userId")
    table.add_column("created (UTC)", no_wrap=True)
    for user in users:
        table.add_row(
            _plain(user.email or "-"),
            _plain(user.user_id),
            _when(user.created_at)[:16].replace("T", " "),
        )
    out.print(table)


# --- settings -----------------------------------------------------------------------------


def _settings_dict(idmint: Idmint, workspace: Workspace) -> dict[str, Any]:
    issuer = idmint.settings.issuer_for(workspace.api_key)
    return {
        "workspaceId": workspace.id,
        "name": workspace.name,
        "apiKey": workspace.api_key,
        "issuer": issuer,
        "jwksUri": _jwks_uri(issuer),
        "requireJwt": workspace.require_jwt,
        "tokenTtlSeconds": workspace.token_ttl_seconds,
        "minTtlSeconds": workspace.min_ttl_seconds,
        "maxTtlSeconds": workspace.max_ttl_seconds,
        "autoCreateUsers": workspace.auto_create_users,
        "allowedDomains": list(workspace.allowed_domains),
    }


def _print_settings(values: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        _echo_json(values)
        return
    out = _stdout()
    out.print(f"Workspace [bold]{_plain(values['name'])}[/] ({values['workspaceId']})")
    out.print(f"  API key:   {values['apiKey']}")
    out.print(f"  Issuer:    {_plain(values['issuer'])}")
    out.print(f"  JWKS URL:  {_plain(values['jwksUri'])}")
    table = Table("setting", "value", "change with")
    on_off = {True: "on", False: "off"}
    table.add_row("Require JWT", on_off[values["requireJwt"]], "--require-jwt / --no-require-jwt")
    table.add_row("Token TTL (default)", f"{values['tokenTtlSeconds']} s", "--ttl")
    table.add_row("Minimum TTL", f"{values['minTtlSeconds']} s", "--min-ttl")
    table.add_row("Maximum TTL", f"{values['maxTtlSeconds']} s", "--max-ttl")
    table.add_row(
        "Auto-create users on mint",
        on_off[values["autoCreateUsers"]],
        "--auto-create-users / --no-auto-create-users",
    )
    table.add_row(
        "Allowed domains",
        _plain(", ".join(values["allowedDomains"]) or "(any)"),
        "--allowed-domain",
    )
    out.print(table)


@settings_app.callback()
def settings_main(ctx: typer.Context) -> None:
    """Show or change the workspace settings.

    `idmint settings` alone is `idmint settings show`.

    Example:

        idmint settings
        idmint settings set --no-require-jwt --ttl 3600
        idmint settings require-jwt on
    """
    if ctx.invoked_subcommand is None:
        settings_show(api_key=None, as_json=False)


@settings_app.command("show")
def settings_show(api_key: ApiKeyOption = None, as_json: JsonOption = False) -> None:
    """Show the workspace's settings, its API key, issuer and JWKS URL.

    Example:

        idmint settings show --json
    """
    with _service() as idmint:
        values = _settings_dict(idmint, _workspace(idmint, api_key))
    _print_settings(values, as_json=as_json)


@settings_app.command("set")
def settings_set(
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
        "name": name,
    }
    if all(value is None for value in changes.values()):
        raise typer.BadParameter(
            "nothing to change; give at least one setting (see --help).", param_hint="options"
        )
    with _service() as idmint:
        workspace = _workspace(idmint, api_key)
        updated = idmint.workspaces.update_settings(workspace.api_key, actor="cli", **changes)
        values = _settings_dict(idmint, updated)
    if not as_json:
        _stdout().print("Settings updated.")
    _print_settings(values, as_json=as_json)


class Toggle(StrEnum):
    """``on`` or ``off``."""

    on = "on"
    off = "off"


@settings_app.command("require-jwt")
def settings_require_jwt(
    state: Annotated[Toggle, typer.Argument(help="on or off.", show_default=False)],
    api_key: ApiKeyOption = None,
) -> None:
    """Turn "Require JWT" on or off (a shortcut for `settings set --[no-]require-jwt`).

    With it on (the default), identify refuses a user without a token; turn it off only
    while developing.

    Example:

        idmint settings require-jwt off
    """
    with _service() as idmint:
        workspace = _workspace(idmint, api_key)
        idmint.workspaces.update_settings(
            workspace.api_key, actor="cli", require_jwt=state is Toggle.on
        )
    _stdout().print(f"Require JWT is now {state.value}.")


# --- keys ---------------------------------------------------------------------------------


def _key_dict(idmint: Idmint, row: SigningKeyRow) -> dict[str, Any]:
    return {
        "kid": row.kid,
        "alg": row.alg,
        "state": row.state,
        "createdAt": _when(row.created_at),
        "activatedAt": _when_or_none(row.activated_at),
        "retiringAt": _when_or_none(row.retiring_at),
        "retiredAt": _when_or_none(row.retired_at),
        "promotesAt": _when_or_none(idmint.keys.promotes_at(row)),
        "retiresAt": _when_or_none(idmint.keys.retires_at(row)),
    }


def _print_keys(keys: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        _echo_json({"keys": keys})
        return
    table = Table("kid", "alg", "state", "since", "next step")
    for key in keys:
        since = key["retiredAt"] or key["retiringAt"] or key["activatedAt"] or key["createdAt"]
        step = (
            f"signs from {key['promotesAt']}"
            if key["promotesAt"]
            else f"retired at {key['retiresAt']}"
            if key["retiresAt"]
            else ""
        )
        table.add_row(_plain(key["kid"]), key["alg"], key["state"], since, step)
    _stdout().print(table)


@keys_app.command("list")
def keys_list(api_key: ApiKeyOption = None, as_json: JsonOption = False) -> None:
    """List the signing keys with their states: next (published, not signing yet), active
    (signs), retiring (verifies until its tokens expire), retired (gone).  Carries out any
    rotation step that is due first.

    Example:

        idmint keys list
    """
    with _service() as idmint:
        workspace = _workspace(idmint, api_key)
        idmint.keys.maintain(workspace, actor="cli")
        keys = [_key_dict(idmint, row) for row in idmint.keys.keys(workspace)]
    _print_keys(keys, as_json=as_json)


@keys_app.command("rotate")
def keys_rotate(
    alg: Annotated[
        str | None,
        typer.Option(
            help="Algorithm of the new key. [default: IDMINT_SIGNING_ALGORITHM]", show_default=False
        ),
    ] = None,
    now: Annotated[
        bool,
        typer.Option(
            "--now",
            help="Promote at once, skipping the pre-publish period: only for a compromised key.",
        ),
    ] = False,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start a signing-key rotation with no downtime.

    A new key is published in the JWKS now and starts signing after the pre-publish period
    (IDMINT_KEY_PREPUBLISH_SECONDS, default 1 hour, well over the JWKS max-age), so verifiers
    with a cached JWKS know it first.  The old key keeps verifying until every token it signed
    has expired, then is retired.  The running server carries out each step when it is due;
    `idmint keys list` does too.

    Example:

        idmint keys rotate
        idmint keys rotate --alg EdDSA
    """
    with _service() as idmint:
        workspace = _workspace(idmint, api_key)
        row = idmint.keys.rotate(workspace, actor="cli", alg=alg, now=now)
        keys = [_key_dict(idmint, r) for r in idmint.keys.keys(workspace)]
        new = _key_dict(idmint, row)
    if as_json:
        _echo_json({"key": new, "keys": keys})
        return
    if new["state"] == "next":
        _stdout().print(f"Published {_plain(new['kid'])}; it signs from {new['promotesAt']}.")
    else:
        _stdout().print(f"{_plain(new['kid'])} signs now.")
    _print_keys(keys, as_json=False)


# --- revoke and audit -----------------------------------------------------------------------


@app.command()
def revoke(
    jti: Annotated[
        str | None,
        typer.Option("--jti", help="Revoke this one token (its jti).", show_default=False),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            "--user", help="Revoke every token of this userId issued until now.", show_default=False
        ),
    ] = None,
    organization: Annotated[
        str | None,
        typer.Option(
            "--organization",
            help="Revoke every token of this organizationId issued until now.",
            show_default=False,
        ),
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="Why, for the audit log.", show_default=False)
    ] = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke one token, or every token of a user or an organization issued until now.

    identify then answers token_revoked for them, and their sessions end.  Give exactly one of
    --jti, --user, --organization.  The entry is dropped by itself once every token it can
    name has expired, so the denylist never grows without bound.

    Example:

        idmint revoke --jti 3q2-7wEjZQ1c4tLb9rE5xw
        idmint revoke --user user-1 --reason "laptop stolen"
    """
    given = [(k, v) for k, v in (("jti", jti), ("user", user), ("organization", organization)) if v]
    if len(given) != 1:
        raise typer.BadParameter(
            "give exactly one of them.", param_hint="'--jti' / '--user' / '--organization'"
        )
    ((kind, value),) = given
    with _service() as idmint:
        workspace = _workspace(idmint, api_key)
        row = idmint.revocations.add(workspace, kind, value, actor="cli", reason=reason)
    if as_json:
        _echo_json(
            {
                "kind": row.kind,
                "value": row.value,
                "issuedBefore": _when_or_none(row.issued_before),
                "expiresAt": _when(row.expires_at),
            }
        )
        return
    what = {
        "jti": "Token",
        "user": "Every token of user",
        "organization": "Every token of organization",
    }
    _stdout().print(
        f"{what[kind]} {_plain(value)} revoked (entry kept until {_when(row.expires_at)})."
    )


@app.command()
def audit(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many events.")] = 50,
    action: Annotated[
        str | None,
        typer.Option(
            help="Only this action, e.g. token.mint, identify, revocation.create.",
            show_default=False,
        ),
    ] = None,
    outcome: Annotated[
        str | None, typer.Option(help="Only success or failure.", show_default=False)
    ] = None,
    before: Annotated[
        int | None, typer.Option(min=1, help="Page: events older than this id.", show_default=False)
    ] = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """List audit events, newest first: mints, identify failures, credential changes,
    revocations and key rotations, with who, when, outcome and reason code.

    Example:

        idmint audit --outcome failure --limit 20
        idmint audit --action token.mint --json
    """
    if outcome not in (None, "success", "failure"):
        raise typer.BadParameter("success or failure.", param_hint="'--outcome'")
    with _service() as idmint:
        workspace = _workspace(idmint, api_key)
        idmint.audit.flush()
        events = idmint.store.audit_events(
            workspace.id, limit=limit, before_id=before, action=action, outcome=outcome
        )
    rows = [
        {
            "id": e.id,
            "at": _when(e.at),
            "actor": e.actor,
            "action": e.action,
            "outcome": e.outcome,
            "reasonCode": e.reason_code,
            "subject": e.subject,
            "detail": e.detail or {},
        }
        for e in events
    ]
    if as_json:
        _echo_json({"events": rows, "next": rows[-1]["id"] if len(rows) == limit else None})
        return
    table = Table("id", "at", "actor", "action", "outcome", "reason", "subject")
    for row in rows:
        table.add_row(
            *(
                _plain(row[k]) if row[k] is not None else ""
                for k in ("id", "at", "actor", "action", "outcome", "reasonCode", "subject")
            )
        )
    _stdout().print(table)


def main() -> None:
    """The console script ``idmint``."""
    app(prog_name="idmint")


if __name__ == "__main__":
    main()
