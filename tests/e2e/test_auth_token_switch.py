"""Auth-token rotation under load, against a real ``idmint serve`` with the default credential
cache: concurrent clients mint with the old auth token, switch to a new one, the old one is
revoked, and no request that used a valid token fails while a revoked one stops at once."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from conftest import free_port, idmint_init, idmint_serve, postgres_schema

ADMIN_TOKEN = "adm-Q7v2LkP9xR4tW8zN3mB6cF1hJ5sD0gYe"  # 36 characters, not a placeholder
CLIENTS = 8  # K: client threads, half on each mint shape
PER_PHASE = 25  # N: requests each client makes in each phase before the next step
MAX_PER_CLIENT = 500  # bounds the run: at most CLIENTS * MAX_PER_CLIENT requests
TIME_LIMIT = 30.0  # seconds for the concurrent part, start to last join
PROBES = 6  # requests with the revoked token right after the revoke returned


@dataclass(frozen=True)
class RotationServer:
    base_url: str
    api_key: str
    auth_token: str
    log: Path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def rotation_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RotationServer]:
    """One worker, the admin token set, and the credential cache at its default (5 s)."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("idmint-rotation")
    env = {
        **os.environ,
        "IDMINT_DATA_DIR": str(data_dir),
        "IDMINT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "IDMINT_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    # The point of this test: revocation is immediate even where credentials are cached.
    for name in ("IDMINT_CREDENTIAL_CACHE_SECONDS", "IDMINT_WORKERS", "IDMINT_DATABASE_URL"):
        env.pop(name, None)
    log = data_dir / "serve.log"
    with ExitStack() as stack:
        if request.param == "postgresql":
            env["IDMINT_DATABASE_URL"] = stack.enter_context(postgres_schema("idmint_rotation"))
        created = idmint_init(env)
        base_url = stack.enter_context(idmint_serve(env, port, log))
        yield RotationServer(base_url, created["apiKey"], created["authToken"], log)


# --- the clients ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One mint request: who sent it, with which token, when, and how it ended."""

    client: str
    shape: str  # "body" (POST /v1/auth/token/get) or "outseta" (POST /api/v1/tokens)
    token: str  # "old" or "new"
    sent: float  # time.monotonic() before the request
    answered: float  # time.monotonic() after the answer (or the transport error)
    status: int | None  # None: no HTTP answer
    code: str | None  # the error envelope's code, or what went wrong

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.code is None


@dataclass
class Rotation:
    """What the clients share: the token to use next, and the log of every attempt."""

    current: tuple[str, str]  # (label, secret), replaced as one value by the main thread
    stop: threading.Event = field(default_factory=threading.Event)
    attempts: list[Attempt] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, attempt: Attempt) -> None:
        with self.lock:
            self.attempts.append(attempt)

    def snapshot(self) -> list[Attempt]:
        with self.lock:
            return list(self.attempts)


def _email(index: int) -> str:
    return f"rotation-{index}@example.com"


def _mint(
    http: httpx.Client, api_key: str, secret: str, shape: str, index: int
) -> tuple[int | None, str | None]:
    """Mint once with ``shape``; (status, None) on a well-formed success, else (status, code)."""
    try:
        if shape == "body":
            answer = http.post(
                "/v1/auth/token/get",
                json={
                    "data": {
                        "apiKey": api_key,
                        "authToken": secret,
                        "userId": f"rotation-user-{index}",
                        "userProperties": {
                            "organizationId": "org-rotation",
                            "email": _email(index),
                        },
                    }
                },
            )
        else:
            answer = http.post(
                "/api/v1/tokens",
                headers={"Authorization": f"Outseta {api_key}:{secret}"},
                json={"username": _email(index)},
            )
    except httpx.HTTPError as exc:
        return None, f"transport: {type(exc).__name__}: {exc}"
    try:
        body = answer.json()
    except ValueError:
        return answer.status_code, f"not JSON: {answer.text[:200]!r}"
    if answer.status_code != 200:
        return answer.status_code, str(body.get("error", {}).get("code", body))
    token = body["result"]["data"]["token"] if shape == "body" else body.get("access_token")
    if not isinstance(token, str) or token.count(".") != 2:
        return 200, f"no token in {body!r}"
    return 200, None


