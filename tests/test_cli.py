"""The ``idmint`` command, run through Typer's CliRunner against a store in a temp directory."""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from idmint import cli
from idmint.cli import app
from idmint.service import Idmint
from idmint.settings import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
PUBLIC_URL = "https://id.example.test"

Run = Callable[..., Result]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data directory, and an environment with no other IDMINT_* setting."""
    for name in list(os.environ):
        if name.startswith("IDMINT_") or name in {"FORCE_COLOR", "COLUMNS"}:
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("IDMINT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("IDMINT_PUBLIC_URL", PUBLIC_URL)
    return tmp_path / "data"


@pytest.fixture
def run(data_dir: Path) -> Run:
    """Run ``idmint <args>``; the result keeps stdout and stderr apart."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input)

    return invoke


@pytest.fixture
def workspace(run: Run) -> dict[str, Any]:
    """``idmint init --json``'s answer, for tests that need a workspace."""
    result = run("init", "--json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


@pytest.fixture
def service(data_dir: Path) -> Iterator[Callable[[], Idmint]]:
    """Open the same store as the CLI (after the CLI has run), closed at the end."""
    opened: list[Idmint] = []

    def open_service() -> Idmint:
        opened.append(Idmint.open(Settings()))
        return opened[-1]

    yield open_service
    for idmint in opened:
        idmint.close()


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _tampered(token: str, **changes: Any) -> str:
    """The token with changed claims and the original signature."""
    header, _payload, signature = token.split(".")
    claims = {**_claims(token), **changes}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


def _assert_clean_error(result: Result, code: str) -> None:
    """Exit 1, one line on stderr naming the code, no traceback."""
    assert result.exit_code == 1, result.output
    assert f"[{code}]" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def _mint(run: Run, *args: str) -> str:
    result = run("token", *args, "--json")
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["access_token"])


# --- init -------------------------------------------------------------------------------------


def test_init_prints_credentials_once_with_a_working_curl_example(
    run: Run, service: Callable[[], Idmint]
) -> None:
    result = run("init", "--name", "Acme")

    assert result.exit_code == 0, result.output
    out = result.stdout
    api_key = re.search(r"API key:\s+(pk_\S+)", out)
    secret = re.search(r"Auth token:\s+(sk_\S+)", out)
    assert api_key
    assert secret
    assert "never shown again" in out
    issuer = f"{PUBLIC_URL}/w/{api_key[1]}"
    assert f"Issuer:     {issuer}" in out
    assert f"JWKS URL:   {issuer}/.well-known/jwks.json" in out
    curl = shlex.split(out[out.index("curl") :].replace("\\\n", " "))
    assert curl[:5] == ["curl", "-sS", "-X", "POST", f"{PUBLIC_URL}/v1/auth/token/get"]
    body = json.loads(curl[curl.index("-d") + 1])["data"]
    assert body["apiKey"] == api_key[1]
    assert body["authToken"] == secret[1]
    assert set(body) == {"apiKey", "authToken", "userId", "userProperties"}
    assert set(body["userProperties"]) == {"organizationId", "email"}
    # The printed credentials really mint.
    minted = service().tokens.mint(body["apiKey"], body["authToken"], body["userId"])
    assert _claims(minted.token)["iss"] == issuer
    # And the console's owner account, with its sign-in URL and password.
    assert "owner account owner@localhost" in out
    assert f"Sign in at: {PUBLIC_URL}/console/sign-in" in out
    password = re.search(r"Password:\s+(\S+)", out)
    assert password
    service().console.sign_in("owner@localhost", password[1], client=None)


