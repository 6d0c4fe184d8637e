"""``idmint users``: add, list, change and delete the users of a workspace, and list those
who still share an email from before emails were unique."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from idmint.cli._context import ApiKeyOption, JsonOption, open_service, workspace_of
from idmint.cli._output import ask, echo_json, plain, show, stdout, table, when

if TYPE_CHECKING:
    from idmint.service import UserProfile

__all__ = ["app"]

app = typer.Typer(
    help="Add, list, change and delete the users of the workspace.", no_args_is_help=True
)


def _profile_name(profile: UserProfile | None) -> str:
    name = None if profile is None else (profile.profile or {}).get("name")
    return name if isinstance(name, str) else "-"


@app.command("add")
def add(
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
    with open_service() as service:
        workspace = workspace_of(service, api_key)
        user = service.users.create(
            workspace.api_key,
            user_id,
            actor="cli",
            email=email,
            organization_id=organization,
            name=name,
        )
    stdout().print(f"Added user {plain(user.user_id)}.")


@app.command("list")
def list_users(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Users per page.")] = 100,
    after: Annotated[
        str | None,
        typer.Option(help="Start after this userId (the next page).", show_default=False),
    ] = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the workspace's users, ordered by userId, a page at a time.

    --json prints {"users": [...], "next": userId or null}, as the admin API answers; pass
    "next" to --after.

    Example:

        idmint users list --limit 50
        idmint users list --after user-50 --json
    """
    from idmint.serializers import user_json

    with open_service() as service:
        workspace = workspace_of(service, api_key)
        users = service.users.list(workspace.api_key, limit=limit, after=after)
        profiles = service.users.profiles(workspace.api_key, users)
    following = users[-1].user_id if len(users) == limit else None
    if as_json:
        echo_json(
            {
                "users": [user_json(user, profiles.get(user.user_id)) for user in users],
                "next": following,
            }
        )
        return
    out = stdout()
    if not users:
        out.print("No users.")
        return
    rows = table(
        "userId",
        "email",
        "organizationId",
        "name",
        "admin",
        "created (UTC)",
        caption="name: as the user's client last sent it to identify (untrusted)",
        no_wrap=("admin", "created (UTC)"),
    )
    for user in users:
        rows.add_row(
            plain(user.user_id),
            plain(user.email or "-"),
            plain(user.organization_id or "-"),
            plain(_profile_name(profiles.get(user.user_id))),
            "yes" if user.is_admin else "no",
            when(user.created_at)[:16].replace("T", " "),
        )
    show(rows)
    if following is not None:
        out.print(f"More: idmint users list --after {plain(following)}")


@app.command("set")
def set_user(
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
    with open_service() as service:
        workspace = workspace_of(service, api_key)
        user = service.users.update(workspace.api_key, user_id, actor="cli", changes=changes)
    stdout().print(f"Updated user {plain(user.user_id)}.")


@app.command("delete")
def delete(
    user_id: Annotated[str, typer.Argument(help="The user's userId.", show_default=False)],
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask for confirmation (for scripts).")
    ] = False,
    api_key: ApiKeyOption = None,
) -> None:
    """Delete a user, with their untrusted profile (a user who is not there is user_not_found).

    Tokens already minted for the user stay valid until they expire: revoke them first with
    `idmint revoke --user USER_ID` if they must stop now.  Asks for confirmation unless --yes.

    Example:

        idmint users delete user-1 --yes
    """
    with open_service() as service:
        workspace = workspace_of(service, api_key)
        service.users.get(workspace.api_key, user_id)  # user_not_found before the question
        if not yes and ask(f"Delete user {plain(user_id)}? Type yes").lower() not in ("y", "yes"):
            stdout().print("Nothing deleted.")
            raise typer.Exit(1)
        service.users.delete(workspace.api_key, user_id, actor="cli")
    stdout().print(f"Deleted user {plain(user_id)}.")


@app.command("duplicates")
def duplicates(api_key: ApiKeyOption = None, as_json: JsonOption = False) -> None:
    """List the users who share an email from before emails were unique.

    Minting by such an email answers email_ambiguous until all but one of its users have
    another email (`idmint users set USER_ID --email ...`) or are deleted.

    Example:

        idmint users duplicates --json
    """
    with open_service() as service:
        workspace = workspace_of(service, api_key)
        users = service.users.duplicates(workspace.api_key)
    if as_json:
        echo_json({"duplicates": [{"email": user.email, "userId": user.user_id} for user in users]})
        return
    out = stdout()
    if not users:
        out.print("No users share an email.")
        return
    rows = table("email", "userId", "created (UTC)", no_wrap=("created (UTC)",))
    for user in users:
        rows.add_row(
            plain(user.email or "-"),
            plain(user.user_id),
            when(user.created_at)[:16].replace("T", " "),
        )
    show(rows)
