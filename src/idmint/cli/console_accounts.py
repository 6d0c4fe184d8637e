"""``idmint console-accounts``: the people who sign in to the console: create (a generated
password shown once), list, reset-password, delete."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from idmint.cli._context import JsonOption, open_service
from idmint.cli._output import echo_json, plain, show, stdout, table, when

if TYPE_CHECKING:
    from idmint.service import ConsoleAccount, CreatedAccount

__all__ = ["app"]

app = typer.Typer(
    help="Create, list, reset and delete console accounts (who signs in to the console).",
    no_args_is_help=True,
)


class AccountRole(StrEnum):
    """An account's role in the whole console."""

    owner = "owner"
    member = "member"


class WorkspaceRole(StrEnum):
    """A member's role in one workspace."""

    admin = "admin"
    viewer = "viewer"


EmailArgument = Annotated[str, typer.Argument(help="The account's email.", show_default=False)]


def _account_json(account: ConsoleAccount, memberships: dict[str, str]) -> dict[str, Any]:
    return {
        "id": account.id,
        "email": account.email,
        "role": account.role,
        "memberships": memberships,
        "createdAt": when(account.created_at),
        "updatedAt": when(account.updated_at),
        "disabledAt": None if account.disabled_at is None else when(account.disabled_at),
    }


def _print_password(created: CreatedAccount, base_url: str) -> None:
    out = stdout()
    out.print(f"  Sign in at: {plain(base_url)}/console/sign-in", highlight=False)
    out.print(f"  Password:   [bold]{plain(created.password)}[/]")
    out.print("  [bold red]Store the password now; it is never shown again.[/]")


@app.command("create")
def create(
    email: EmailArgument,
    role: Annotated[
        AccountRole,
        typer.Option(
            "--role",
            help="owner: every workspace and the accounts; member: the workspaces given "
            "with --workspace.",
        ),
    ] = AccountRole.member,
    workspace: Annotated[
        list[str] | None,
        typer.Option(
            "--workspace",
            metavar="API_KEY",
            help="A workspace (its API key, pk_...) the member may see; repeat for more.",
            show_default=False,
        ),
    ] = None,
    workspace_role: Annotated[
        WorkspaceRole,
        typer.Option(
            "--workspace-role",
            help="The member's role in the --workspace workspaces: admin (changes them) or "
            "viewer (reads them).",
        ),
    ] = WorkspaceRole.viewer,
    as_json: JsonOption = False,
) -> None:
    """Create a console account with a generated password, printed once: it is stored only
    as an argon2id hash.

    --json prints {"account": {...}, "password": "..."}.

    Example:

        idmint console-accounts create ann@example.com --role owner
        idmint console-accounts create bob@example.com --workspace pk_Vb2... --workspace-role admin
    """
    with open_service() as service:
        memberships = {
            service.workspaces.get(api_key).id: workspace_role.value for api_key in workspace or ()
        }
        created = service.console.create_account(
            email, role.value, memberships=memberships, actor="cli"
        )
        base_url = service.settings.base_url
    if as_json:
        echo_json(
            {
                "account": _account_json(created.account, dict(created.memberships)),
                "password": created.password,
            }
        )
        return
    stdout().print(
        f"Created console account {plain(email)} ({created.account.id}), role {role.value}."
    )
    _print_password(created, base_url)


@app.command("list")
def list_accounts(as_json: JsonOption = False) -> None:
    """List the console accounts: email, role, workspaces and when made (never a password).

    Example:

        idmint console-accounts list
    """
    with open_service() as service:
        accounts = [(a, service.console.memberships(a.id)) for a in service.console.all()]
        keys = {w.id: w.api_key for w in service.workspaces.all()}
    if as_json:
        echo_json({"accounts": [_account_json(a, m) for a, m in accounts]})
        return
    rows = table("id", "email", "role", "workspaces", "created (UTC)", "disabled", no_wrap=("id",))
    for account, memberships in accounts:
        rows.add_row(
            account.id,
            plain(account.email),
            account.role,
            "every one"
            if account.role == "owner"
            else ", ".join(f"{keys.get(w, w)} ({r})" for w, r in memberships.items()),
            when(account.created_at)[:16].replace("T", " "),
            "yes" if account.disabled_at else "",
        )
    show(rows)


@app.command("reset-password")
def reset_password(email: EmailArgument, as_json: JsonOption = False) -> None:
    """Give an account a new generated password, printed once, and end its sessions (it
    signs in again).

    Example:

        idmint console-accounts reset-password owner@localhost
    """
    with open_service() as service:
        created = service.console.reset_password(email, actor="cli")
        base_url = service.settings.base_url
    if as_json:
        echo_json(
            {
                "account": _account_json(created.account, dict(created.memberships)),
                "password": created.password,
            }
        )
        return
    stdout().print(f"New password for {plain(created.account.email)}; its sessions ended.")
    _print_password(created, base_url)


@app.command("delete")
def delete(
    email: EmailArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete a console account; its sessions end at once.  The last owner cannot be
    deleted (last_owner): make another account owner first.

    Example:

        idmint console-accounts delete bob@example.com --yes
    """
    if not yes and not typer.confirm(f"Delete the console account {email}?", err=True):
        raise typer.Exit(1)
    with open_service() as service:
        deleted = service.console.delete(email, actor="cli")
    if as_json:
        echo_json(_account_json(deleted, {}))
        return
    stdout().print(f"Deleted console account {plain(deleted.email)} ({deleted.id}).")