def test_init_takes_the_owners_email_and_leaves_an_existing_owner_alone(
    run: Run, service: Callable[[], Idmint]
) -> None:
    first = run("init", "--json", "--owner-email", "Ops@Example.com")
    assert first.exit_code == 0, first.output
    answer = json.loads(first.stdout)
    assert answer["consoleEmail"] == "Ops@Example.com"
    again = run("init", "--if-missing", "--owner-email", "other@example.com")
    assert again.exit_code == 0, again.output
    assert "Password" not in again.stdout  # shown once
    assert [a.email for a in service().console.all()] == ["Ops@Example.com"]
    service().console.sign_in("ops@example.com", answer["consolePassword"], client=None)


def test_init_if_missing_makes_an_owner_for_a_store_without_one(
    run: Run, workspace: dict[str, Any], service: Callable[[], Idmint]
) -> None:
    # A store from before console accounts: its workspace exists, no owner does.
    from sqlalchemy import delete

    from idmint.store import ConsoleAccount

    with service().store.engine.begin() as connection:
        connection.execute(delete(ConsoleAccount))
    made = run("init", "--if-missing")
    assert made.exit_code == 0, made.output
    assert "exists" in made.stdout
    assert "sk_" not in made.stdout
    password = re.search(r"Password:\s+(\S+)", made.stdout)
    assert password
    service().console.sign_in("owner@localhost", password[1], client=None)
    kept = run("init", "--if-missing")
    assert "Password" not in kept.stdout


def test_init_json_is_one_object_for_scripts(run: Run, service: Callable[[], Idmint]) -> None:
    result = run("init", "--json")

    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert set(answer) == {
        "apiKey",
        "authToken",
        "issuer",
        "jwksUri",
        "workspaceId",
        "scopes",
        "consoleEmail",
        "consolePassword",
        "consoleUrl",
    }
    assert answer["scopes"] == ["mint"]
    assert answer["consoleEmail"] == "owner@localhost"
    assert answer["consoleUrl"] == f"{PUBLIC_URL}/console/sign-in"
    owner = service().console.get("owner@localhost")
    assert owner.role == "owner"
    assert owner.password_hash.startswith("$argon2id$")
    service().console.sign_in("owner@localhost", answer["consolePassword"], client=None)
    assert answer["issuer"] == f"{PUBLIC_URL}/w/{answer['apiKey']}"
    assert answer["jwksUri"] == f"{answer['issuer']}/.well-known/jwks.json"
    assert answer["workspaceId"].startswith("ws_")
    service().tokens.mint(answer["apiKey"], answer["authToken"], "user-1")


def test_second_init_is_refused_and_keeps_the_workspace(
    run: Run, workspace: dict[str, Any], service: Callable[[], Idmint]
) -> None:
    result = run("init")

    _assert_clean_error(result, "workspace_exists")
    assert "never overwrites" in result.stderr
    assert result.stdout == ""
    assert [w.api_key for w in service().workspaces.all()] == [workspace["apiKey"]]


# --- token ------------------------------------------------------------------------------------


def test_token_prompts_for_the_email_of_an_existing_user(
    run: Run, workspace: dict[str, Any], service: Callable[[], Idmint]
) -> None:
    added = run("users", "add", "u1", "--email", "ann@example.com", "--organization", "o1")
    assert added.exit_code == 0, added.output

    result = run("token", input="ann@example.com\n")

    assert result.exit_code == 0, result.output
    assert "Email:" in result.stderr
    assert "Token type: bearer" in result.stdout
    assert "Expires in: 172800 seconds" in result.stdout
    jwt = re.search(r"^JWT: (\S+)$", result.stdout, re.M)
    assert jwt
    claims = service().tokens.verify(workspace["apiKey"], jwt[1]).claims
    assert (claims.subject, claims.email, claims.organization_id) == ("u1", "ann@example.com", "o1")


def test_token_json_with_a_prompt_keeps_stdout_pure_json(
    run: Run, workspace: dict[str, Any]
) -> None:
    run("users", "add", "u1", "--email", "ann@example.com")

    result = run("token", "--json", input="\nann@example.com\n")

    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)) == {"access_token", "token_type", "expires_in"}


