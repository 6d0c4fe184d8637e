"""The commands the house issue added: --version, migrate (and serve's refusal of a store that
is behind), auth-tokens, users delete, token and verify against a running idmint (--url), and
a --help that imports nothing of the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from conftest import IDMINT, free_port, idmint_init, idmint_serve
from idmint import AuthTokenRevokedError, AuthTokenScopeError, __version__
from idmint.cli import app
from idmint.service import Idmint
from idmint.settings import Settings
from idmint.store import Store


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("IDMINT_") or name in {"FORCE_COLOR", "COLUMNS"}:
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("IDMINT_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def init() -> dict[str, Any]:
    result = run("init", "--json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_version(env: Path) -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"idmint {__version__}"


def test_help_imports_nothing_of_the_server() -> None:
    script = (
        "import sys\n"
        "from idmint.cli import main\n"
        "sys.argv = ['idmint', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'sqlalchemy', 'fastapi', 'starlette', 'uvicorn', 'alembic', 'psycopg', 'pydantic', "
        "'pydantic_settings', 'httpx'})\n"
        "print(heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "auth-tokens" in result.stdout
    assert result.stderr.strip().splitlines()[-1] == "[]"


# --- migrate ----------------------------------------------------------------------------------


def _downgrade(data_dir: Path, revision: str) -> None:
    """Take the store back to an older schema, as an older idmint left it."""
    from alembic import command
    from alembic.config import Config

    store = Store.open(f"sqlite:///{data_dir / 'idmint.db'}", create=False)
    try:
        config = Config()
        config.set_main_option(
            "script_location",
            str(Path(sys.modules["idmint.store"].__file__).with_name("migrations")),  # type: ignore[arg-type]
        )
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        store.close()


def test_migrate_check_and_upgrade(env: Path) -> None:
    init()
    current = run("migrate", "--check")
    assert current.exit_code == 0, current.output
    assert "current" in current.stdout

    _downgrade(env, "0001")
    behind = run("migrate", "--check")
    assert behind.exit_code == 1
    head = Store.head_revision()
    assert "0001" in behind.stdout
    assert head in behind.stdout
    for args in (("users", "list"), ("settings", "show"), ("verify", "a.b.c"), ("serve",)):
        refused = run(*args)
        assert refused.exit_code == 1, (args, refused.output)
        assert "[store_outdated]" in refused.stderr
        assert "idmint migrate" in refused.stderr
    assert Idmint.schema_revisions(Settings()) == ("0001", head)  # nothing upgraded it

    upgraded = run("migrate")
    assert upgraded.exit_code == 0, upgraded.output
    assert f"from revision 0001 to {head}" in upgraded.stdout
    assert run("migrate", "--check").exit_code == 0
    assert run("users", "list").exit_code == 0


def test_serve_migrate_upgrades_then_serves(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    init()
    _downgrade(env, "0001")
    calls: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(args))
    for name in ("IDMINT_HOST", "IDMINT_PORT", "IDMINT_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    result = run("serve", "--migrate")
    assert result.exit_code == 0, result.output
    assert calls
    assert Idmint.schema_revisions(Settings()) == (Store.head_revision(),) * 2


# --- auth tokens and users --------------------------------------------------------------------


def test_auth_tokens_create_list_revoke(env: Path) -> None:
    workspace = init()
    created = run("auth-tokens", "create", "billing", "--json")
    assert created.exit_code == 0, created.output
    answer = json.loads(created.stdout)
    secret, record = answer["secret"], answer["authToken"]
    assert secret.startswith("sk_")
    assert record["name"] == "billing"
    assert record["prefix"] == secret[:7]

    listed = json.loads(run("auth-tokens", "list", "--json").stdout)["authTokens"]
    assert {token["name"] for token in listed} == {"default", "billing"}
    assert secret not in run("auth-tokens", "list").stdout
    assert secret not in json.dumps(listed)

    def mint() -> None:
        service = Idmint.open(Settings())
        try:
            service.tokens.mint(workspace["apiKey"], secret, "u1", organization_id="o1")
        finally:
            service.close()

    mint()
    revoked = run("auth-tokens", "revoke", record["id"], "--json")
    assert revoked.exit_code == 0, revoked.output
    assert json.loads(revoked.stdout)["revokedAt"] is not None
    with pytest.raises(AuthTokenRevokedError):
        mint()
    assert run("auth-tokens", "revoke", "at_nothing").exit_code == 1


def test_init_makes_a_mint_only_token_and_says_how_to_get_admin(env: Path) -> None:
    result = run("init")
    assert result.exit_code == 0, result.output
    assert "(scope: mint)" in result.stdout
    assert "auth-tokens create ops --scope admin" in result.stdout
    assert "IDMINT_ADMIN_TOKEN" in result.stdout
    listed = json.loads(run("auth-tokens", "list", "--json").stdout)["authTokens"]
    assert [(t["scopes"], t["overPrivileged"]) for t in listed] == [(["mint"], False)]


def test_auth_tokens_scopes_and_the_over_privileged_mark(env: Path) -> None:
    workspace = init()
    admin = json.loads(run("auth-tokens", "create", "ops", "--scope", "admin", "--json").stdout)
    both = run("auth-tokens", "create", "legacy", "--scope", "mint", "--scope", "admin")
    assert both.exit_code == 0, both.output
    assert "scope mint and admin" in both.stdout
    assert admin["authToken"]["scopes"] == ["admin"]
    assert run("auth-tokens", "create", "x", "--scope", "root").exit_code == 2

    table = CliRunner().invoke(app, ["auth-tokens", "list"], env={"COLUMNS": "200"}).stdout
    lines = {line.split()[3]: line for line in table.splitlines() if line.startswith("│ at_")}
    assert "over-privileged" in lines["legacy"]
    assert "over-privileged" not in lines["ops"]
    assert "over-privileged" not in lines["default"]

    # An admin-only token cannot mint.
    service = Idmint.open(Settings())
    try:
        with pytest.raises(AuthTokenScopeError):
            service.tokens.mint(workspace["apiKey"], admin["secret"], "u1", organization_id="o")
    finally:
        service.close()


def test_settings_set_mint_rate_limit(env: Path) -> None:
    init()
    result = run("settings", "set", "--mint-rate-limit", "100/second", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["mintRateLimit"] == "100/second"
    assert "100/second" in run("settings", "show").stdout
    bad = run("settings", "set", "--mint-rate-limit", "lots")
    assert bad.exit_code == 1
    assert "[invalid_argument]" in bad.stderr
    off = run("settings", "set", "--mint-rate-limit", "off", "--json")
    assert json.loads(off.stdout)["mintRateLimit"] is None


def test_auth_tokens_create_checks_the_expiry(env: Path) -> None:
    init()
    for bad in ("tomorrow", "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"):
        result = run("auth-tokens", "create", "x", "--expires-at", bad)
        assert result.exit_code == 1, (bad, result.output)
        assert "[invalid_argument]" in result.stderr
    made = run("auth-tokens", "create", "ci", "--expires-at", "2030-06-30T00:00:00Z", "--json")
    assert json.loads(made.stdout)["authToken"]["expiresAt"] == "2030-06-30T00:00:00Z"


def test_users_delete_asks_unless_yes(env: Path) -> None:
    init()
    assert run("users", "add", "u1").exit_code == 0
    assert run("users", "add", "u2").exit_code == 0
    kept = run("users", "delete", "u1", input="no\n")
    assert kept.exit_code == 1
    deleted = run("users", "delete", "u1", input="yes\n")
    assert deleted.exit_code == 0, deleted.output
    assert run("users", "delete", "u2", "--yes").exit_code == 0
    assert "No users." in run("users", "list").stdout
    gone = run("users", "delete", "u1", "--yes")
    assert gone.exit_code == 1
    assert "[user_not_found]" in gone.stderr


# --- against a running idmint ------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("IDMINT_") and key not in ("COLUMNS",)
    }
    env["IDMINT_DATA_DIR"] = str(tmp_path / "served")
    created = idmint_init(env)
    with idmint_serve(env, free_port(), tmp_path / "server.log") as base_url:
        yield base_url, created


def _remote(
    args: list[str], env: dict[str, str], input: str = ""
) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("IDMINT_") and key != "COLUMNS"
    }
    return subprocess.run(
        [IDMINT, *args],
        env={**clean, "NO_COLOR": "1", "IDMINT_DATA_DIR": "/nonexistent/idmint", **env},
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_token_and_verify_against_a_running_idmint(server: tuple[str, dict[str, Any]]) -> None:
    base_url, created = server
    credentials = {"IDMINT_API_KEY": created["apiKey"], "IDMINT_AUTH_TOKEN": created["authToken"]}
    by_id = _remote(
        ["token", "--url", base_url, "--user-id", "u1", "--organization", "o1", "ann@example.com"],
        credentials,
    )
    assert by_id.returncode == 0, by_id.stderr
    assert "Token type: bearer" in by_id.stdout

    # Nothing in the environment: the API key is asked, the auth token too (not echoed:
    # it never reaches stdout or stderr), then the email.
    asked = _remote(
        ["token", "--url", base_url, "--json"],
        {},
        input=f"{created['apiKey']}\n{created['authToken']}\nann@example.com\n",
    )
    assert asked.returncode == 0, asked.stderr
    assert created["authToken"] not in asked.stdout + asked.stderr
    assert "Auth token (not shown)" in asked.stderr
    token = json.loads(asked.stdout)["access_token"]

    verified = _remote(["verify", "--url", base_url, token, "--json"], credentials)
    assert verified.returncode == 0, verified.stderr
    claims = json.loads(verified.stdout)["claims"]
    assert (claims["sub"], claims["organizationId"], claims["email"]) == (
        "u1",
        "o1",
        "ann@example.com",
    )
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    refused = _remote(["verify", "--url", base_url, forged], credentials)
    assert refused.returncode == 1
    assert "token_signature_invalid" in refused.stdout

    wrong = _remote(
        ["token", "--url", base_url, "ann@example.com"],
        {**credentials, "IDMINT_AUTH_TOKEN": "sk_wrong"},
    )
    assert wrong.returncode == 1
    assert "[auth_token_not_found]" in wrong.stderr


def test_a_url_without_a_scheme_is_said_to_be_one(env: Path) -> None:
    result = run("verify", "--url", "idmint.example.com", "--api-key", "pk_x", "a.b.c")
    assert result.exit_code == 1
    assert "[invalid_argument]" in result.stderr
    assert "no scheme" in result.stderr


def test_tables_fit_the_terminal(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    init()
    long = "a-very-long-user-identifier-" * 3
    added = run("users", "add", long, "--email", f"{'x' * 40}@example.com", "--name", "N " * 30)
    assert added.exit_code == 0, added.output
    for width in (60, 100):
        monkeypatch.setenv("COLUMNS", str(width))
        for args in (("users", "list"), ("keys", "list"), ("auth-tokens", "list"), ("audit",)):
            result = run(*args)
            assert result.exit_code == 0, result.output
            widest = max(len(line) for line in result.stdout.splitlines())
            assert widest <= width, (args, width, result.stdout)