def _shape(index: int) -> str:
    return "body" if index % 2 == 0 else "outseta"


def _client(rotation: Rotation, server: RotationServer, index: int, deadline: float) -> None:
    shape = _shape(index)
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            for _ in range(MAX_PER_CLIENT):
                if rotation.stop.is_set() or time.monotonic() > deadline:
                    return
                label, secret = rotation.current
                sent = time.monotonic()
                status, code = _mint(http, server.api_key, secret, shape, index)
                rotation.record(
                    Attempt(f"c{index}", shape, label, sent, time.monotonic(), status, code)
                )
    except Exception as exc:  # a crashed client must fail the test, not vanish
        with rotation.lock:
            rotation.errors.append(f"c{index}: {type(exc).__name__}: {exc}")


def _wait_until(
    what: str, done: Callable[[list[Attempt]], bool], rotation: Rotation, deadline: float
) -> None:
    while not done(rotation.snapshot()):
        if rotation.errors:
            raise AssertionError(f"a client crashed while waiting for {what}: {rotation.errors}")
        if time.monotonic() > deadline:
            raise AssertionError(f"time limit reached while waiting for {what}")
        time.sleep(0.01)


def _each_client_has(
    count: int, keep: Callable[[Attempt], bool]
) -> Callable[[list[Attempt]], bool]:
    def done(attempts: list[Attempt]) -> bool:
        made = {f"c{i}": 0 for i in range(CLIENTS)}
        for attempt in attempts:
            if attempt.client in made and keep(attempt):
                made[attempt.client] += 1
        return min(made.values()) >= count

    return done


def _describe(attempts: list[Attempt]) -> str:
    return "; ".join(
        f"{a.client}/{a.shape}/{a.token} status={a.status} code={a.code}" for a in attempts[:10]
    )


