"""Regression tests for the edge-case findings of issue 10 (identity integrity): one per finding.

Beside :mod:`test_advisory` and in its manner.  Each test is named after its finding and carries
the attack as a literal: the ``Origin`` header a client sent, or a token made once by a
throw-away script that signed with test_advisory's fixed ES256 key, verified under
``FrozenClock(NOW)`` so that it stays exactly as valid as it was when made.  Where a finding is
about the API, the test drives the real HTTP API of an app built in process (as
``tests/api/conftest.py`` builds it) and asserts the error envelope, not merely the status.

- Origins: a malformed ``Origin`` (port out of range, unclosed IPv6 bracket, no scheme) made
  identify answer 500 with a traceback; it must be ``origin_not_allowed`` (403).  A bare-host
  allowed domain also let plain ``http://`` pages identify; it must mean https only.
- Lifetime: a validly signed token whose ``exp - iat`` exceeds the longest lifetime idmint can
  issue (30 days) plus the leeway was accepted; it must be ``token_claim_invalid`` (``exp``).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from idmint import ClaimError, FrozenClock, JWKSet, MissingClaimError, TokenError, TokenVerifier
from idmint.api import create_app
from idmint.client import RemoteVerifier
from idmint.jose.jwk import import_jwk
from idmint.jose.jws import sign_compact
from idmint.jose.tokens import ABSOLUTE_MAX_LIFETIME, verify
from idmint.service import Idmint
from idmint.settings import Settings
from test_advisory import AUDIENCE, ES256_JWK, FIXED_JWKS, ISSUER, LEEWAY, NOW

ADMIN_TOKEN = "adm-Q7v2LkP9xR4tW8zN3mB6cF1hJ5sD0gYe"  # 36 characters, not a placeholder
DAY = 86400
LONGEST = int(ABSOLUTE_MAX_LIFETIME.total_seconds()) + LEEWAY  # the longest exp - iat accepted

# Claims {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": NOW, "nbf": NOW,
# "exp": NOW + 31 days, "jti": "advisory", "isAdmin": false}, signed with FIXED_ES256_PEM.
LIVES_31_DAYS = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMjY3ODQwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.NwHSSMLduypyOLIXnK0iVL1g6fvUL6Nb_4F4by38J5Z-A504v99MTfwn-SYKkhatQiF1IdayHtV1gOhyfNOURA"
# The same with exp = NOW + 30 days + 30 s (exactly the longest) and one second more.
LIVES_THE_LONGEST = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMjU5MjAzMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.ROjC-RPWFRsxNUde1SnRrKoyF_BrYaVtjSHbWr5oMuwUcVTYoeguGS41Tr8Pu275U0bw_7kIe2IcjXzRUWwFlw"
LIVES_ONE_SECOND_LONGER = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMjU5MjAzMSwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.5gibvMJDwVJ-MOCT9_tL5kQyqgXfZmC5Fw6E_u-GppCFP_DUHHQtLPcYPqb6ywo20IsplpLHGVrz0Dw1Y62m9Q"
# Claims as the baseline's but without "iat" (nbf = NOW, exp = NOW + 3600): no start to bound.
WITHOUT_IAT = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwibmJmIjoxODAwMDAwMDAwLCJleHAiOjE4MDAwMDM2MDAsImp0aSI6ImFkdmlzb3J5IiwiaXNBZG1pbiI6ZmFsc2V9.tjVY3sVz-h9ySSn4d26KBi70-0WKAgbvGREnwrUFWCa9YmW9Idc36SzJlrAFm3YlHQlLshM-MUpXRsoupEy2fw"


def _claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    value: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return value


def _signed_by_fixed_es256_key(token: str) -> bool:
    header, payload, signature = token.split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    return import_jwk(ES256_JWK).verify(f"{header}.{payload}".encode("ascii"), raw)


@pytest.fixture(scope="module")
def verifier() -> TokenVerifier:
    return TokenVerifier(
        JWKSet.from_dict(FIXED_JWKS),
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=FrozenClock(NOW),
        leeway=LEEWAY,
    )


# --- the app over HTTP ------------------------------------------------------------------------


@dataclass(frozen=True)
class App:
    """A running app with its service, frozen clock and first workspace."""

    client: TestClient
    idmint: Idmint
    clock: FrozenClock
    api_key: str
    secret: str
    issuer: str

    def token(self) -> str:
        """A user token minted through ``POST /v1/auth/token/get``."""
        data = {
            "userId": "user-1",
            "apiKey": self.api_key,
            "authToken": self.secret,
            "userProperties": {"organizationId": "org-1"},
        }
        response = self.client.post("/v1/auth/token/get", json={"data": data})
        assert response.status_code == 200, response.text
        token: str = response.json()["result"]["data"]["token"]
        return token

    def sign(self, **claims: Any) -> str:
        """A token with these claims over the usual ones (``None`` leaves one out), signed
        with the workspace's own active key, as a leaked key or a buggy minter would sign it."""
        now = int(self.clock.now())
        usual = {
            "iss": self.issuer,
            "aud": self.api_key,
            "sub": "user-1",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "jti": "advisory-edge",
            "organizationId": "org-1",
            "isAdmin": False,
        }
        body = {name: value for name, value in {**usual, **claims}.items() if value is not None}
        workspace = self.idmint.workspaces.get(self.api_key)
        key = self.idmint.keys.for_workspace(workspace).ring.active
        return sign_compact(key, orjson.dumps(body))

    def allow(self, *domains: str) -> None:
        """Set the allowed domains through ``PATCH /admin/v1/workspaces/{apiKey}``."""
        response = self.client.patch(
            f"/admin/v1/workspaces/{self.api_key}",
            json={"allowedDomains": list(domains)},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert response.status_code == 200, response.text

    def identify(self, token: str, origin: str | None = None) -> httpx.Response:
        user = {"userId": "user-1", "organizationId": "org-1"}
        body = {"apiKey": self.api_key, "user": user, "authToken": token}
        headers = {} if origin is None else {"Origin": origin}
        return self.client.post("/v1/identify", json=body, headers=headers)


def _refused(response: httpx.Response, http_status: int, code: str) -> dict[str, Any]:
    """The answer is idmint's error envelope with this status and code."""
    assert response.status_code == http_status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"], body
    error: dict[str, Any] = body["error"]
    return error


@pytest.fixture
def app(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    for name in list(os.environ):  # the machine's IDMINT_* must not leak in
        if name.startswith("IDMINT_"):
            monkeypatch.delenv(name)
    settings = Settings(data_dir=tmp_path, admin_token=ADMIN_TOKEN)
    clock = FrozenClock(float(int(time.time())))
    service = Idmint.open(settings, clock=clock, schema=None, create=True)
    try:
        init = service.init_workspace()
        # Server errors answer 500 with the envelope, as under uvicorn, so the test sees them.
        client = TestClient(create_app(settings, service=service), raise_server_exceptions=False)
        with client:
            yield App(
                client,
                service,
                clock,
                init.workspace.api_key,
                init.auth_token.secret,
                init.issuer,
            )
    finally:
        service.close()


# --- origins ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param("https://app.example.com:99999", id="port-out-of-range"),
        pytest.param("https://[::1", id="unclosed-ipv6-bracket"),
        pytest.param("https://app.example.com:abc", id="non-numeric-port"),
        pytest.param(":abc", id="no-scheme"),
    ],
)
def test_malformed_origin_is_origin_not_allowed_not_a_500(app: App, origin: str) -> None:
    app.allow("app.example.com")
    token = app.token()
    assert app.identify(token, "https://app.example.com").status_code == 200  # the control

    _refused(app.identify(token, origin), 403, "origin_not_allowed")
    session = app.identify(token).json()["session"]  # no Origin: a server, not checked
    sign_out = {"apiKey": app.api_key, "sessionId": session["id"]}
    refused = app.client.post("/v1/sign-out", json=sign_out, headers={"Origin": origin})
    _refused(refused, 403, "origin_not_allowed")


