"""What commands share: the options every command takes, and the service over the configured
store with the workspace a command acts on.  The service is imported when a command runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from idmint.service import Idmint, Workspace
    from idmint.settings import Settings

__all__ = [
    "ApiKeyOption",
    "JsonOption",
    "Scope",
    "ScopeOption",
    "open_service",
    "scopes_of",
    "where",
    "workspace_of",
]

ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        help="The workspace to use; needed only when the store holds several.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object for scripts.")]


class Scope(StrEnum):
    """What an auth token may do."""

    mint = "mint"
    admin = "admin"


ScopeOption = Annotated[
    list[Scope] | None,
    typer.Option(
        "--scope",
        help="What the token may do: mint (both mint routes) or admin (the workspace's admin "
        "API); repeat for both. [default: mint]",
        show_default=False,
    ),
]


def scopes_of(given: list[Scope] | None) -> tuple[str, ...]:
    """The scopes an option gave, ``mint`` when none."""
    return tuple(scope.value for scope in given) if given else ("mint",)


@contextmanager
def open_service(
    settings: Settings | None = None, *, create: bool = False, migrate: bool = False
) -> Iterator[Idmint]:
    """The service over the configured store, its master key checked; closed (audit flushed)
    on exit.  Only ``create`` (``idmint init``) makes a missing store, and only ``migrate``
    (``idmint migrate``, ``serve --migrate``) upgrades one that is behind: other commands
    refuse a store that is behind (``store_outdated``)."""
    from idmint.service import Idmint
    from idmint.settings import Settings

    service = Idmint.open(settings or Settings(), create=create, migrate=migrate)
    try:
        yield service
    finally:
        service.close()


def where(settings: Settings) -> str:
    return "IDMINT_DATABASE_URL" if settings.database_url else str(settings.data_dir)


def workspace_of(service: Idmint, api_key: str | None) -> Workspace:
    """The workspace named by ``api_key``, or the store's only workspace."""
    from idmint.jose.errors import InvalidArgumentError, WorkspaceNotFoundError

    if api_key is not None:
        return service.workspaces.get(api_key)
    workspaces = service.workspaces.all()
    if not workspaces:
        raise WorkspaceNotFoundError(
            f"No workspace in {where(service.settings)} yet: run `idmint init` first."
        )
    if len(workspaces) > 1:
        keys = ", ".join(workspace.api_key for workspace in workspaces)
        raise InvalidArgumentError(
            f"This store holds {len(workspaces)} workspaces; choose one with --api-key ({keys}).",
            field="apiKey",
        )
    return workspaces[0]
