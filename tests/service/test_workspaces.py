"""Workspaces: init, the master key, settings, auth tokens and the credential check."""

from __future__ import annotations

import hashlib
import stat
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr

from idmint import FrozenClock
from idmint.jose.errors import (
    ApiKeyNotFoundError,
    AuthTokenExpiredError,
    AuthTokenNotFoundError,
    AuthTokenRevokedError,
    AuthTokenWrongWorkspaceError,
    CredentialError,
    InsecureFileModeError,
    InvalidArgumentError,
    InvalidKeyError,
    KeyDecryptionError,
    MasterKeyMismatchError,
    MasterKeyMissingError,
    NotFoundError,
    StoreNotFoundError,
    UnavailableError,
    WorkspaceExistsError,
)
from idmint.jose.keys import KeyState, MasterKey, SigningKey
from idmint.service import Idmint, InitResult, load_master_key
from idmint.settings import Settings
from idmint.store import Store

from .conftest import POSTGRES_URL, PUBLIC_URL, require_postgres

# --- init -------------------------------------------------------------------------------------


def test_init_workspace_creates_workspace_key_and_first_token(
    idmint: Idmint, tenant: InitResult
) -> None:
    workspace = tenant.workspace
    assert workspace.api_key.startswith("pk_")
    assert tenant.issuer == f"{PUBLIC_URL}/w/{workspace.api_key}"
    assert (workspace.name, workspace.require_jwt, workspace.auto_create_users) == (
        "Acme",
        True,
        True,
    )
    assert workspace.token_ttl_seconds == 48 * 3600

    keys = idmint.store.signing_keys(workspace.id)
    assert [(k.alg, k.state) for k in keys] == [("ES256", "active")]

    secret = tenant.auth_token.secret
    assert secret.startswith("sk_")
    [record] = idmint.store.auth_tokens(workspace.id)
    assert record.id == tenant.auth_token.record.id
    assert record.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (record.secret_hash, record.prefix, record.name)
    assert idmint.workspaces.authenticate(workspace.api_key, secret)[0].id == workspace.id


def test_init_workspace_refuses_a_second_time(idmint: Idmint, tenant: InitResult) -> None:
    with pytest.raises(WorkspaceExistsError) as info:
        idmint.init_workspace("Again")
    assert info.value.code == "workspace_exists"
    assert [w.id for w in idmint.workspaces.all()] == [tenant.workspace.id]

    second = idmint.init_workspace("Second", allow_existing=True)
    assert {w.id for w in idmint.workspaces.all()} == {tenant.workspace.id, second.workspace.id}


def test_load_master_key_generates_a_0600_file_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    key = load_master_key(settings, create=True)
    path = tmp_path / "data" / "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text().strip() == key.to_text()

    again = load_master_key(settings, create=True)
    assert again.id == key.id
    assert load_master_key(settings).id == key.id
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_load_master_key_makes_none_unless_asked(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with pytest.raises(MasterKeyMissingError) as info:
        load_master_key(settings)
    assert info.value.path == str(tmp_path / "data" / "master.key")
    assert "IDMINT_MASTER_KEY" in info.value.message
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o602, 0o666])
def test_load_master_key_refuses_a_file_others_may_read_or_write(tmp_path: Path, mode: int) -> None:
    settings = Settings(data_dir=tmp_path)
    key = load_master_key(settings, create=True)
    path = tmp_path / "master.key"
    path.chmod(mode)
    with pytest.raises(InsecureFileModeError) as info:
        load_master_key(settings)
    assert (info.value.path, info.value.mode) == (str(path), mode)
    assert f"chmod 600 {path}" in info.value.message
    path.chmod(0o400)  # read-only for its owner is fine
    assert load_master_key(settings).id == key.id


