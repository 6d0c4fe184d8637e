"""How the command prints: Rich on the terminal, plain JSON for scripts, one-line errors, and
everything that came from outside escaped so that it cannot drive the terminal."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from idmint.jose.errors import IdmintError

# Rich is imported when something is printed, not with the command: --help stays quick.

__all__ = [
    "ask",
    "ask_secret",
    "echo_json",
    "fail",
    "fields_table",
    "plain",
    "show",
    "stderr",
    "stdout",
    "table",
    "when",
]


def stdout() -> Console:
    """A console on stdout, made per call so that it follows ``sys.stdout`` (the test runner
    swaps it).  Text keeps its lines (``soft_wrap``); tables fit the terminal's width."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail(exc: IdmintError) -> NoReturn:
    """Print ``Error [code]: message`` on stderr and exit 1."""
    stderr().print(f"Error {plain(f'[{exc.code}]')}: {plain(exc.message)}")
    raise typer.Exit(1)


def plain(value: object) -> str:
    """``value`` as text that is safe to print: Rich markup escaped, and control characters
    shown as JSON escapes (user fields may come from browsers, a bad token from anyone)."""
    from rich.markup import escape

    text = value if isinstance(value, str) else json.dumps(value)
    if not text.isprintable():
        text = json.dumps(text)[1:-1]
    return escape(text)


def echo_json(value: object) -> None:
    # ASCII only: every control character is escaped, so the output cannot drive a terminal.
    typer.echo(json.dumps(value, indent=2))


def when(seconds: float | None) -> str:
    """POSIX seconds as ISO 8601 UTC to the second, ``-`` for none."""
    if seconds is None:
        return "-"
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, ValueError, OSError):  # an unverified claim can hold anything
        return "out of range"
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def table(*columns: str, caption: str | None = None, **options: Any) -> Table:
    """A table that fits the terminal: long values fold onto more lines rather than being cut,
    and a column of ids or times is never broken (name it with ``no_wrap=(names)``)."""
    from rich.table import Table

    unbroken = set(options.pop("no_wrap", ()))
    made = Table(caption=caption, caption_justify="left", **options)
    for column in columns:
        # At least as wide as the heading's longest word, where there is room (see show).
        made.add_column(
            column,
            overflow="fold",
            no_wrap=column in unbroken,
            min_width=max(len(word) for word in column.split()),
        )
    return made


def show(rows: Table) -> None:
    """Print a :func:`table` on stdout, within the terminal's width: on one too narrow for
    every heading's longest word beside the unbroken columns, the headings may fold too."""
    from rich.console import Console
    from rich.text import Text

    out = Console(highlight=False)  # not soft_wrap: the caption wraps within the width too
    needed = 3 * len(rows.columns) + 1  # borders and padding
    for column in rows.columns:
        if column.no_wrap:
            cells = [column.header, *column.cells]
            needed += max(
                Text.from_markup(cell).cell_len if isinstance(cell, str) else 1 for cell in cells
            )
        else:
            needed += column.min_width or 1
    if needed > out.width:
        for column in rows.columns:
            column.min_width = None
    out.print(rows)


def fields_table(title: str, values: Mapping[str, Any]) -> Table:
    """A two-column table of names and values (a token's header or claims)."""
    from rich.table import Table

    made = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    made.add_column(style="bold", no_wrap=True)
    made.add_column(overflow="fold")
    for name, value in values.items():
        text = plain(value)
        if name in {"iat", "nbf", "exp"} and isinstance(value, int | float):
            text = f"{text} ({when(value)})"
        made.add_row(plain(name), text)
    return made


def ask(label: str) -> str:
    """Ask on stderr (click's prompt writes to stdout, which would spoil ``--json`` output);
    an empty answer asks again, end of input aborts."""
    while True:
        typer.echo(f"{label}: ", nl=False, err=True)
        line = sys.stdin.readline()
        if not line:
            typer.echo(err=True)
            raise typer.Abort()
        if line.strip():
            return line.strip()


def ask_secret(label: str) -> str:
    """Ask for a secret on stderr, without echoing what is typed (at a terminal)."""
    import getpass

    while True:
        if sys.stdin.isatty():
            answer = getpass.getpass(f"{label}: ", stream=sys.stderr)
        else:  # piped: nothing is echoed anyway
            typer.echo(f"{label}: ", nl=False, err=True)
            line = sys.stdin.readline()
            if not line:
                typer.echo(err=True)
                raise typer.Abort()
            answer = line
            typer.echo(err=True)
        if answer.strip():
            return answer.strip()
