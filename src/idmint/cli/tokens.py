"""``idmint token`` and ``idmint verify``: mint and check user tokens, on the local store or,
with ``--url``, against a running idmint anywhere (the API key and auth token from
``IDMINT_API_KEY`` and ``IDMINT_AUTH_TOKEN``, asked for when unset, the token never echoed)."""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from idmint.cli._context import ApiKeyOption, JsonOption, open_service, workspace_of
from idmint.cli._output import ask, ask_secret, echo_json, fields_table, plain, stdout

if TYPE_CHECKING:
    from idmint.jose.errors import TokenError
    from idmint.jose.tokens import MintedToken, VerifiedToken

__all__ = ["token", "verify"]

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="A running idmint to ask (e.g. https://idmint.example.com), instead of the local "
        "store. Credentials: IDMINT_API_KEY, IDMINT_AUTH_TOKEN (asked for when unset).",
        show_default=False,
    ),
]


def _remote_credentials(api_key: str | None, *, secret: bool) -> tuple[str, str]:
    """The API key (``--api-key``, ``IDMINT_API_KEY`` or asked) and, when ``secret``, the
    auth token (``IDMINT_AUTH_TOKEN`` or asked, never echoed)."""
    key = api_key or os.environ.get("IDMINT_API_KEY") or ask("API key")
    auth_token = ""
    if secret:
        auth_token = os.environ.get("IDMINT_AUTH_TOKEN") or ask_secret("Auth token (not shown)")
    return key, auth_token


def _check_url(url: str) -> str:
    from idmint.client._calls import checked_url

    return checked_url(url, what="--url")


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
            help="Mint by user id, creating or updating the user, as the API's mint by user "
            "id does (then --organization is required).",
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
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Mint a user token (a signed JWT): on the local store, or with --url from a running
    idmint.

    With no EMAIL and no --user-id, asks for the email.  With EMAIL only, mints by email: for
    the existing user with that email (an unknown email is an error, user_not_found; no user
    is created).  With --user-id, mints by user id under the API's rules: --organization is
    required, and the user is created or updated with the given email, organization and
    admin flag.  Every mint is audited (actor "cli" locally, the auth token with --url).
    Prints the token type, the JWT and its lifetime; --json prints {"access_token",
    "token_type", "expires_in"}.

    Example:

        idmint token ann@example.com
        idmint token --user-id user-1 --organization org-1 ann@example.com --json
        IDMINT_API_KEY=pk_... idmint token --url https://idmint.example.com
    """
    if user_id is None and (organization is not None or admin is not None):
        raise typer.BadParameter(
            "it applies with --user-id only.", param_hint="'--organization' / '--admin'"
        )
    if user_id is not None and organization is None:
        raise typer.BadParameter(
            "minting by user id needs the user's organizationId, as the API does "
            "(userProperties.organizationId).",
            param_hint="'--organization'",
        )
    if url is not None:
        minted_token, lifetime, who = _mint_remote(
            _check_url(url), api_key, email, user_id, organization, bool(admin), expires_in
        )
    else:
        minted_token, lifetime, who = _mint_local(
            api_key, email, user_id, organization, bool(admin), expires_in
        )
    if as_json:
        echo_json({"access_token": minted_token, "token_type": "bearer", "expires_in": lifetime})
        return
    out = stdout()
    out.print(f"Token generated for {plain(who)}.")
    out.print("Token type: bearer")
    out.print(f"JWT: {minted_token}")
    out.print(f"Expires in: {lifetime} seconds")


def _mint_local(
    api_key: str | None,
    email: str | None,
    user_id: str | None,
    organization: str | None,
    admin: bool,
    expires_in: int | None,
) -> tuple[str, int, str]:
    from idmint.jose.errors import UserNotFoundError

    minted: MintedToken
    with open_service() as service:
        workspace = workspace_of(service, api_key)  # before asking: no workspace, no question
        if user_id is None:
            address = email if email is not None else ask("Email")
            try:
                minted, user = service.tokens.issue_for_email(
                    workspace, address, actor="cli", expires_in=expires_in
                )
            except UserNotFoundError:
                raise UserNotFoundError(
                    f"No user with the email {address!r} in this workspace (add one with "
                    "`idmint users add`, or mint by user id with --user-id)."
                ) from None
            who = f"{user.user_id} ({user.email})"
        else:
            minted = service.tokens.issue(
                workspace,
                user_id,
                actor="cli",
                email=email,
                organization_id=organization,
                is_admin=admin,
                expires_in=expires_in,
            )
            who = user_id if email is None else f"{user_id} ({email})"
    return minted.token, minted.expires_in, who


def _mint_remote(
    url: str,
    api_key: str | None,
    email: str | None,
    user_id: str | None,
    organization: str | None,
    admin: bool,
    expires_in: int | None,
) -> tuple[str, int, str]:
    from idmint.client import IdmintClient

    key, secret = _remote_credentials(api_key, secret=True)
    with IdmintClient(url, api_key=key, auth_token=secret) as client:
        if user_id is None:
            address = email if email is not None else ask("Email")
            generated = client.token_for_email(address)
            who = address
        else:
            assert organization is not None  # noqa: S101 - checked by the command
            generated = client.generate_token(
                user_id,
                organization_id=organization,
                email=email,
                is_admin=admin,
                expires_in=expires_in,
            )
            who = user_id if email is None else f"{user_id} ({email})"
    return generated.token, generated.expires_in, who


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
    from idmint.jose.jws import DEFAULT_LIMITS

    if len(token) > DEFAULT_LIMITS.token or token.count(".") != 2:
        return None
    header_segment, payload_segment, _signature = token.split(".")
    header, claims = _b64_json(header_segment), _b64_json(payload_segment)
    if header is None and claims is None:
        return None
    return {"header": header, "claims": claims}


def verify(
    token: Annotated[str, typer.Argument(help="The JWT to check.", show_default=False)],
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Verify a user token: its signature and claims, and on the local store its revocation.

    Locally the workspace's own keys and denylist are used.  With --url, the token is checked
    as any other service checks it: offline, against the workspace's published JWKS and
    issuer (read from its discovery document; only the API key is needed), so a revocation
    is not seen.  Prints "valid" with the header and claims (exit 0), or "invalid" with the
    error code and reason (exit 1) followed by the token's header and claims decoded WITHOUT
    verification, for diagnosis, when they can be decoded.

    Example:

        idmint verify "$(idmint token ann@example.com --json | jq -r .access_token)"
        idmint verify --url https://idmint.example.com --api-key pk_... "$TOKEN"
    """
    from idmint.jose.errors import TokenError

    token = token.strip()
    verified: VerifiedToken
    try:
        if url is not None:
            verified = _verify_remote(_check_url(url), api_key, token)
        else:
            with open_service() as service:
                workspace = workspace_of(service, api_key)
                verified = service.tokens.verify(workspace.api_key, token)
    except TokenError as exc:
        _report_invalid(exc, _unverified(token), as_json=as_json)
        raise typer.Exit(1) from None
    header, claims = dict(verified.header), dict(verified.claims.raw)
    if as_json:
        echo_json({"valid": True, "header": header, "claims": claims})
        return
    out = stdout()
    out.print("[bold green]valid[/]")
    out.print(fields_table("Header", header))
    out.print(fields_table("Claims", claims))