def test_load_master_key_names_where_a_malformed_key_came_from(tmp_path: Path) -> None:
    (tmp_path / "master.key").write_text("not a key\n")
    (tmp_path / "master.key").chmod(0o600)
    with pytest.raises(InvalidKeyError, match=r"master\.key does not hold a master key"):
        load_master_key(Settings(data_dir=tmp_path))
    secret = SecretStr("c2VjcmV0LWJ1dC10b28tc2hvcnQ")
    with pytest.raises(InvalidKeyError) as info:
        load_master_key(Settings(data_dir=tmp_path, master_key=secret))
    assert info.value.message.startswith("IDMINT_MASTER_KEY is not a master key")
    assert secret.get_secret_value() not in info.value.message


def test_load_master_key_uses_the_configured_key(tmp_path: Path) -> None:
    configured = MasterKey.generate()
    settings = Settings(data_dir=tmp_path, master_key=SecretStr(configured.to_text()))
    assert load_master_key(settings).id == configured.id
    assert not (tmp_path / "master.key").exists()


def test_load_master_key_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = MasterKey.generate()
    monkeypatch.setenv("IDMINT_MASTER_KEY", configured.to_text())
    monkeypatch.setenv("IDMINT_DATA_DIR", str(tmp_path))
    assert load_master_key(Settings()).id == configured.id
    assert not (tmp_path / "master.key").exists()


def _open_key(idmint: Idmint, workspace_id: str, master: MasterKey) -> SigningKey:
    [row] = idmint.store.signing_keys(workspace_id)
    return SigningKey.decrypt(
        row.sealed_private_key, master, alg=row.alg, kid=row.kid, state=KeyState(row.state)
    )


def test_open_on_sqlite_generates_and_reuses_the_master_key(
    tmp_path: Path, clock: FrozenClock
) -> None:
    settings = Settings(data_dir=tmp_path, public_url=PUBLIC_URL)
    first = Idmint.open(settings, clock=clock, create=True)
    try:
        result = first.init_workspace()
        minted = first.tokens.mint(result.workspace.api_key, result.auth_token.secret, "user-1")
    finally:
        first.close()
    key_file = tmp_path / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (tmp_path / "idmint.db").exists()

    second = Idmint.open(settings, clock=clock)
    try:
        # The reopened service unseals the stored key: it verifies the old token and mints.
        verified = second.tokens.verify(result.workspace.api_key, minted.token)
        assert verified.claims.subject == "user-1"
        second.tokens.mint(result.workspace.api_key, result.auth_token.secret, "user-2")
        with pytest.raises(WorkspaceExistsError):
            second.init_workspace()
        master = MasterKey.from_text(key_file.read_text())
        assert _open_key(second, result.workspace.id, master).kid == minted.kid
    finally:
        second.close()


def test_open_uses_the_master_key_from_settings(tmp_path: Path, clock: FrozenClock) -> None:
    configured = MasterKey.generate()
    settings = Settings(
        data_dir=tmp_path, public_url=PUBLIC_URL, master_key=SecretStr(configured.to_text())
    )
    service = Idmint.open(settings, clock=clock, create=True)
    try:
        result = service.init_workspace()
        assert not (tmp_path / "master.key").exists()
        assert _open_key(service, result.workspace.id, configured).state is KeyState.ACTIVE
        with pytest.raises(KeyDecryptionError):
            _open_key(service, result.workspace.id, MasterKey.generate())
    finally:
        service.close()


@pytest.mark.postgres
def test_open_on_postgres_in_its_own_schema(
    tmp_path: Path, clock: FrozenClock, pg_schemas: list[str]
) -> None:
    require_postgres()
    schema = f"idmint_test_{uuid.uuid4().hex}"
    pg_schemas.append(schema)
    settings = Settings(data_dir=tmp_path, public_url=PUBLIC_URL, database_url=POSTGRES_URL)
    service = Idmint.open(settings, clock=clock, schema=schema, create=True)
    try:
        result = service.init_workspace()
        minted = service.tokens.mint(result.workspace.api_key, result.auth_token.secret, "u")
        assert service.tokens.verify(result.workspace.api_key, minted.token).claims.subject == "u"
        assert service.store.engine.dialect.name == "postgresql"
    finally:
        service.close()
    assert not (tmp_path / "idmint.db").exists()
    probe = Store.open(POSTGRES_URL, schema=schema)
    try:
        assert [w.id for w in probe.workspaces()] == [result.workspace.id]
    finally:
        probe.close()


