"""The root of the ``idmint`` command: its group, where errors become one-line messages, the
``--version`` flag, and the command groups of the other modules."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from idmint.cli import (
    audit,
    auth_tokens,
    console_accounts,
    keys,
    serve,
    settings,
    tokens,
    users,
)
from idmint.cli._output import fail

__all__ = ["Group", "app"]


class Group(TyperGroup):
    """The root command group: the one place where expected errors become one-line messages."""

    def invoke(self, ctx: Any) -> Any:  # Any: Typer's Context type lives in a private module
        from idmint.jose.errors import IdmintError, InvalidArgumentError

        try:
            return super().invoke(ctx)
        except IdmintError as exc:
            fail(exc)
        except Exception as exc:
            from pydantic import ValidationError

            if not isinstance(exc, ValidationError):
                raise
            # Bad IDMINT_* settings are the user's to fix, not a bug: no traceback.
            problems = "; ".join(
                f"IDMINT_{'_'.join(map(str, error['loc'])).upper()}: {error['msg']}"
                if error["loc"]
                else error["msg"]
                for error in exc.errors()
            )
            fail(InvalidArgumentError(f"Invalid settings: {problems}."))


def _version(value: bool) -> None:
    if value:
        from idmint import __version__

        typer.echo(f"idmint {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="idmint",
    cls=Group,
    help="idmint: mint short-lived signed user tokens and verify them.",
    no_args_is_help=True,
    add_completion=False,
    # Plain help (click's), not Rich's: rendering it through Rich and Markdown took longer than
    # the rest of `idmint --help`.
    rich_markup_mode=None,
    # Locals can hold secrets (the master key, auth tokens): never print them in a traceback.
    pretty_exceptions_show_locals=False,
)


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print idmint's version and exit.",
        ),
    ] = False,
) -> None:
    """idmint: mint short-lived signed user tokens and verify them."""


app.command()(serve.serve)
app.command()(serve.migrate)
app.command()(serve.init)
app.command()(tokens.token)
app.command()(tokens.verify)
app.command()(audit.revoke)
app.command()(audit.audit)
app.add_typer(users.app, name="users")
app.add_typer(auth_tokens.app, name="auth-tokens")
app.add_typer(keys.app, name="keys")
app.add_typer(settings.app, name="settings")
app.add_typer(console_accounts.app, name="console-accounts")


def _keep_examples(typer_app: typer.Typer) -> None:
    """Keep each docstring's example lines as written: click rewraps a paragraph unless a line
    holding only ``\\b`` precedes it."""
    callbacks = [info.callback for info in typer_app.registered_commands]
    if typer_app.registered_callback is not None:
        callbacks.append(typer_app.registered_callback.callback)
    for callback in callbacks:
        if callback is not None and callback.__doc__ and "\b\n" not in callback.__doc__:
            # Indented like the lines around it, so that the docstring's indentation holds.
            callback.__doc__ = re.sub(
                r"Example:\n\n([ \t]*)", "Example:\n\n\\1\b\n\\1", callback.__doc__
            )
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _keep_examples(group.typer_instance)


_keep_examples(app)