def test_token_email_is_matched_case_insensitively(run: Run, workspace: dict[str, Any]) -> None:
    run("users", "add", "u1", "--email", "ann@example.com")

    assert _claims(_mint(run, "ANN@example.com"))["sub"] == "u1"


def test_token_for_unknown_email_is_user_not_found_and_creates_no_user(
    run: Run, workspace: dict[str, Any], service: Callable[[], Idmint]
) -> None:
    result = run("token", "bob@example.com")

    _assert_clean_error(result, "user_not_found")
    assert "bob@example.com" in result.stderr
    assert service().users.list(workspace["apiKey"]) == []


def test_token_for_malformed_email_is_invalid_email(run: Run, workspace: dict[str, Any]) -> None:
    _assert_clean_error(run("token", "not-an-email"), "invalid_email")


def test_token_user_id_json_has_exactly_the_seed_keys(
    run: Run, workspace: dict[str, Any], service: Callable[[], Idmint]
) -> None:
    result = run(
        "token", "ann@example.com", "--user-id", "u7", "--organization", "o7", "--admin", "--json"
    )

    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert list(answer) == ["access_token", "token_type", "expires_in"]
    assert answer["token_type"] == "bearer"
    assert answer["expires_in"] == 172800
    claims = service().tokens.verify(workspace["apiKey"], answer["access_token"]).claims
    assert (claims.subject, claims.organization_id, claims.email, claims.is_admin) == (
        "u7",
        "o7",
        "ann@example.com",
        True,
    )


def test_token_user_id_upserts_the_user_like_the_service_mint(
    run: Run, workspace: dict[str, Any], service: Callable[[], Idmint]
) -> None:
    _mint(run, "--user-id", "u7", "--organization", "o6", "--admin")
    _mint(run, "--user-id", "u7", "--organization", "o7")

    user = service().users.get(workspace["apiKey"], "u7")
    # As in TokenService.mint: isAdmin follows the latest token, other fields only when given.
    assert (user.is_admin, user.organization_id, user.email) == (False, "o7", None)


def test_token_user_id_needs_an_existing_user_without_auto_create(
    run: Run, workspace: dict[str, Any]
) -> None:
    assert run("settings", "set", "--no-auto-create-users").exit_code == 0

    _assert_clean_error(
        run("token", "--user-id", "ghost", "--organization", "org-1"), "user_not_found"
    )
    run("users", "add", "ghost")
    assert _claims(_mint(run, "--user-id", "ghost", "--organization", "org-1"))["sub"] == "ghost"


def test_token_expires_in_sets_the_lifetime_within_the_bounds(
    run: Run, workspace: dict[str, Any], service: Callable[[], Idmint]
) -> None:
    result = run(
        "token", "--user-id", "u1", "--organization", "org-1", "--expires-in", "600", "--json"
    )
    assert json.loads(result.stdout)["expires_in"] == 600

    _assert_clean_error(
        run("token", "--user-id", "u2", "--organization", "org-1", "--expires-in", "99999999"),
        "lifetime_out_of_bounds",
    )
    with pytest.raises(Exception, match="u2"):
        service().users.get(workspace["apiKey"], "u2")


def test_token_mints_are_audited_with_actor_cli(
    run: Run, workspace: dict[str, Any], service: Callable[[], Idmint]
) -> None:
    token = _mint(run, "--user-id", "u1", "--organization", "org-1")
    run("token", "nobody@example.com")

    idmint = service()
    workspace_id = workspace["workspaceId"]
    events = idmint.store.audit_events(workspace_id, action="token.mint")
    failure, success = events[0], events[1]
    assert (success.actor, success.outcome, success.subject) == ("cli", "success", "u1")
    assert success.detail["jti"] == _claims(token)["jti"]
    assert "kid" in success.detail
    assert (failure.outcome, failure.reason_code) == ("failure", "user_not_found")


def test_token_organization_and_admin_need_user_id(run: Run, workspace: dict[str, Any]) -> None:
    result = run("token", "ann@example.com", "--admin")

    assert result.exit_code == 2
    assert "--user-id" in result.output