def test_bare_host_allowed_domain_refuses_plain_http_origin(app: App) -> None:
    app.allow("app.example.com", "*.example.com")
    token = app.token()
    assert app.identify(token, "https://app.example.com").status_code == 200
    assert app.identify(token, "https://a.example.com").status_code == 200

    _refused(app.identify(token, "http://app.example.com"), 403, "origin_not_allowed")
    _refused(app.identify(token, "http://a.example.com"), 403, "origin_not_allowed")


def test_plain_http_origin_is_allowed_where_the_pattern_says_so_or_on_loopback(app: App) -> None:
    app.allow("http://intranet.example.com", "localhost:5173", "127.0.0.1")
    token = app.token()
    assert app.identify(token, "http://intranet.example.com").status_code == 200
    assert app.identify(token, "http://localhost:5173").status_code == 200
    assert app.identify(token, "http://127.0.0.1:8000").status_code == 200
    _refused(app.identify(token, "https://intranet.example.com"), 403, "origin_not_allowed")


# --- lifetime -----------------------------------------------------------------------------------


def test_literal_tokens_are_signed_by_the_fixed_key_with_the_stated_claims() -> None:
    # So the rejections below are for the lifetime alone: signature and every other claim hold.
    baseline = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": NOW,
        "nbf": NOW,
        "jti": "advisory",
        "isAdmin": False,
    }
    for token, exp in [
        (LIVES_31_DAYS, NOW + 31 * DAY),
        (LIVES_THE_LONGEST, NOW + LONGEST),
        (LIVES_ONE_SECOND_LONGER, NOW + LONGEST + 1),
    ]:
        assert _signed_by_fixed_es256_key(token)
        assert _claims_of(token) == {**baseline, "exp": exp}
    assert _signed_by_fixed_es256_key(WITHOUT_IAT)
    without_iat = {k: v for k, v in baseline.items() if k != "iat"}
    assert _claims_of(WITHOUT_IAT) == {**without_iat, "exp": NOW + 3600}