def _init(settings: Settings, clock: FrozenClock) -> InitResult:
    """What `idmint init` does: a new store with one workspace."""
    service = Idmint.open(settings, clock=clock, create=True)
    try:
        return service.init_workspace()
    finally:
        service.close()


def test_open_without_create_refuses_a_missing_store_and_makes_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with pytest.raises(StoreNotFoundError) as info:
        Idmint.open(settings)
    assert info.value.location == str(tmp_path / "data" / "idmint.db")
    assert "run `idmint init` first" in info.value.message
    assert not (tmp_path / "data").exists()


def test_open_refuses_a_master_key_that_does_not_open_the_stored_keys(
    tmp_path: Path, clock: FrozenClock
) -> None:
    _init(Settings(data_dir=tmp_path), clock)
    sealer = MasterKey.from_text((tmp_path / "master.key").read_text()).id
    other = MasterKey.generate()
    settings = Settings(data_dir=tmp_path, master_key=SecretStr(other.to_text()))
    for create in (False, True):  # idmint init checks too
        with pytest.raises(MasterKeyMismatchError) as info:
            Idmint.open(settings, create=create)
        error = info.value
        assert (error.master_key_id, error.sealed_under) == (other.id, sealer)
        assert "IDMINT_MASTER_KEY" in error.message
        assert str(tmp_path / "master.key") in error.message
        assert other.to_text() not in error.message


def test_open_never_replaces_a_missing_key_file_of_a_store_with_sealed_keys(
    tmp_path: Path, clock: FrozenClock
) -> None:
    _init(Settings(data_dir=tmp_path), clock)
    (tmp_path / "master.key").unlink()
    for create in (False, True):
        with pytest.raises(MasterKeyMissingError, match="sealed under master key"):
            Idmint.open(Settings(data_dir=tmp_path), create=create)
        assert not (tmp_path / "master.key").exists()


def test_open_makes_a_key_for_a_store_without_sealed_keys_only_when_creating(
    tmp_path: Path,
) -> None:
    Idmint.open(Settings(data_dir=tmp_path), create=True).close()  # a store, no workspace
    (tmp_path / "master.key").unlink()
    with pytest.raises(MasterKeyMissingError, match="idmint init"):
        Idmint.open(Settings(data_dir=tmp_path))
    Idmint.open(Settings(data_dir=tmp_path), create=True).close()
    assert (tmp_path / "master.key").exists()


def test_open_reports_a_damaged_sealed_key(tmp_path: Path, clock: FrozenClock) -> None:
    result = _init(Settings(data_dir=tmp_path), clock)
    probe = Store.open(f"sqlite:///{tmp_path / 'idmint.db'}")
    try:
        [row] = probe.signing_keys(result.workspace.id)
        prefix, master_id, nonce, sealed = row.sealed_private_key.split(".")
        flipped = ("B" if sealed[0] == "A" else "A") + sealed[1:]
        probe.update_signing_key(
            result.workspace.id,
            row.kid,
            sealed_private_key=f"{prefix}.{master_id}.{nonce}.{flipped}",
        )
    finally:
        probe.close()
    with pytest.raises(KeyDecryptionError, match="damaged"):
        Idmint.open(Settings(data_dir=tmp_path))