def _verify_remote(url: str, api_key: str | None, token: str) -> VerifiedToken:
    import httpx

    from idmint.client import RemoteVerifier
    from idmint.jose.errors import UnavailableError

    key, _ = _remote_credentials(api_key, secret=False)
    discovery_url = f"{url}/w/{key}/.well-known/openid-configuration"
    try:
        answer = httpx.get(discovery_url, timeout=10)
    except httpx.HTTPError as exc:
        raise UnavailableError(f"idmint did not answer GET {discovery_url}: {exc}") from None
    if answer.status_code != 200:
        raise UnavailableError(
            f"GET {discovery_url} answered {answer.status_code}, not the workspace's "
            "discovery document: is the URL idmint's, and the API key right?"
        )
    issuer = answer.json()["issuer"]
    with RemoteVerifier(issuer, audience=key) as verifier:
        return verifier.verify(token)


def _report_invalid(exc: TokenError, unverified: dict[str, Any] | None, *, as_json: bool) -> None:
    from idmint.serializers import error_fields

    if as_json:
        echo_json({"valid": False, "error": error_fields(exc), "unverified": unverified})
        return
    out = stdout()
    out.print(f"[bold red]invalid[/] {plain(f'[{exc.code}]')}: {plain(exc.message)}")
    if unverified is None:
        out.print("The token cannot be decoded.")
        return
    out.print("[yellow]UNVERIFIED contents, for diagnosis only: do not trust them.[/]")
    for part in ("header", "claims"):
        values = unverified[part]
        if values is None:
            out.print(f"Unverified {part}: cannot be decoded.")
        else:
            out.print(fields_table(f"Unverified {part}", values))