# --- verify -----------------------------------------------------------------------------------


def test_verify_valid_token_shows_header_and_claims_and_exits_0(
    run: Run, workspace: dict[str, Any]
) -> None:
    token = _mint(run, "--user-id", "u1", "--organization", "o1")

    result = run("verify", token)

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("valid")
    for text in ("alg", "ES256", "kid", "sub", "u1", "organizationId", "o1", workspace["issuer"]):
        assert text in result.stdout
    answer = json.loads(run("verify", token, "--json").stdout)
    assert answer["valid"] is True
    assert answer["claims"]["sub"] == "u1"
    assert answer["header"]["alg"] == "ES256"


def test_verify_tampered_token_exits_1_with_the_code_and_unverified_claims(
    run: Run, workspace: dict[str, Any]
) -> None:
    forged = _tampered(
        _mint(run, "--user-id", "u1", "--organization", "org-1"), sub="admin", isAdmin=True
    )

    result = run("verify", forged)

    assert result.exit_code == 1
    assert result.stdout.startswith("invalid [token_signature_invalid]")
    assert "UNVERIFIED" in result.stdout
    assert "admin" in result.stdout
    assert "Traceback" not in result.output
    answer = json.loads(run("verify", forged, "--json").stdout)
    assert answer["valid"] is False
    assert answer["error"]["code"] == "token_signature_invalid"
    assert answer["unverified"]["claims"]["sub"] == "admin"


def test_verify_undecodable_token_says_so(run: Run, workspace: dict[str, Any]) -> None:
    result = run("verify", "garbage")

    assert result.exit_code == 1
    assert "invalid [token_malformed]" in result.stdout
    assert "cannot be decoded" in result.stdout
    assert json.loads(run("verify", "garbage", "--json").stdout)["unverified"] is None


def test_verify_expired_token_is_token_expired(
    run: Run, workspace: dict[str, Any], service: Callable[[], Idmint]
) -> None:
    from idmint.jose.clock import FrozenClock

    idmint = service()
    ws = idmint.workspaces.get(workspace["apiKey"])
    minter = idmint.keys.for_workspace(ws).minter
    old = type(minter)(
        minter.keys,
        issuer=minter.issuer,
        audience=minter.audience,
        clock=FrozenClock(1_000_000_000),
    ).mint("u1")

    result = run("verify", old.token, "--json")

    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "token_expired"


# --- users ------------------------------------------------------------------------------------


def test_users_add_and_list(run: Run, workspace: dict[str, Any]) -> None:
    result = run("users", "add", "u1", "--email", "ann@example.com", "--name", "Ann")
    assert result.exit_code == 0, result.output
    assert "Added user u1." in result.stdout
    run("users", "add", "u2", "--organization", "o2")

    table = run("users", "list")
    assert table.exit_code == 0, table.output
    assert "ann@example.com" in table.stdout
    assert "Ann" in table.stdout
    assert "o2" in table.stdout

    answer = json.loads(run("users", "list", "--json").stdout)
    assert [user["userId"] for user in answer["users"]] == ["u1", "u2"]
    assert answer["users"][0]["email"] == "ann@example.com"
    assert answer["next"] is None


def test_users_list_pages_with_limit_and_after(run: Run, workspace: dict[str, Any]) -> None:
    for user_id in ("a", "b", "c"):
        run("users", "add", user_id)

    first = json.loads(run("users", "list", "--limit", "2", "--json").stdout)
    second = json.loads(run("users", "list", "--limit", "2", "--after", "b", "--json").stdout)

    assert [user["userId"] for user in first["users"]] == ["a", "b"]
    assert first["next"] == "b"
    assert [user["userId"] for user in second["users"]] == ["c"]
    assert second["next"] is None
    assert "--after b" in run("users", "list", "--limit", "2").stdout


