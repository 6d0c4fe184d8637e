"""``RemoteVerifier`` and ``AsyncRemoteVerifier`` against the app's published JWKS: caching per
``max-age``, one refetch per unknown kid within the cooldown, the core's error classes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from idmint import SigningKey
from idmint.client import IdmintClient, RemoteVerifier
from idmint.client.verifier import DEFAULT_MAX_AGE, MAX_MAX_AGE, cache_lifetime
from idmint.jose.errors import (
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidKeyError,
    InvalidSignatureError,
    MalformedTokenError,
    TokenExpiredError,
    UnavailableError,
    UnknownKeyError,
    UnsecuredTokenError,
    WorkspaceNotFoundError,
)
from idmint.jose.tokens import VerifiedToken, mint

from .conftest import App, CountingTransport, make_app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    """The app with a JWKS max-age of 120 s (not the verifier's 300 s default), so that the
    tests show the header is what counts."""
    running = make_app(tmp_path, jwks_max_age_seconds=120)
    yield running
    running.close()


def _garbage_kid_token(app: App) -> str:
    """A well-formed token for the workspace, signed by a key it never published."""
    stranger = SigningKey.generate("ES256")
    return mint(stranger, "user-1", issuer=app.issuer, audience=app.api_key, clock=app.clock).token


# --- verification ------------------------------------------------------------------------------


def test_verifies_a_minted_token(app: App, client: IdmintClient) -> None:
    verifier, fetches = app.verifier()
    minted = client.generate_token(
        "user-1", organization_id="org-1", email="ann@example.com", is_admin=True
    )
    verified = verifier.verify(minted.token)
    assert isinstance(verified, VerifiedToken)
    claims = verified.claims
    assert (claims.user_id, claims.organization_id, claims.email, claims.is_admin) == (
        "user-1",
        "org-1",
        "ann@example.com",
        True,
    )
    assert claims.issuer == app.issuer
    assert claims.audience == app.api_key
    assert fetches.count() == 1
    assert verifier.keys is not None
    assert verified.key.kid in verifier.keys


def test_token_for_another_audience_raises_invalid_audience(app: App, client: IdmintClient) -> None:
    verifier, _ = app.verifier(audience="pk_someone_else")
    with pytest.raises(InvalidAudienceError) as caught:
        verifier.verify(client.generate_token("user-1", organization_id="org-1").token)
    assert caught.value.claim == "aud"


def test_token_from_another_issuer_raises_invalid_issuer(app: App, client: IdmintClient) -> None:
    # The same keys, but the verifier expects another issuer: iss must match exactly.
    for issuer in (app.issuer + "/", app.issuer.upper(), "https://evil.example/w/" + app.api_key):
        verifier = RemoteVerifier(
            issuer,
            app.api_key,
            clock=app.clock,
            http_client=app.http,
            jwks_uri=f"{app.issuer}/.well-known/jwks.json",
        )
        with pytest.raises(InvalidIssuerError):
            verifier.verify(client.generate_token("user-1", organization_id="org-1").token)


def test_expired_token_raises_token_expired_with_expired_at(app: App, client: IdmintClient) -> None:
    verifier, fetches = app.verifier()
    minted = client.generate_token("user-1", organization_id="org-1", expires_in=60)
    app.clock.advance(60 + 29)
    verifier.verify(minted.token)  # within the 30 s leeway
    app.clock.advance(1)
    with pytest.raises(TokenExpiredError) as caught:
        verifier.verify(minted.token)
    assert caught.value.expired_at == minted.expires_at
    assert fetches.count() == 1


def test_leeway_is_configurable(app: App, client: IdmintClient) -> None:
    verifier, _ = app.verifier(leeway=0)
    minted = client.generate_token("user-1", organization_id="org-1", expires_in=60)
    app.clock.advance(60)
    with pytest.raises(TokenExpiredError):
        verifier.verify(minted.token)
    with pytest.raises(ValueError, match="leeway"):
        app.verifier(leeway=301)


@pytest.mark.parametrize(
    ("tamper", "error"),
    [
        (lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"), InvalidSignatureError),
        (lambda t: "eyJhbGciOiJub25lIn0." + t.split(".")[1] + ".", UnsecuredTokenError),
        (lambda t: "not a token", MalformedTokenError),
    ],
    ids=["signature", "alg-none", "malformed"],
)
def test_bad_tokens_raise_the_core_classes(
    app: App, client: IdmintClient, tamper: Callable[[str], str], error: type[Exception]
) -> None:
    verifier, _ = app.verifier()
    with pytest.raises(error):
        verifier.verify(tamper(client.generate_token("user-1", organization_id="org-1").token))


# --- caching -----------------------------------------------------------------------------------


def test_jwks_is_cached_for_its_max_age_then_refetched_lazily(
    app: App, client: IdmintClient
) -> None:
    verifier, fetches = app.verifier()
    token = client.generate_token("user-1", organization_id="org-1").token
    verifier.verify(token)
    assert fetches.count() == 1
    app.clock.advance(119)
    for _ in range(5):
        verifier.verify(token)
    assert fetches.count() == 1
    app.clock.advance(1)  # max-age=120 is over
    assert fetches.count() == 1  # lazily: nothing happens until the next verification
    verifier.verify(token)
    verifier.verify(token)
    assert fetches.count() == 2
    app.clock.advance(120)
    verifier.verify(token)
    assert fetches.count() == 3


def test_rotation_now_triggers_exactly_one_refetch_then_verifies(
    app: App, client: IdmintClient
) -> None:
    verifier, fetches = app.verifier(min_refetch_interval=30)
    verifier.verify(client.generate_token("user-1", organization_id="org-1").token)
    app.clock.advance(31)  # past the cooldown, well within max-age
    rotated = client.rotate_key(now=True)
    token = client.generate_token("user-1", organization_id="org-1").token
    assert verifier.verify(token).key.kid == rotated.kid
    assert fetches.count() == 2
    assert verifier.verify(token).key.kid == rotated.kid
    assert fetches.count() == 2
    # A garbage kid within the cooldown of that refetch: no fetch, UnknownKeyError.
    garbage = _garbage_kid_token(app)
    for _ in range(3):
        with pytest.raises(UnknownKeyError) as caught:
            verifier.verify(garbage)
        assert caught.value.code == "token_unknown_kid"
    assert fetches.count() == 2
    # After the cooldown a garbage kid may refetch once more, and still fails.
    app.clock.advance(30)
    with pytest.raises(UnknownKeyError):
        verifier.verify(garbage)
    with pytest.raises(UnknownKeyError):
        verifier.verify(garbage)
    assert fetches.count() == 3


def test_unknown_kid_within_the_cooldown_of_the_first_fetch_does_not_refetch(
    app: App, client: IdmintClient
) -> None:
    verifier, fetches = app.verifier(min_refetch_interval=30)
    verifier.verify(client.generate_token("user-1", organization_id="org-1").token)
    client.rotate_key(now=True)
    token = client.generate_token("user-1", organization_id="org-1").token
    app.clock.advance(10)
    with pytest.raises(UnknownKeyError):
        verifier.verify(token)
    assert fetches.count() == 1
    app.clock.advance(20)
    verifier.verify(token)
    assert fetches.count() == 2


def test_refresh_fetches_now(app: App, client: IdmintClient) -> None:
    verifier, fetches = app.verifier()
    verifier.verify(client.generate_token("user-1", organization_id="org-1").token)
    rotated = client.rotate_key()  # published, not yet signing
    assert verifier.keys is not None
    assert rotated.kid not in verifier.keys
    assert rotated.kid in verifier.refresh()
    assert fetches.count() == 2


def test_unknown_workspace_raises_its_error_then_unavailable_within_the_cooldown(
    app: App,
) -> None:
    issuer = app.issuer.replace(app.api_key, "pk_nope")
    verifier, fetches = app.verifier(issuer=issuer)
    with pytest.raises(WorkspaceNotFoundError):
        verifier.verify("a.b.c")
    with pytest.raises(UnavailableError) as caught:
        verifier.verify("a.b.c")
    assert isinstance(caught.value.__cause__, WorkspaceNotFoundError)
    assert fetches.count() == 1
    app.clock.advance(30)
    with pytest.raises(WorkspaceNotFoundError):
        verifier.verify("a.b.c")
    assert fetches.count() == 2


class FlakyTransport(CountingTransport):
    """Counts, and refuses to connect while ``down`` is set."""

    down = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            self.requests.append(request)
            raise httpx.ConnectError("refused", request=request)
        return super().handle_request(request)


def test_stale_keys_keep_serving_while_the_issuer_is_down(
    app: App, client: IdmintClient, caplog: pytest.LogCaptureFixture
) -> None:
    transport = FlakyTransport(app.http)
    verifier = RemoteVerifier(app.issuer, app.api_key, clock=app.clock, transport=transport)
    token = client.generate_token("user-1", organization_id="org-1").token
    verifier.verify(token)
    transport.down = True
    app.clock.advance(120)
    verifier.verify(token)  # stale, the refresh fails, the old keys serve
    verifier.verify(token)  # within the cooldown: no new attempt
    assert transport.count() == 2
    assert "keeping the stale JWKS" in caplog.text
    app.clock.advance(30)
    verifier.verify(token)
    assert transport.count() == 3
    transport.down = False
    app.clock.advance(30)
    verifier.verify(token)
    assert transport.count() == 4
    verifier.verify(token)
    assert transport.count() == 4  # fresh again


def test_unreachable_issuer_raises_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    verifier = RemoteVerifier("http://idmint/w/pk", "pk", transport=httpx.MockTransport(refuse))
    with pytest.raises(UnavailableError) as caught:
        verifier.verify("a.b.c")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize(
    "document",
    [
        {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}]},
        {"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "kid": "bad"}]},
        {"nokeys": []},
        "not json",
    ],
    ids=["symmetric", "off-curve", "no-keys", "not-json"],
)
def test_jwks_is_imported_strictly(document: object) -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        if isinstance(document, str):
            return httpx.Response(200, text=document)
        return httpx.Response(200, json=document)

    verifier = RemoteVerifier("http://idmint/w/pk", "pk", transport=httpx.MockTransport(serve))
    with pytest.raises(InvalidKeyError):
        verifier.verify("a.b.c")


def test_concurrent_verifications_fetch_once(app: App, client: IdmintClient) -> None:
    token = client.generate_token("user-1", organization_id="org-1").token
    jwks = app.http.get(f"/w/{app.api_key}/.well-known/jwks.json").json()
    fetched: list[int] = []

    def slow(request: httpx.Request) -> httpx.Response:
        fetched.append(1)
        time.sleep(0.05)  # a slow issuer widens the window for a second fetch
        return httpx.Response(200, json=jwks, headers={"Cache-Control": "max-age=300"})

    verifier = RemoteVerifier(
        app.issuer, app.api_key, clock=app.clock, transport=httpx.MockTransport(slow)
    )
    barrier = threading.Barrier(8)
    results: list[object] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(verifier.verify(token).claims.subject)
        except Exception as exc:  # collected, asserted below
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["user-1"] * 8
    assert len(fetched) == 1


def test_passed_http_client_is_used_and_not_closed(app: App, client: IdmintClient) -> None:
    verifier = RemoteVerifier(app.issuer, app.api_key, clock=app.clock, http_client=app.http)
    verifier.verify(client.generate_token("user-1", organization_id="org-1").token)
    verifier.close()
    assert not app.http.is_closed
    with pytest.raises(ValueError, match="not both"):
        RemoteVerifier(
            "http://x/w/pk",
            "pk",
            http_client=app.http,
            transport=httpx.MockTransport(lambda r: httpx.Response(200)),
        )


def test_min_refetch_interval_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="min_refetch_interval"):
        RemoteVerifier("http://x/w/pk", "pk", min_refetch_interval=-1)


# --- Cache-Control -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "lifetime"),
    [
        ({"Cache-Control": "public, max-age=300"}, 300.0),
        ({"Cache-Control": "max-age=60", "Age": "20"}, 40.0),
        ({"Cache-Control": "max-age=60", "Age": "90"}, 0.0),
        ({"Cache-Control": 'max-age="45"'}, 45.0),
        ({"Cache-Control": "no-cache"}, 0.0),
        ({"Cache-Control": "public, no-store, max-age=300"}, 0.0),
        ({"Cache-Control": "max-age=abc"}, DEFAULT_MAX_AGE),
        ({"Cache-Control": "max-age=-5"}, DEFAULT_MAX_AGE),
        ({}, DEFAULT_MAX_AGE),
        ({"Cache-Control": "max-age=99999999"}, MAX_MAX_AGE),
    ],
)
def test_cache_lifetime(headers: dict[str, str], lifetime: float) -> None:
    assert cache_lifetime(httpx.Headers(headers)) == lifetime


def test_no_cache_answers_are_refetched_at_most_once_per_cooldown(app: App) -> None:
    jwks = app.http.get(f"/w/{app.api_key}/.well-known/jwks.json").json()
    fetched: list[int] = []

    def serve(request: httpx.Request) -> httpx.Response:
        fetched.append(1)
        return httpx.Response(200, json=jwks, headers={"Cache-Control": "no-cache"})

    token = app.client().generate_token("user-1", organization_id="org-1").token
    verifier = RemoteVerifier(
        app.issuer, app.api_key, clock=app.clock, transport=httpx.MockTransport(serve)
    )
    for _ in range(3):
        verifier.verify(token)
    assert len(fetched) == 1
    app.clock.advance(30)
    verifier.verify(token)
    assert len(fetched) == 2


# --- isolation ------------------------------------------------------------------------------


def test_verifier_imports_no_server_code() -> None:
    code = (
        "import sys, idmint.client.verifier, idmint.client\n"
        "server = ('idmint.api', 'idmint.service', 'idmint.store', 'idmint.settings',"
        " 'idmint.cli', 'fastapi', 'starlette', 'sqlalchemy', 'pydantic')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in server"
        " or '.'.join(m.split('.')[:2]) in server)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- async --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_verifier_caches_and_refetches_once_per_unknown_kid(
    app: App, client: IdmintClient
) -> None:
    verifier, fetches = app.async_verifier()
    async with verifier:
        minted = client.generate_token("user-1", organization_id="org-1", email="ann@example.com")
        assert (await verifier.verify(minted.token)).claims.email == "ann@example.com"
        await verifier.verify(minted.token)
        assert fetches.count() == 1
        app.clock.advance(31)
        rotated = client.rotate_key(now=True)
        token = client.generate_token("user-1", organization_id="org-1").token
        assert (await verifier.verify(token)).key.kid == rotated.kid
        assert fetches.count() == 2
        with pytest.raises(UnknownKeyError):
            await verifier.verify(_garbage_kid_token(app))
        assert fetches.count() == 2
        app.clock.advance(120)
        await verifier.verify(token)
        assert fetches.count() == 3
        assert rotated.kid in await verifier.refresh()
        assert fetches.count() == 4


@pytest.mark.anyio
async def test_async_verifier_raises_the_core_classes(app: App, client: IdmintClient) -> None:
    verifier, _ = app.async_verifier(audience="pk_other")
    token = client.generate_token("user-1", organization_id="org-1", expires_in=60).token
    with pytest.raises(InvalidAudienceError):
        await verifier.verify(token)
    verifier, _ = app.async_verifier()
    app.clock.advance(91)
    with pytest.raises(TokenExpiredError):
        await verifier.verify(token)
    missing, _ = app.async_verifier(issuer=app.issuer + "x")
    with pytest.raises(WorkspaceNotFoundError):
        await missing.verify(token)
    with pytest.raises(UnavailableError):
        await missing.verify(token)


@pytest.mark.anyio
async def test_async_concurrent_verifications_fetch_once(app: App, client: IdmintClient) -> None:
    import anyio

    verifier, fetches = app.async_verifier()
    token = client.generate_token("user-1", organization_id="org-1").token
    subjects: list[str] = []

    async def run() -> None:
        subjects.append((await verifier.verify(token)).claims.subject)

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(run)
    assert subjects == ["user-1"] * 10
    assert fetches.count() == 1