def test_open_tightens_a_loose_data_dir_and_database_files(
    tmp_path: Path, clock: FrozenClock
) -> None:
    data = tmp_path / "data"
    _init(Settings(data_dir=data), clock)
    data.chmod(0o755)
    (data / "idmint.db").chmod(0o644)
    (data / "idmint.db-wal").touch(mode=0o666)
    (data / "idmint.db-wal").chmod(0o666)  # touch's mode is masked by the umask

    service = Idmint.open(Settings(data_dir=data))
    try:  # while it is open: SQLite removes the WAL files when the last connection closes
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        for name in ("idmint.db", "idmint.db-wal", "idmint.db-shm"):
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    finally:
        service.close()


# --- authenticate -----------------------------------------------------------------------------


def test_authenticate_unknown_api_key(idmint: Idmint, tenant: InitResult) -> None:
    with pytest.raises(ApiKeyNotFoundError) as info:
        idmint.workspaces.authenticate("pk_unknown", tenant.auth_token.secret)
    assert info.value.code == "api_key_not_found"


def test_authenticate_unknown_auth_token(idmint: Idmint, tenant: InitResult) -> None:
    with pytest.raises(AuthTokenNotFoundError) as info:
        idmint.workspaces.authenticate(tenant.workspace.api_key, "sk_not-a-real-token")
    assert info.value.code == "auth_token_not_found"
    assert info.value.message == "Auth token not found."
    assert str(info.value) == "Auth token not found."


def test_authenticate_token_of_another_workspace(
    idmint: Idmint, tenant: InitResult, other_tenant: InitResult
) -> None:
    with pytest.raises(AuthTokenWrongWorkspaceError) as info:
        idmint.workspaces.authenticate(tenant.workspace.api_key, other_tenant.auth_token.secret)
    assert info.value.code == "auth_token_wrong_workspace"
    # Each token still works with its own API key.
    idmint.workspaces.authenticate(other_tenant.workspace.api_key, other_tenant.auth_token.secret)


def test_authenticate_revoked_token(idmint: Idmint, tenant: InitResult) -> None:
    api_key, record = tenant.workspace.api_key, tenant.auth_token.record
    idmint.workspaces.revoke_auth_token(api_key, record.id, actor="admin")
    with pytest.raises(AuthTokenRevokedError) as info:
        idmint.workspaces.authenticate(api_key, tenant.auth_token.secret)
    assert info.value.code == "auth_token_revoked"


def test_authenticate_expired_token(idmint: Idmint, tenant: InitResult, clock: FrozenClock) -> None:
    api_key = tenant.workspace.api_key
    created = idmint.workspaces.create_auth_token(
        api_key, "short-lived", actor="admin", expires_at=clock.now() + 60
    )
    clock.advance(59)
    idmint.workspaces.authenticate(api_key, created.secret)  # cached from here on
    clock.advance(1)
    with pytest.raises(AuthTokenExpiredError) as info:
        idmint.workspaces.authenticate(api_key, created.secret)
    assert info.value.code == "auth_token_expired"


def test_authenticate_errors_are_distinct(
    idmint: Idmint, tenant: InitResult, other_tenant: InitResult, clock: FrozenClock
) -> None:
    api_key = tenant.workspace.api_key
    revoked = idmint.workspaces.create_auth_token(api_key, "revoked", actor="admin")
    idmint.workspaces.revoke_auth_token(api_key, revoked.record.id, actor="admin")
    expiring = idmint.workspaces.create_auth_token(
        api_key, "expiring", actor="admin", expires_at=clock.now() + 1
    )
    clock.advance(1)
    cases = [
        ("pk_unknown", tenant.auth_token.secret),
        (api_key, "sk_unknown"),
        (api_key, other_tenant.auth_token.secret),
        (api_key, revoked.secret),
        (api_key, expiring.secret),
    ]
    codes = []
    for key, secret in cases:
        with pytest.raises(CredentialError) as info:
            idmint.workspaces.authenticate(key, secret)
        codes.append(info.value.code)
    assert codes == [
        "api_key_not_found",
        "auth_token_not_found",
        "auth_token_wrong_workspace",
        "auth_token_revoked",
        "auth_token_expired",
    ]