def test_accepts_token_living_exactly_thirty_days_plus_the_leeway(verifier: TokenVerifier) -> None:
    assert verifier.verify(LIVES_THE_LONGEST).claims.expires_at == NOW + LONGEST


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(LIVES_31_DAYS, id="31-days"),
        pytest.param(LIVES_ONE_SECOND_LONGER, id="30-days-leeway-and-1-s"),
    ],
)
def test_rejects_token_living_longer_than_idmint_can_issue(
    verifier: TokenVerifier, token: str
) -> None:
    one_shot = functools.partial(
        verify,
        keys=JWKSet.from_dict(FIXED_JWKS),
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=FrozenClock(NOW),
        leeway=LEEWAY,
    )
    for check in (verifier.verify, one_shot):  # the verifier class, and the module's verify()
        with pytest.raises(TokenError) as info:
            check(token)
        assert type(info.value) is ClaimError, f"{type(info.value).__name__}: {info.value}"
        assert (info.value.code, info.value.claim) == ("token_claim_invalid", "exp")


def test_rejects_token_without_iat(verifier: TokenVerifier) -> None:
    with pytest.raises(TokenError) as info:
        verifier.verify(WITHOUT_IAT)
    assert type(info.value) is MissingClaimError
    assert (info.value.code, info.value.claim) == ("token_claim_missing", "iat")


def test_identify_refuses_token_living_longer_than_idmint_can_issue(app: App) -> None:
    now = int(app.clock.now())
    assert app.identify(app.sign()).status_code == 200  # the control: the same, an hour long
    assert app.identify(app.sign(exp=now + LONGEST)).status_code == 200

    _refused(app.identify(app.sign(exp=now + 31 * DAY)), 401, "token_claim_invalid")
    _refused(app.identify(app.sign(exp=now + LONGEST + 1)), 401, "token_claim_invalid")
    _refused(app.identify(app.sign(iat=None)), 401, "token_claim_missing")


def test_remote_verifier_refuses_token_living_longer_than_idmint_can_issue(app: App) -> None:
    # The Python client's verifier, fetching the workspace's JWKS from the app over HTTP.
    remote = RemoteVerifier(app.issuer, app.api_key, http_client=app.client, clock=app.clock)
    assert remote.verify(app.sign()).claims.subject == "user-1"
    with pytest.raises(ClaimError) as info:
        remote.verify(app.sign(exp=int(app.clock.now()) + 31 * DAY))
    assert (info.value.code, info.value.claim) == ("token_claim_invalid", "exp")
