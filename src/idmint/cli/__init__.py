"""The ``idmint`` command: run the server and manage a store from a shell, or mint and verify
against a running idmint anywhere (``--url``).

The command needs the ``server`` extra (``pip install 'idmint[server]'``); without it,
:func:`main` says so and exits 1.  Each command group is a module of this package, and
everything a command needs beyond Typer (the service, the store, the serializers) is imported
inside the command, so that ``idmint --help`` starts in a fraction of a second.

Errors: every :class:`~idmint.jose.errors.IdmintError` is caught in one place
(:class:`idmint.cli.root.Group`) and printed as ``Error [code]: message`` on stderr with exit
code 1; usage errors exit with 2.  Secrets (auth tokens) are printed once, when created.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

__all__ = ["app", "main"]

# What the command needs that the base install (core and client) does not have.
_SERVER_MODULES = ("typer", "rich", "pydantic_settings", "sqlalchemy", "alembic", "uvicorn")


def main() -> None:
    """The console script ``idmint``."""
    missing = [name for name in _SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        print(
            "The idmint command needs the server extra, which is not installed "
            f"(missing: {', '.join(missing)}).\n"
            "Install it with:  pip install 'idmint[server]'   (from a wheel: "
            "pip install 'idmint-<version>-py3-none-any.whl[server]')\n"
            "The client and the offline verifier (idmint.client) work without it.",
            file=sys.stderr,
        )
        raise SystemExit(1)
    from idmint.cli.root import app

    app(prog_name="idmint")


def __getattr__(name: str) -> Any:
    if name == "app":  # the Typer application, imported on first use
        from idmint.cli.root import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