def test_users_add_existing_user_is_user_exists(run: Run, workspace: dict[str, Any]) -> None:
    run("users", "add", "u1")

    _assert_clean_error(run("users", "add", "u1"), "user_exists")


def test_users_list_empty(run: Run, workspace: dict[str, Any]) -> None:
    assert "No users." in run("users", "list").stdout


# --- settings ---------------------------------------------------------------------------------


def test_settings_show_bare_and_json(run: Run, workspace: dict[str, Any]) -> None:
    bare = run("settings")
    shown = run("settings", "show")

    assert bare.exit_code == shown.exit_code == 0, bare.output
    assert bare.stdout == shown.stdout
    assert "Require JWT" in bare.stdout
    assert workspace["jwksUri"] in bare.stdout
    answer = json.loads(run("settings", "show", "--json").stdout)
    # The workspace as the admin API answers it (one serializer for both).
    created, updated = answer.pop("createdAt"), answer.pop("updatedAt")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", created)
    assert updated == created
    assert answer == {
        "id": workspace["workspaceId"],
        "name": "default",
        "apiKey": workspace["apiKey"],
        "issuer": workspace["issuer"],
        "jwksUri": workspace["jwksUri"],
        "requireJwt": True,
        "tokenTtlSeconds": 172800,
        "minTtlSeconds": 1,
        "maxTtlSeconds": 604800,
        "autoCreateUsers": True,
        "allowedDomains": [],
        "mintRateLimit": None,
    }


def _settings(run: Run) -> dict[str, Any]:
    return dict(json.loads(run("settings", "show", "--json").stdout))


def test_settings_require_jwt_off_and_on(run: Run, workspace: dict[str, Any]) -> None:
    result = run("settings", "require-jwt", "off")
    assert result.exit_code == 0, result.output
    assert "Require JWT is now off." in result.stdout
    assert _settings(run)["requireJwt"] is False

    assert run("settings", "set", "--require-jwt").exit_code == 0
    assert _settings(run)["requireJwt"] is True
    assert run("settings", "set", "--no-require-jwt", "--json").exit_code == 0
    assert _settings(run)["requireJwt"] is False
    assert run("settings", "require-jwt", "maybe").exit_code == 2


def test_settings_set_changes_only_the_given_settings(
    run: Run, workspace: dict[str, Any], service: Callable[[], Idmint]
) -> None:
    result = run(
        "settings",
        "set",
        "--ttl",
        "3600",
        "--min-ttl",
        "60",
        "--max-ttl",
        "86400",
        "--allowed-domain",
        "app.example.com",
        "--allowed-domain",
        "*.example.com",
        "--name",
        "Acme",
        "--json",
    )

    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["tokenTtlSeconds"] == 3600
    assert (answer["minTtlSeconds"], answer["maxTtlSeconds"]) == (60, 86400)
    assert answer["allowedDomains"] == ["app.example.com", "*.example.com"]
    assert (answer["name"], answer["requireJwt"]) == ("Acme", True)
    # New tokens take the new default lifetime at once.
    assert (
        json.loads(run("token", "--user-id", "u1", "--organization", "org-1", "--json").stdout)[
            "expires_in"
        ]
        == 3600
    )
    assert run("settings", "set", "--clear-allowed-domains").exit_code == 0
    assert _settings(run)["allowedDomains"] == []
    changes = service().store.audit_events(workspace["workspaceId"], action="workspace.settings")
    assert {event.actor for event in changes} == {"cli"}


def test_settings_set_rejects_lifetimes_that_do_not_nest(
    run: Run, workspace: dict[str, Any]
) -> None:
    _assert_clean_error(run("settings", "set", "--ttl", "99999999"), "invalid_argument")
    assert _settings(run)["tokenTtlSeconds"] == 172800


def test_settings_set_without_options_is_a_usage_error(run: Run, workspace: dict[str, Any]) -> None:
    assert run("settings", "set").exit_code == 2
    both = run("settings", "set", "--allowed-domain", "a.example.com", "--clear-allowed-domains")
    assert both.exit_code == 2


