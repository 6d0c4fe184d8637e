"""``idmint revoke`` and ``idmint audit``: the denylist and the audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from idmint.cli._context import ApiKeyOption, JsonOption, open_service, workspace_of
from idmint.cli._output import echo_json, plain, show, stdout, table, when

if TYPE_CHECKING:
    from idmint.service import AuditEvent

__all__ = ["audit", "revoke"]


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
    name has expired, so the denylist never grows without bound.  --json prints the entry as
    the admin API answers it.

    Example:

        idmint revoke --jti 3q2-7wEjZQ1c4tLb9rE5xw
        idmint revoke --user user-1 --reason "laptop stolen"
    """
    from idmint.serializers import revocation_json

    given = [(k, v) for k, v in (("jti", jti), ("user", user), ("organization", organization)) if v]
    if len(given) != 1:
        raise typer.BadParameter(
            "give exactly one of them.", param_hint="'--jti' / '--user' / '--organization'"
        )
    ((kind, value),) = given
    with open_service() as service:
        workspace = workspace_of(service, api_key)
        row = service.revocations.add(workspace, kind, value, actor="cli", reason=reason)
    if as_json:
        echo_json(revocation_json(row))
        return
    what = {
        "jti": "Token",
        "user": "Every token of user",
        "organization": "Every token of organization",
    }
    stdout().print(
        f"{what[kind]} {plain(value)} revoked (entry kept until {when(row.expires_at)})."
    )


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

    --json prints {"events": [...], "next": id or null}, as the admin API answers; pass
    "next" to --before.

    Example:

        idmint audit --outcome failure --limit 20
        idmint audit --action token.mint --json
    """
    from idmint.serializers import audit_event_json

    if outcome not in (None, "success", "failure"):
        raise typer.BadParameter("success or failure.", param_hint="'--outcome'")
    with open_service() as service:
        workspace = workspace_of(service, api_key)
        events = service.audit.events(
            workspace.id, limit=limit, before_id=before, action=action, outcome=outcome
        )
    if as_json:
        echo_json(
            {
                "events": [audit_event_json(event) for event in events],
                "next": events[-1].id if len(events) == limit else None,
            }
        )
        return
    rows = table(
        "id",
        "at (UTC)",
        "actor",
        "action",
        "outcome",
        "reason",
        "subject",
        "from",
        no_wrap=("id",),
    )
    for event in events:
        rows.add_row(
            str(event.id),
            when(event.at)[:19].replace("T", " "),
            plain(event.actor),
            plain(event.action),
            plain(event.outcome),
            plain(event.reason_code or ""),
            plain(event.subject or ""),
            _from(event),
        )
    show(rows)


def _from(event: AuditEvent) -> str:
    """The client address; for an aggregated failure, with its count."""
    address = plain(event.client_address or "")
    count = (event.detail or {}).get("count")
    return f"{address} ({count} times)" if isinstance(count, int) and count > 1 else address
