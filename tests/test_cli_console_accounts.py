"""``idmint console-accounts``: create (the password printed once), list, reset-password and
delete, through Typer's CliRunner against a store in a temp directory."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from idmint.cli import app
from idmint.jose.errors import SignInFailedError
from idmint.service import Idmint
from idmint.settings import Settings

PUBLIC_URL = "https://id.example.test"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A store made by ``idmint init --json``; its answer."""
    for name in list(os.environ):
        if name.startswith("IDMINT_") or name in {"FORCE_COLOR", "COLUMNS"}:
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("IDMINT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("IDMINT_PUBLIC_URL", PUBLIC_URL)
    result = run("init", "--json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def _sign_in(email: str, password: str) -> None:
    service = Idmint.open(Settings())
    try:
        service.console.sign_in(email, password, client=None)
    finally:
        service.close()


def _password(output: str) -> str:
    found = re.search(r"Password:\s+(\S+)", output)
    assert found, output
    return found[1]


def test_create_prints_the_password_once_and_it_signs_in(env: dict[str, Any]) -> None:
    result = run("console-accounts", "create", "ann@example.com", "--role", "owner")
    assert result.exit_code == 0, result.output
    assert "Created console account ann@example.com (ca_" in result.stdout
    assert f"Sign in at: {PUBLIC_URL}/console/sign-in" in result.stdout
    assert "never shown again" in result.stdout
    _sign_in("ann@example.com", _password(result.stdout))
    listed = CliRunner().invoke(app, ["console-accounts", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert "ann@example.com" in listed.stdout
    assert _password(result.stdout) not in listed.stdout


def test_create_a_member_of_a_workspace_as_json(env: dict[str, Any]) -> None:
    result = run(
        "console-accounts",
        "create",
        "bob@example.com",
        "--workspace",
        env["apiKey"],
        "--workspace-role",
        "admin",
        "--json",
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["account"]["role"] == "member"
    assert answer["account"]["memberships"] == {env["workspaceId"]: "admin"}
    _sign_in("bob@example.com", answer["password"])
    listed = json.loads(run("console-accounts", "list", "--json").stdout)["accounts"]
    assert [(a["email"], a["role"], a["memberships"]) for a in listed] == [
        ("owner@localhost", "owner", {}),
        ("bob@example.com", "member", {env["workspaceId"]: "admin"}),
    ]
    assert "password" not in json.dumps(listed).lower()
    table = CliRunner().invoke(app, ["console-accounts", "list"], env={"COLUMNS": "200"})
    assert f"{env['apiKey']} (admin)" in table.stdout


def test_create_refuses_a_taken_email_a_bad_role_and_an_unknown_workspace(
    env: dict[str, Any],
) -> None:
    taken = run("console-accounts", "create", "OWNER@localhost")
    assert taken.exit_code == 1
    assert "[account_exists]" in taken.stderr
    assert run("console-accounts", "create", "x@example.com", "--role", "root").exit_code == 2
    unknown = run("console-accounts", "create", "x@example.com", "--workspace", "pk_nope")
    assert unknown.exit_code == 1
    assert "[api_key_not_found]" in unknown.stderr
    invalid = run("console-accounts", "create", "not-an-email")
    assert invalid.exit_code == 1
    assert "[invalid_email]" in invalid.stderr


def test_reset_password_prints_a_new_one_and_the_old_one_fails(env: dict[str, Any]) -> None:
    result = run("console-accounts", "reset-password", "owner@localhost")
    assert result.exit_code == 0, result.output
    assert "sessions ended" in result.stdout
    new = _password(result.stdout)
    assert new != env["consolePassword"]
    _sign_in("owner@localhost", new)
    with pytest.raises(SignInFailedError):
        _sign_in("owner@localhost", env["consolePassword"])
    as_json = json.loads(
        run("console-accounts", "reset-password", "owner@localhost", "--json").stdout
    )
    _sign_in("owner@localhost", as_json["password"])
    missing = run("console-accounts", "reset-password", "nobody@example.com")
    assert missing.exit_code == 1
    assert "[account_not_found]" in missing.stderr


def test_delete_asks_unless_yes_and_keeps_the_last_owner(env: dict[str, Any]) -> None:
    assert run("console-accounts", "create", "bob@example.com").exit_code == 0
    declined = run("console-accounts", "delete", "bob@example.com", input="n\n")
    assert declined.exit_code == 1
    confirmed = run("console-accounts", "delete", "bob@example.com", input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert "Deleted console account bob@example.com" in confirmed.stdout
    last = run("console-accounts", "delete", "owner@localhost", "--yes")
    assert last.exit_code == 1
    assert "[last_owner]" in last.stderr
    assert run("console-accounts", "delete", "bob@example.com", "--yes").exit_code == 1
    listed = json.loads(run("console-accounts", "list", "--json").stdout)["accounts"]
    assert [a["email"] for a in listed] == ["owner@localhost"]


def test_every_change_is_audited_with_actor_cli(env: dict[str, Any]) -> None:
    run("console-accounts", "create", "bob@example.com")
    run("console-accounts", "reset-password", "bob@example.com")
    run("console-accounts", "delete", "bob@example.com", "--yes")
    service = Idmint.open(Settings())
    try:
        service.audit.flush()
        events = service.store.audit_events(None)
    finally:
        service.close()
    done = {(e.action, e.actor, e.subject) for e in events}
    assert {
        ("console.account.create", "cli", "owner@localhost"),
        ("console.account.create", "cli", "bob@example.com"),
        ("console.account.password_reset", "cli", "bob@example.com"),
        ("console.account.delete", "cli", "bob@example.com"),
    } <= done
