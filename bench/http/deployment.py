"""What the servers serve: idmint stores (SQLite, PostgreSQL) prepared and seeded, the
service's calls timed in-process, and the baselines' shared configuration.

idmint runs as shipped, on SQLite (a temporary directory) and on PostgreSQL (a schema of its
own in ``test``, dropped at the end), each with one workspace, ``users`` users minted once
in-process (their tokens feed identify) and ten revocations of other users (so identify's
denylist check is not empty); the scale runs bulk-insert users up to ``scale_users``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.http.load import Target
from bench.http.settings import Settings

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PUBLIC_URL = "http://127.0.0.1:8000"  # the issuer's base; the servers listen elsewhere


# --- stores -------------------------------------------------------------------------------


@dataclass
class Deployment:
    """One idmint store (SQLite or PostgreSQL), seeded, with what the scripts need."""

    backend: str
    env: dict[str, str]
    target: Target
    jwks: dict[str, Any]
    issuer: str
    schema: str | None = None
    in_process: dict[str, Any] = field(default_factory=dict)


def _service_settings(env: dict[str, str]) -> Any:
    from idmint.settings import Settings as IdmintSettings

    return IdmintSettings(
        data_dir=Path(env["IDMINT_DATA_DIR"]),
        public_url=env["IDMINT_PUBLIC_URL"],
        database_url=env.get("IDMINT_DATABASE_URL"),
    )


def prepare(
    backend: str, workdir: Path, settings: Settings, pin: tuple[int, ...] | None
) -> Deployment:
    """A fresh store with a workspace, ``settings.users`` users (minted once each, so their
    tokens feed identify), a few revocations of other users, and in-process timings.

    The servers get no ``IDMINT_*`` setting from the shell: idmint runs with its defaults
    (the throttle on, 20 failures per address and 300 per API key in 5 minutes, in memory)."""
    from idmint.service import Idmint

    data_dir = workdir / f"idmint-{backend}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IDMINT_")},
        "IDMINT_DATA_DIR": str(data_dir),
        "IDMINT_PUBLIC_URL": PUBLIC_URL,
    }
    schema = None
    if backend == "postgresql":
        import psycopg

        schema = f"idmint_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        env["IDMINT_DATABASE_URL"] = f"{PG_URL}?options=-csearch_path%3D{schema}"
    service = Idmint.open(_service_settings(env), create=True)
    try:
        created = service.init_workspace("bench")
        workspace, secret = created.workspace, created.auth_token.secret
        tokens_file = workdir / f"tokens-{backend}.tsv"
        lines = []
        for i in range(settings.users):
            user_id, org, email = f"user-{i}", f"org-{i % 10}", f"user-{i}@example.com"
            minted = service.tokens.issue(
                workspace, user_id, actor="bench", organization_id=org, email=email
            )
            lines.append(f"{user_id}\t{org}\t{email}\t{minted.token}")
        tokens_file.write_text("\n".join(lines) + "\n")
        # A non-empty denylist, so identify's revocation check has entries to look through.
        for i in range(10):
            service.revocations.add(workspace, "user", f"gone-{i}", actor="bench")
        keys = service.keys.for_workspace(workspace)
        deployment = Deployment(
            backend=backend,
            env=env,
            target=Target(workspace.api_key, secret, tokens_file, settings.users),
            jwks=keys.ring.jwks(),
            issuer=created.issuer,
            schema=schema,
        )
        deployment.in_process = in_process(service, deployment, settings, pin)
    finally:
        service.close()
    return deployment


def add_users(deployment: Deployment, total: int) -> float:
    """Bulk-insert users until the store holds ``total`` (user-N, as the scripts name them)."""
    from sqlalchemy import insert

    from idmint.service import Idmint
    from idmint.store import User, email_key

    started = time.perf_counter()
    service = Idmint.open(_service_settings(deployment.env))
    try:
        workspace = service.workspaces.get(deployment.target.api_key)
        now = time.time()
        batch: list[dict[str, Any]] = []
        with service.store.engine.begin() as conn:
            for i in range(deployment.target.users, total):
                email = f"user-{i}@example.com"
                batch.append(
                    {
                        "workspace_id": workspace.id,
                        "user_id": f"user-{i}",
                        "organization_id": f"org-{i % 10}",
                        "email": email,
                        "email_key": email_key(email),
                        "is_admin": False,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                if len(batch) == 5000:
                    conn.execute(insert(User), batch)
                    batch = []
            if batch:
                conn.execute(insert(User), batch)
    finally:
        service.close()
    return time.perf_counter() - started


def drop(deployment: Deployment) -> None:
    if deployment.schema is None:
        return
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{deployment.schema}" CASCADE')


def postgres_reachable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means: skip PostgreSQL, and say why
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
    return None


# --- in-process ---------------------------------------------------------------------------


def _rate(call: Callable[[int], Any], seconds: float) -> float:
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(16):
            call(count)
            count += 1
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)


def in_process(
    service: Any, deployment: Deployment, settings: Settings, pin: tuple[int, ...] | None
) -> dict[str, Any]:
    """The service's calls without HTTP, in this process (pinned like a server): what a
    worker could do at most if HTTP and the framework cost nothing."""
    target = deployment.target
    workspace = service.workspaces.get(target.api_key)
    keys = service.keys.for_workspace(workspace)
    rows = [line.split("\t") for line in target.tokens_file.read_text().splitlines()]
    n = len(rows)

    def mint(i: int) -> Any:
        row = rows[i % n]
        return service.tokens.mint(
            target.api_key, target.auth_token, row[0], organization_id=row[1], email=row[2]
        )

    def mint_for_email(i: int) -> Any:
        return service.tokens.mint_for_email(target.api_key, target.auth_token, rows[i % n][2])

    def verify(i: int) -> Any:
        return service.tokens.verify(target.api_key, rows[i % n][3])

    def identify(i: int) -> Any:
        row = rows[i % n]
        user = {"userId": row[0], "organizationId": row[1], "email": row[2], "name": "Bench"}
        return service.tokens.identify(target.api_key, user, row[3])

    def minter(i: int) -> Any:
        row = rows[i % n]
        return keys.minter.mint(row[0], organization_id=row[1], email=row[2], is_admin=False)

    def verifier(i: int) -> Any:
        return keys.verifier.verify(rows[i % n][3])

    cases = {
        "service mint (seed shape)": mint,
        "service mint_for_email": mint_for_email,
        "service identify": identify,
        "service verify": verify,
        "TokenMinter.mint": minter,
        "TokenVerifier.verify": verifier,
    }
    previous = os.sched_getaffinity(0)
    if pin is not None:
        os.sched_setaffinity(0, set(pin))
    try:
        for call in cases.values():  # warm the caches and the store's connections
            for i in range(20):
                call(i)
        return {
            name: round(_rate(call, settings.in_process_seconds), 1) for name, call in cases.items()
        }
    finally:
        os.sched_setaffinity(0, previous)


# --- the baselines ------------------------------------------------------------------------


def baseline_config(workdir: Path, sqlite: Deployment, settings: Settings) -> Path:
    """The baselines' shared configuration: the SQLite deployment's API key, auth token hash,
    issuer, users and public key (so the same scripts and tokens work), and a fresh ES256 key
    for the mint baselines."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    target = sqlite.target
    users = {
        f"user-{i}@example.com": [f"user-{i}", f"org-{i % 10}", f"user-{i}@example.com", False]
        for i in range(settings.users)
    }
    config = {
        "api_key": target.api_key,
        "auth_token_sha256": hashlib.sha256(target.auth_token.encode()).hexdigest(),
        "issuer": sqlite.issuer,
        "audience": target.api_key,
        "lifetime": 172_800,
        "kid": "bench-baseline",
        "private_key_pem": pem,
        "users_by_email": users,
        "verify": {
            "api_key": target.api_key,
            "issuer": sqlite.issuer,
            "jwk": sqlite.jwks["keys"][0],
        },
    }
    path = workdir / "baseline-config.json"
    path.write_text(json.dumps(config))
    return path