# --- workspaces and errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("token", "ann@example.com"),
        ("verify", "a.b.c"),
        ("users", "list"),
        ("users", "add", "u1"),
        ("settings",),
        ("settings", "require-jwt", "on"),
    ],
)
def test_commands_without_a_workspace_say_run_init(run: Run, args: tuple[str, ...]) -> None:
    # A store with no workspace in it (as `idmint init` leaves one that failed half way).
    Idmint.open(Settings(), create=True).close()

    result = run(*args)

    _assert_clean_error(result, "workspace_not_found")
    assert "idmint init" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("serve",),
        ("token", "ann@example.com"),
        ("verify", "a.b.c"),
        ("users", "list"),
        ("users", "add", "u1"),
        ("settings",),
        ("settings", "show"),
        ("settings", "set", "--ttl", "60"),
        ("settings", "require-jwt", "on"),
        ("keys", "list"),
        ("keys", "rotate"),
        ("revoke", "--jti", "j1"),
        ("audit",),
    ],
)
def test_commands_without_a_store_say_run_init_and_create_nothing(
    run: Run, args: tuple[str, ...], data_dir: Path
) -> None:
    result = run(*args)

    _assert_clean_error(result, "store_not_found")
    assert "run `idmint init` first" in result.stderr
    assert str(data_dir / "idmint.db") in result.stderr
    assert not data_dir.exists()


def test_several_workspaces_need_api_key(
    run: Run, workspace: dict[str, Any], service: Callable[[], Idmint]
) -> None:
    idmint = service()
    other = idmint.init_workspace("other", allow_existing=True).workspace.api_key
    idmint.close()

    result = run("users", "list")
    _assert_clean_error(result, "invalid_argument")
    assert "--api-key" in result.stderr
    assert other in result.stderr

    assert run("users", "add", "u1", "--api-key", other).exit_code == 0
    listed = json.loads(run("users", "list", "--api-key", other, "--json").stdout)
    assert [user["userId"] for user in listed["users"]] == ["u1"]
    token = _mint(
        run, "--user-id", "u1", "--organization", "org-1", "--api-key", workspace["apiKey"]
    )
    assert _claims(token)["aud"] == workspace["apiKey"]
    # A token of one workspace is not valid for the other.
    assert run("verify", token, "--api-key", other).exit_code == 1


def test_unknown_api_key_is_api_key_not_found(run: Run, workspace: dict[str, Any]) -> None:
    _assert_clean_error(run("users", "list", "--api-key", "pk_nope"), "api_key_not_found")