# --- the test ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_auth_token_switch_under_concurrent_minting(rotation_server: RotationServer) -> None:
    server = rotation_server
    started = time.monotonic()
    deadline = started + TIME_LIMIT
    admin = httpx.Client(
        base_url=f"{server.base_url}/admin/v1/workspaces/{server.api_key}",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    main = httpx.Client(base_url=server.base_url, timeout=10)
    old_secret = server.auth_token
    rotation = Rotation(current=("old", old_secret))
    threads = [
        threading.Thread(
            target=_client, args=(rotation, server, i, deadline), name=f"rotation-c{i}"
        )
        for i in range(CLIENTS)
    ]
    probes: list[Attempt] = []
    try:
        # The old token's id, and one user per client (the Outseta shape needs existing users).
        listed = admin.get("/auth-tokens")
        assert listed.status_code == 200, listed.text
        (old_record,) = listed.json()["authTokens"]
        assert old_secret.startswith(old_record["prefix"])
        for index in range(CLIENTS):
            assert _mint(main, server.api_key, old_secret, "body", index) == (200, None)
        for thread in threads:
            thread.start()

        # Phase 1: every client mints with the old token.
        _wait_until(
            f"{PER_PHASE} old-token mints per client",
            _each_client_has(PER_PHASE, lambda a: a.token == "old"),
            rotation,
            deadline,
        )

        # Phase 2: a new token; every client switches to it.
        created = admin.post("/auth-tokens", json={"name": "rotation-new"})
        assert created.status_code == 201, created.text
        new_secret = created.json()["secret"]
        new_id = created.json()["authToken"]["id"]
        assert new_id != old_record["id"]
        rotation.current = ("new", new_secret)
        switched = time.monotonic()
        _wait_until(
            f"{PER_PHASE} new-token mints per client",
            _each_client_has(PER_PHASE, lambda a: a.token == "new"),
            rotation,
            deadline,
        )

        # The old token still mints right up to its revocation (and, with the default cache,
        # its checked credential is held in memory when the revoke arrives).
        for shape in ("body", "outseta"):
            sent = time.monotonic()
            status, code = _mint(main, server.api_key, old_secret, shape, 0)
            rotation.record(Attempt("main", shape, "old", sent, time.monotonic(), status, code))

        # Phase 3: revoke the old token while the clients mint with the new one.
        revoke_sent = time.monotonic()
        revoked = admin.delete(f"/auth-tokens/{old_record['id']}")
        revoke_returned = time.monotonic()
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["id"] == old_record["id"]
        assert revoked.json()["revokedAt"] is not None

        # At once, on both shapes: the revoked token fails with auth_token_revoked.
        for number in range(PROBES):
            shape = _shape(number)
            sent = time.monotonic()
            status, code = _mint(main, server.api_key, old_secret, shape, number)
            probes.append(Attempt("probe", shape, "old", sent, time.monotonic(), status, code))
        # (403 on the body route; 401 with a challenge where the credential is a header.)
        expected = {"body": 403, "outseta": 401}
        wrong = [
            a for a in probes if (a.status, a.code) != (expected[a.shape], "auth_token_revoked")
        ]
        assert not wrong, f"the revoked token still minted: {_describe(wrong)}"
        as_admin = main.get(
            f"/admin/v1/workspaces/{server.api_key}/auth-tokens",
            headers={"Authorization": f"Bearer {old_secret}"},
        )
        admin_code = as_admin.json().get("error", {}).get("code")
        assert (as_admin.status_code, admin_code) == (401, "auth_token_revoked"), as_admin.text

        # And the clients on the new token keep minting.
        _wait_until(
            f"{PER_PHASE} new-token mints per client sent after the revoke returned",
            _each_client_has(PER_PHASE, lambda a: a.token == "new" and a.sent > revoke_returned),
            rotation,
            deadline,
        )
    finally:
        rotation.stop.set()
        for thread in threads:
            if thread.ident is not None:
                thread.join(timeout=15)
        admin.close()
        main.close()
    elapsed = time.monotonic() - started

    assert not [t.name for t in threads if t.is_alive()], "client threads did not stop"
    assert not rotation.errors, rotation.errors
    attempts = rotation.snapshot()
    old = [a for a in attempts if a.token == "old"]
    new = [a for a in attempts if a.token == "new"]
    old_before_revoke = [a for a in old if a.answered < revoke_sent]
    old_across_revoke = [a for a in old if a.answered >= revoke_sent]
    new_before_revoke = [a for a in new if a.answered < revoke_sent]
    new_across_revoke = [a for a in new if a.answered >= revoke_sent and a.sent <= revoke_returned]
    new_after_revoke = [a for a in new if a.sent > revoke_returned]
    counts = {
        "old, answered before the switch": sum(a.answered < switched for a in old),
        "old, answered before the revoke": len(old_before_revoke),
        "old, answered after the revoke was sent": len(old_across_revoke),
        "new, answered before the revoke": len(new_before_revoke),
        "new, in flight during the revoke": len(new_across_revoke),
        "new, sent after the revoke returned": len(new_after_revoke),
        "probes with the revoked token": len(probes),
        "per shape": {
            shape: sum(a.shape == shape for a in attempts) for shape in ("body", "outseta")
        },
        "revoke call (ms)": round((revoke_returned - revoke_sent) * 1000, 1),
        "first probe answered after revoke returned (ms)": round(
            (probes[0].answered - revoke_returned) * 1000, 1
        ),
        "concurrent part (s)": round(elapsed, 2),
    }
    print(f"\nauth-token switch: {json.dumps(counts)}")

    failed_new = [a for a in new if not a.ok]
    assert not failed_new, f"{len(failed_new)} new-token mints failed: {_describe(failed_new)}"
    failed_old = [a for a in old_before_revoke if not a.ok]
    assert not failed_old, (
        f"{len(failed_old)} old-token mints answered before the revoke failed: "
        f"{_describe(failed_old)}"
    )
    # Every client had switched before the revoke: no client used the old token across it.
    assert not old_across_revoke, _describe(old_across_revoke)
    assert {a.shape for a in old_before_revoke} == {"body", "outseta"}
    assert {a.shape for a in new_after_revoke} == {"body", "outseta"}
    assert all(a.ok for a in new_after_revoke)
