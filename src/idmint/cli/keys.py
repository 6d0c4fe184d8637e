"""``idmint keys``: list and rotate a workspace's signing keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from idmint.cli._context import ApiKeyOption, JsonOption, open_service, workspace_of
from idmint.cli._output import echo_json, plain, show, stdout, table

if TYPE_CHECKING:
    from idmint.service import Idmint, SigningKeyRow

__all__ = ["app"]

app = typer.Typer(help="List and rotate the workspace's signing keys.", no_args_is_help=True)


def _key(service: Idmint, row: SigningKeyRow) -> dict[str, Any]:
    from idmint.serializers import signing_key_json

    return signing_key_json(
        row, promotes_at=service.keys.promotes_at(row), retires_at=service.keys.retires_at(row)
    )


def _short(moment: str | None) -> str:
    return "" if moment is None else moment[:19].replace("T", " ")


def _print(keys: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        echo_json({"keys": keys})
        return
    rows = table("kid", "alg", "state", "since (UTC)", "next step", no_wrap=("alg", "state"))
    for key in keys:
        since = key["retiredAt"] or key["retiringAt"] or key["activatedAt"] or key["createdAt"]
        step = (
            f"signs from {_short(key['promotesAt'])}"
            if key["promotesAt"]
            else f"retired at {_short(key['retiresAt'])}"
            if key["retiresAt"]
            else ""
        )
        rows.add_row(plain(key["kid"]), key["alg"], key["state"], _short(since), step)
    show(rows)


@app.command("list")
def list_keys(api_key: ApiKeyOption = None, as_json: JsonOption = False) -> None:
    """List the signing keys with their states: next (published, not signing yet), active
    (signs), retiring (verifies until its tokens expire), retired (gone).  Carries out any
    rotation step that is due first.

    Example:

        idmint keys list
    """
    with open_service() as service:
        workspace = workspace_of(service, api_key)
        service.keys.maintain(workspace, actor="cli")
        keys = [_key(service, row) for row in service.keys.keys(workspace)]
    _print(keys, as_json=as_json)


@app.command("rotate")
def rotate(
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
    with open_service() as service:
        workspace = workspace_of(service, api_key)
        row = service.keys.rotate(workspace, actor="cli", alg=alg, now=now)
        keys = [_key(service, r) for r in service.keys.keys(workspace)]
        new = _key(service, row)
    if as_json:
        echo_json({"key": new, "keys": keys})
        return
    if new["state"] == "next":
        stdout().print(f"Published {plain(new['kid'])}; it signs from {_short(new['promotesAt'])}.")
    else:
        stdout().print(f"{plain(new['kid'])} signs now.")
    _print(keys, as_json=False)