def test_invalid_settings_are_reported_without_traceback(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDMINT_SIGNING_ALGORITHM", "HS256")

    result = run("users", "list")

    _assert_clean_error(result, "invalid_argument")
    assert "IDMINT_SIGNING_ALGORITHM" in result.stderr


def test_unusable_data_dir_is_unavailable_without_traceback(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("IDMINT_DATA_DIR", str(blocker))

    _assert_clean_error(run("init"), "unavailable")


def test_control_characters_from_users_and_tokens_are_not_sent_to_the_terminal(
    run: Run, workspace: dict[str, Any], service: Callable[[], Idmint]
) -> None:
    # User fields can come from a browser's identify; a bad token from anyone.
    service().users.create(workspace["apiKey"], "u1", actor="test", name="\x1b[2J[red]evil\x9b")
    forged = _tampered(
        _mint(run, "--user-id", "u2", "--organization", "org-1"), sub="\x1b]0;pwned\x07", exp=1e300
    )

    outputs = [
        run("users", "list").stdout,
        run("users", "list", "--json").stdout,
        run("verify", forged).stdout,
        run("verify", forged, "--json").stdout,
    ]

    for output in outputs:
        assert not any(char in output for char in "\x1b\x07\x9b"), output
    assert "[red" in outputs[0]  # shown, not taken as markup
    assert json.loads(outputs[1])["users"][0]["profile"]["name"] == "\x1b[2J[red]evil\x9b"
    assert "out of range" in outputs[2]


def test_secrets_are_printed_by_init_only(run: Run, workspace: dict[str, Any]) -> None:
    run("users", "add", "u1", "--email", "ann@example.com")
    outputs = [
        run("settings").output,
        run("settings", "show", "--json").output,
        run("users", "list", "--json").output,
        run("token", "ann@example.com").output,
        run("verify", "x.y.z").output,
    ]
    assert not any(workspace["authToken"] in output for output in outputs)
    assert not any("sk_" in output for output in outputs)


# --- serve ------------------------------------------------------------------------------------


def test_serve_migrates_then_runs_the_app_factory(
    run: Run, data_dir: Path, workspace: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for name in ("IDMINT_HOST", "IDMINT_PORT", "IDMINT_WORKERS"):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append((args, kwargs)))

    result = run("serve", "--host", "10.1.2.3", "--port", "9001", "--workers", "2")

    assert result.exit_code == 0, result.output
    assert calls == [
        (
            ("idmint.api:create_app_from_env",),
            {
                "factory": True,
                "host": "10.1.2.3",
                "port": 9001,
                "workers": 2,
                "access_log": False,
                "server_header": False,
                "http": "idmint.api.edge:EdgeProtocol",
                "timeout_keep_alive": 75,
            },
        )
    ]
    assert (os.environ["IDMINT_HOST"], os.environ["IDMINT_PORT"]) == ("10.1.2.3", "9001")
    assert os.environ["IDMINT_WORKERS"] == "2"
    assert f"issuers {PUBLIC_URL}/w/<apiKey>" in result.stderr


@pytest.mark.parametrize(
    ("host", "base"),
    [("0.0.0.0", "http://127.0.0.1:9001"), ("::", "http://[::1]:9001")],  # noqa: S104
)
def test_serve_without_public_url_prints_the_issuer_of_the_address_it_serves(
    run: Run, workspace: dict[str, Any], monkeypatch: pytest.MonkeyPatch, host: str, base: str
) -> None:
    import uvicorn

    for name in ("IDMINT_PUBLIC_URL", "IDMINT_HOST", "IDMINT_PORT", "IDMINT_WORKERS"):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)

    result = run("serve", "--host", host, "--port", "9001")

    assert result.exit_code == 0, result.output
    assert f"issuers {base}/w/<apiKey>" in result.stderr
    assert Settings().issuer_for("pk_x") == f"{base}/w/pk_x"  # what the workers will use


def test_serve_defaults_come_from_settings(
    run: Run, workspace: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setenv("IDMINT_PORT", "8123")
    monkeypatch.delenv("IDMINT_HOST", raising=False)
    monkeypatch.delenv("IDMINT_WORKERS", raising=False)
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))

    assert run("serve").exit_code == 0
    assert calls == [
        {
            "factory": True,
            "host": "127.0.0.1",
            "port": 8123,
            "workers": 1,
            "access_log": False,
            "server_header": False,
            "http": "idmint.api.edge:EdgeProtocol",
            "timeout_keep_alive": 75,
        }
    ]


# --- manual -----------------------------------------------------------------------------------


def _commands() -> list[tuple[str, Any]]:
    """Every command of the tree as ("idmint users add", click command)."""
    found: list[tuple[str, Any]] = []
    pending: list[tuple[str, Any]] = [("idmint", typer.main.get_command(app))]
    while pending:
        path, command = pending.pop(0)
        found.append((path, command))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            pending.append((f"{path} {name}", sub))
    return found


COMMANDS = dict(_commands())
LEAF_COMMANDS = [path for path, command in COMMANDS.items() if not hasattr(command, "commands")]


