"""Regression tests for the identity-integrity findings (issue 10), one per finding, each
driving the real HTTP API (the app over a real store) with the attack as a literal.

Each of these failed on the code before the fix: identify copied the client's ``email`` and
``organizationId`` into the stored user, which minting by email then signed; emails were not
unique and were compared with Unicode case folding; and one request with a lone surrogate could
make the store drop every tenant's buffered writes.  The fault findings (kill -9, a stopped
store, SIGTERM) are in tests/e2e/test_faults.py, against real processes.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Api, Workspace, assert_envelope, assert_error

ANN = {"userId": "alice", "organizationId": "org-a", "email": "alice@example.com"}


def _by_email(api: Api, email: str, ws: Workspace | None = None) -> httpx.Response:
    ws = ws or api.workspace
    return api.client.post(
        "/api/v1/tokens",
        json={"username": email},
        headers={"Authorization": f"Outseta {ws.api_key}:{ws.secret}"},
    )


def _claims(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def _token_by_email(api: Api, email: str) -> str:
    response = _by_email(api, email)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


# --- identity laundering through identify -------------------------------------------------------


def test_identify_cannot_add_an_organization_that_mint_by_email_then_signs(api: Api) -> None:
    # A user with no organization (made by an admin) gets a token that names none.
    api.create_user("mallory", email="mallory@example.com")
    token = _token_by_email(api, "mallory@example.com")
    response = api.identify(
        {"userId": "mallory", "email": "mallory@example.com", "organizationId": "org-victim"},
        token,
    )
    assert response.status_code == 200, response.text
    assert response.json()["session"]["organizationId"] is None
    assert "organizationId" not in response.json()["session"]["user"]
    assert "organizationId" not in _claims(_by_email(api, "mallory@example.com"))
    assert api.user("mallory").json()["organizationId"] is None


def test_identify_cannot_give_a_user_an_email_that_mint_by_email_then_signs(api: Api) -> None:
    api.create_user("victim", email="victim@example.com")
    mallory = api.token(user_id="mallory", email=None)  # a token that carries no email
    for email in ("victim@example.com", "unclaimed@example.com"):
        response = api.identify(
            {"userId": "mallory", "organizationId": "org-1", "email": email}, mallory
        )
        assert response.status_code == 200, response.text
        assert "email" not in response.json()["session"]["user"]
    assert _claims(_by_email(api, "victim@example.com"))["sub"] == "victim"
    assert_error(_by_email(api, "unclaimed@example.com"), 404, "NOT_FOUND", "user_not_found")
    assert api.user("mallory").json()["email"] is None


def test_anonymous_identify_in_development_mode_cannot_claim_an_email(api: Api) -> None:
    alice = api.mint(user_id="alice", email="alice@example.com", is_admin=True)
    assert alice.status_code == 200, alice.text
    api.patch_workspace(requireJwt=False)
    response = api.identify({"userId": "alice", "email": "attacker@evil.com"})  # no token
    assert response.status_code == 200, response.text
    session = response.json()["session"]
    assert (session["verified"], session["isAdmin"], session["mode"]) == (
        False,
        False,
        "development",
    )
    assert_error(_by_email(api, "attacker@evil.com"), 404, "NOT_FOUND", "user_not_found")
    stored = api.user("alice").json()
    assert (stored["email"], stored["isAdmin"]) == ("alice@example.com", True)


def test_identify_never_changes_a_users_trusted_attributes(backend_api: Api) -> None:
    api = backend_api
    token = api.token(user_id="alice", email="alice@example.com", is_admin=False)
    before = api.user("alice").json()
    response = api.identify(
        {**ANN, "organizationId": "org-1", "isAdmin": True, "is_admin": True, "name": "A"}, token
    )
    assert response.status_code == 200, response.text
    after = api.user("alice").json()
    trusted = ("userId", "organizationId", "email", "isAdmin", "createdAt", "updatedAt")
    assert {k: after[k] for k in trusted} == {k: before[k] for k in trusted}
    assert after["profile"] == {"name": "A"}


# --- one email, one user --------------------------------------------------------------------------


def test_two_users_cannot_hold_one_email(backend_api: Api) -> None:
    api = backend_api
    assert api.mint(user_id="first", email="Shared@Example.com").status_code == 200
    with api.unchanged():
        second = api.mint(user_id="second", email="shared@EXAMPLE.com")
    assert_error(second, 409, "FAILED_PRECONDITION", "email_taken")
    assert _claims(_by_email(api, "shared@example.com"))["sub"] == "first"
    assert [u["userId"] for u in api.users()] == ["first"]


def test_concurrent_mints_of_one_email_for_different_users_give_it_to_one(api: Api) -> None:
    answers: list[int] = []

    def mint(user_id: str) -> None:
        answers.append(api.mint(user_id=user_id, email="race@example.com").status_code)

    threads = [threading.Thread(target=mint, args=(f"racer-{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200] + [409] * 7
    holders = [u for u in api.users() if u["email"] == "race@example.com"]
    assert len(holders) == 1


@pytest.mark.parametrize(
    ("minted", "claimed"),
    [
        ("strasse@x.com", "straße@x.com"),
        ("kate@x.com", "\u212aate@x.com"),  # KELVIN SIGN
        ("élodie@x.com", "Élodie@x.com"),
    ],
    ids=["sharp-s", "kelvin-sign", "non-ascii-case"],
)
def test_email_comparison_does_not_merge_distinct_mailboxes(
    api: Api, minted: str, claimed: str
) -> None:
    token = api.token(user_id="u1", email=minted)
    response = api.identify({"userId": "u1", "organizationId": "org-1", "email": claimed}, token)
    assert_error(response, 403, "PERMISSION_DENIED", "email_mismatch", field="email")
    assert_error(_by_email(api, claimed), 404, "NOT_FOUND", "user_not_found")
    assert api.mint(user_id="u2", email=claimed).status_code == 200  # another mailbox


# --- one bad request cannot cost anyone else's writes -----------------------------------------


def test_a_lone_surrogate_in_identify_costs_no_other_tenants_writes(
    backend_api: Api,
) -> None:
    api = backend_api
    other = api.new_workspace("other")
    victim_token = api.token(other, user_id="victim", email="victim@example.com")
    attacker_token = api.token(user_id="attacker", email="attacker@example.com")
    attack = (
        b'{"apiKey": "'
        + api.workspace.api_key.encode()
        + b'", "authToken": "'
        + attacker_token.encode()
        + b'", "user": {"userId": "attacker", "organizationId": "org-1", '
        b'"email": "attacker@example.com", "name": "\\ud800", "nick": "\\udfff"}}'
    )
    sessions: list[str] = []
    for n in range(20):
        refused = api.client.post(
            "/v1/identify", content=attack, headers={"Content-Type": "application/json"}
        )
        assert 400 <= refused.status_code < 500, refused.text
        assert_envelope(refused)
        answer = api.identify(
            {"userId": "victim", "organizationId": "org-1", "email": "victim@example.com"},
            victim_token,
            ws=other,
        )
        assert answer.status_code == 200, answer.text
        sessions.append(answer.json()["session"]["id"])
        if n == 10:  # a demotion in the middle must not be lost either
            demoted = api.mint(other, user_id="victim", email="victim@example.com", is_admin=False)
            assert demoted.status_code == 200
    for session_id in sessions:
        record = api.idmint.store.session_record(session_id)
        assert record is not None, session_id
    assert _claims(_by_email(api, "victim@example.com", other))["isAdmin"] is False


# --- arbitrary input, interleaved with valid requests --------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
_TEXT = st.text(alphabet=st.characters(codec=None, categories=None), max_size=20)


def _bodies(api_key: str, secret: str) -> st.SearchStrategy[tuple[str, Any]]:
    """Bodies for the three routes: arbitrary JSON, and the routes' own shapes with arbitrary
    text (surrogates and non-characters included) in every string."""
    mint = st.fixed_dictionaries(
        {
            "data": st.fixed_dictionaries(
                {
                    "apiKey": st.just(api_key) | _TEXT,
                    "authToken": st.just(secret) | _TEXT,
                    "userId": _TEXT,
                    "userProperties": st.fixed_dictionaries(
                        {"organizationId": _TEXT},
                        optional={"email": _TEXT | st.just("a@b.co"), "isAdmin": st.booleans()},
                    ),
                }
            )
        }
    )
    identify = st.fixed_dictionaries(
        {
            "apiKey": st.just(api_key) | _TEXT,
            "user": st.dictionaries(_TEXT, _TEXT | _JSON, max_size=4).map(
                lambda user: {"userId": "u", **user}
            ),
        },
        optional={"authToken": _TEXT},
    )
    return st.one_of(
        st.tuples(st.just("/v1/auth/token/get"), mint | _JSON),
        st.tuples(st.just("/api/v1/tokens"), st.fixed_dictionaries({"username": _TEXT}) | _JSON),
        st.tuples(st.just("/v1/identify"), identify | _JSON),
    )


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from .conftest import AppFactory

    factory = AppFactory(tmp_path_factory)
    api = factory()
    other = api.new_workspace("bystander")
    yield api, other
    factory.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_arbitrary_bodies_get_4xx_envelopes_and_cost_no_valid_request(
    fuzzed: Any, data: st.DataObject
) -> None:
    api, other = fuzzed
    route, body = data.draw(_bodies(api.workspace.api_key, api.workspace.secret))
    raw = _dumps(body)
    response = api.client.post(route, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code < 500, (route, raw, response.text)
    if response.status_code >= 400:
        assert_envelope(response)
    # A valid request from another workspace, right after: answered, and stored.
    n = data.draw(st.integers(0, 10**9))
    minted = api.mint(other, user_id=f"bystander-{n}", email=None, is_admin=n % 2 == 0)
    assert minted.status_code == 200, minted.text
    token = minted.json()["result"]["data"]["token"]
    identified = api.identify({"userId": f"bystander-{n}", "organizationId": "org-1"}, token, other)
    assert identified.status_code == 200, identified.text
    user = api.user(f"bystander-{n}", other)
    assert user.status_code == 200, user.text
    assert user.json()["isAdmin"] is (n % 2 == 0)
    assert api.idmint.store.session_record(identified.json()["session"]["id"]) is not None


def _dumps(value: Any) -> bytes:
    """JSON as a client may send it: Python's encoder writes lone surrogates as escapes."""
    import json

    return json.dumps(value).encode()