def test_revoke_keeps_the_first_revocation_time(
    idmint: Idmint, tenant: InitResult, clock: FrozenClock
) -> None:
    api_key, token_id = tenant.workspace.api_key, tenant.auth_token.record.id
    first = idmint.workspaces.revoke_auth_token(api_key, token_id, actor="admin")
    clock.advance(10)
    again = idmint.workspaces.revoke_auth_token(api_key, token_id, actor="admin")
    assert first.revoked_at == again.revoked_at == clock.now() - 10


def test_revoke_unknown_or_foreign_token_is_not_found(
    idmint: Idmint, tenant: InitResult, other_tenant: InitResult
) -> None:
    with pytest.raises(NotFoundError):
        idmint.workspaces.revoke_auth_token(tenant.workspace.api_key, "at_unknown", actor="admin")
    with pytest.raises(NotFoundError):
        idmint.workspaces.revoke_auth_token(
            tenant.workspace.api_key, other_tenant.auth_token.record.id, actor="admin"
        )
    idmint.workspaces.authenticate(other_tenant.workspace.api_key, other_tenant.auth_token.secret)


def test_create_auth_token_rejects_a_past_expiry(
    idmint: Idmint, tenant: InitResult, clock: FrozenClock
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        idmint.workspaces.create_auth_token(
            tenant.workspace.api_key, "late", actor="admin", expires_at=clock.now()
        )
    assert info.value.field == "expiresAt"
    assert len(idmint.workspaces.auth_tokens(tenant.workspace.api_key)) == 1


def test_auth_tokens_are_many_and_named(idmint: Idmint, tenant: InitResult) -> None:
    api_key = tenant.workspace.api_key
    ci = idmint.workspaces.create_auth_token(api_key, "ci", actor="admin")
    assert ci.secret != tenant.auth_token.secret
    assert [t.name for t in idmint.workspaces.auth_tokens(api_key)] == ["default", "ci"]
    assert idmint.workspaces.authenticate(api_key, ci.secret)[1].id == ci.record.id


def test_last_used_time_is_written_with_the_audit_batch(
    idmint: Idmint, tenant: InitResult, clock: FrozenClock
) -> None:
    api_key = tenant.workspace.api_key
    clock.advance(5)
    # Not a write of its own on the hot path: queued for the next group commit.
    idmint.workspaces.authenticate(api_key, tenant.auth_token.secret)
    idmint.audit.flush()
    [record] = idmint.store.auth_tokens(tenant.workspace.id)
    assert record.last_used_at == clock.now()


# --- settings ---------------------------------------------------------------------------------


def test_update_settings_persists(idmint: Idmint, tenant: InitResult, clock: FrozenClock) -> None:
    api_key = tenant.workspace.api_key
    clock.advance(1)
    updated = idmint.workspaces.update_settings(
        api_key,
        actor="admin",
        require_jwt=False,
        token_ttl_seconds=3600,
        min_ttl_seconds=60,
        max_ttl_seconds=7200,
        auto_create_users=False,
        allowed_domains=["*.example.com"],
        name="Renamed",
    )
    assert updated.updated_at == clock.now()
    reread = idmint.store.workspace_by_api_key(api_key)
    assert reread is not None
    assert (
        reread.require_jwt,
        reread.token_ttl_seconds,
        reread.min_ttl_seconds,
        reread.max_ttl_seconds,
        reread.auto_create_users,
        reread.allowed_domains,
        reread.name,
    ) == (False, 3600, 60, 7200, False, ["*.example.com"], "Renamed")
    assert idmint.workspaces.get(api_key).require_jwt is False  # the cache saw the change


@pytest.mark.parametrize(
    "changes",
    [
        {"min_ttl_seconds": 0},
        {"min_ttl_seconds": 200_000},  # above the default 172800
        {"token_ttl_seconds": 700_000},  # above the maximum 604800
        {"token_ttl_seconds": 0},
        {"max_ttl_seconds": 100},  # below the default
        {"max_ttl_seconds": 31 * 24 * 3600},  # above 30 days
        {"min_ttl_seconds": 3600, "token_ttl_seconds": 60, "max_ttl_seconds": 7200},
    ],
    ids=lambda changes: ",".join(f"{k}={v}" for k, v in changes.items()),
)
def test_update_settings_validates_ttl_nesting(
    idmint: Idmint, tenant: InitResult, changes: dict[str, int]
) -> None:
    api_key = tenant.workspace.api_key
    with pytest.raises(InvalidArgumentError) as info:
        idmint.workspaces.update_settings(api_key, actor="admin", **changes)
    assert info.value.code == "invalid_argument"
    assert info.value.field == "tokenTtlSeconds"
    stored = idmint.store.workspace_by_api_key(api_key)
    assert stored is not None
    assert (stored.min_ttl_seconds, stored.token_ttl_seconds, stored.max_ttl_seconds) == (
        1,
        172_800,
        604_800,
    )


def test_update_settings_accepts_nesting_bounds(idmint: Idmint, tenant: InitResult) -> None:
    updated = idmint.workspaces.update_settings(
        tenant.workspace.api_key,
        actor="admin",
        min_ttl_seconds=30 * 24 * 3600,
        token_ttl_seconds=30 * 24 * 3600,
        max_ttl_seconds=30 * 24 * 3600,
    )
    assert updated.min_ttl_seconds == updated.max_ttl_seconds == 30 * 24 * 3600


def test_update_settings_rejects_unknown_settings(idmint: Idmint, tenant: InitResult) -> None:
    api_key = tenant.workspace.api_key
    with pytest.raises(InvalidArgumentError, match="created_at"):
        idmint.workspaces.update_settings(api_key, actor="admin", created_at=0.0)
    with pytest.raises(InvalidArgumentError, match="id"):
        idmint.workspaces.update_settings(api_key, actor="admin", id="ws_other")
    stored = idmint.store.workspace_by_api_key(api_key)
    assert stored is not None
    assert (stored.id, stored.created_at) == (tenant.workspace.id, tenant.workspace.created_at)


def test_update_settings_of_unknown_workspace(idmint: Idmint, tenant: InitResult) -> None:
    with pytest.raises(ApiKeyNotFoundError):
        idmint.workspaces.update_settings("pk_unknown", actor="admin", require_jwt=False)


def test_open_an_unreachable_database_is_unavailable(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url="postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2",
    )
    with pytest.raises(UnavailableError) as info:
        Idmint.open(settings)
    assert info.value.code == "unavailable"


def test_revocation_racing_a_cache_miss_does_not_resurrect_the_token(
    idmint: Idmint, tenant: InitResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that read the auth token from the store just before a revocation must not
    put the stale, unrevoked record into the cache after the revocation cleared it."""
    api_key, secret = tenant.workspace.api_key, tenant.auth_token.secret
    read = idmint.store.auth_token_by_hash

    def read_then_revoke(secret_hash: str) -> object:
        record = read(secret_hash)  # the request has its (unrevoked) copy ...
        idmint.workspaces.revoke_auth_token(api_key, tenant.auth_token.record.id, actor="t")
        return record  # ... and the revocation has cleared the cache meanwhile

    monkeypatch.setattr(idmint.store, "auth_token_by_hash", read_then_revoke)
    idmint.workspaces.authenticate(api_key, secret)  # in flight during the revocation
    monkeypatch.setattr(idmint.store, "auth_token_by_hash", read)
    with pytest.raises(AuthTokenRevokedError):
        idmint.workspaces.authenticate(api_key, secret)