@pytest.mark.parametrize("path", list(COMMANDS))
def test_every_command_and_option_is_in_docs_cli_md(path: str) -> None:
    command = COMMANDS[path]
    text = DOCS.read_text(encoding="utf-8")
    assert f"`{path}" in text, f"docs/cli.md does not show `{path}`"
    heading = re.search(rf"^(#+) `{re.escape(path)}`$", text, re.M)
    if heading:  # options are checked in the command's own section
        level = len(heading[1])
        end = re.compile(rf"^#{{1,{level}}} ", re.M).search(text, heading.end())
        text = text[heading.end() : end.start() if end else len(text)]
    else:
        assert hasattr(command, "commands"), f"docs/cli.md has no section for `{path}`"
    for param in command.params:
        if param.param_type_name == "argument":
            assert f"`{param.name.upper()}" in text, (path, param.name)
            continue
        for name in [*param.opts, *param.secondary_opts]:
            if name != "--help":
                assert re.search(rf"`{re.escape(name)}\b", text), (path, name)


@pytest.mark.parametrize("path", LEAF_COMMANDS)
def test_every_command_docstring_has_a_runnable_example(path: str) -> None:
    help_text = COMMANDS[path].help or ""
    assert "Example:" in help_text
    examples = help_text.split("Example:", 1)[1]
    assert any(line.strip().startswith(path) or path in line for line in examples.splitlines())


def test_main_is_the_console_script(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setattr("sys.argv", ["idmint", "--help"])

    with pytest.raises(SystemExit) as exited:
        cli.main()

    assert exited.value.code == 0


def test_init_if_missing_reports_the_existing_workspace_and_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDMINT_DATA_DIR", str(tmp_path))
    first = CliRunner().invoke(app, ["init", "--if-missing"])
    assert first.exit_code == 0, first.output
    assert "export AUTH_TOKEN=sk_" in first.output
    again = CliRunner().invoke(app, ["init", "--if-missing"])
    assert again.exit_code == 0, again.output
    assert "exists" in again.output
    assert "sk_" not in again.output  # the secret is never shown twice


def test_revoke_and_audit_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDMINT_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    minted = runner.invoke(
        app, ["token", "--user-id", "user-1", "--organization", "org-1", "--json"]
    )
    token = json.loads(minted.output)["access_token"]
    assert runner.invoke(app, ["verify", token]).exit_code == 0
    revoked = runner.invoke(app, ["revoke", "--user", "user-1", "--reason", "test", "--json"])
    assert revoked.exit_code == 0, revoked.output
    assert json.loads(revoked.output)["kind"] == "user"
    refused = runner.invoke(app, ["verify", token])
    assert refused.exit_code == 1
    assert "token_revoked" in refused.output
    assert runner.invoke(app, ["revoke"]).exit_code == 2
    assert runner.invoke(app, ["revoke", "--jti", "a", "--user", "b"]).exit_code == 2
    events = json.loads(runner.invoke(app, ["audit", "--json"]).output)["events"]
    assert events[0]["action"] == "revocation.create"
    assert "token.mint" in {event["action"] for event in events}
    table = runner.invoke(app, ["audit", "--action", "token.mint"])
    assert table.exit_code == 0
    assert "token.mint" in table.output


def test_keys_list_and_rotate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDMINT_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["keys", "list", "--json"]).output)["keys"]
    assert [key["state"] for key in listed] == ["active"]
    rotated = runner.invoke(app, ["keys", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    assert "Published" in rotated.output
    states = [
        k["state"]
        for k in json.loads(runner.invoke(app, ["keys", "list", "--json"]).output)["keys"]
    ]
    assert sorted(states) == ["active", "next"]
    urgent = runner.invoke(app, ["keys", "rotate", "--now", "--json"])
    assert json.loads(urgent.output)["key"]["state"] == "active"
    bad = runner.invoke(app, ["keys", "rotate", "--alg", "HS256"])
    assert bad.exit_code == 1
    assert "key_invalid" in bad.output
