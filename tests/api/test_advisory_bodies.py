"""Regression tests for the request-body finding of issue 10: one named test per attack body.

The finding: a lone surrogate (``"\\ud800"``) in an identify profile member passed
validation (the front fell back to ``json.loads``, which takes the escape), the request got
a plain-text 500, and the write batch of that interval, from every workspace, was lost when
the store could not encode the string.  Every attack below is a byte literal, sent as it is
through the real HTTP API (the app in process, over a real store, on both backends).  Each
must be a 400 in the envelope that names the field, store nothing, and leave alone a valid
identify of another workspace that waits in the same write batch: write-behind is on, with
no background flush, so the batch is written only when the test reads the store.

A Unicode non-character (U+FDD0-U+FDEF, U+nFFFE, U+nFFFF) can be stored, but is refused
alike: it is not text to interchange, and it used to reach the store unchecked.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import httpx
import pytest

from .conftest import BACKENDS, Api, AppFactory, assert_error

JSON = {"Content-Type": "application/json"}
REFUSED = "contains a lone surrogate or a Unicode non-character."

# %s: the API key (and for mint the auth token) of the test's workspace.
IDENTIFY_NAME_SURROGATE = b'{"apiKey":"%s","user":{"userId":"u1","name":"\\ud800"}}'
IDENTIFY_EXTRA_MEMBER_SURROGATE = b'{"apiKey":"%s","user":{"userId":"u1","nick":"\\ud800"}}'
IDENTIFY_NESTED_PROFILE_SURROGATE = (
    b'{"apiKey":"%s","user":{"userId":"u1","prefs":{"theme":{"name":"dark\\udfff"}}}}'
)
IDENTIFY_KEY_SURROGATE = b'{"apiKey":"%s","user":{"userId":"u1","\\udc00":"x"}}'
IDENTIFY_ARRAY_NONCHARACTER = b'{"apiKey":"%s","user":{"userId":"u1","tags":["ok","\xef\xbf\xbe"]}}'
IDENTIFY_ENCODED_SURROGATE = b'{"apiKey":"%s","user":{"userId":"u1","name":"\xed\xa0\x80"}}'
MINT_USER_ID_NONCHARACTER = (
    b'{"data":{"apiKey":"%s","authToken":"%s","userId":"u\\uffff",'
    b'"userProperties":{"organizationId":"org-1"}}}'
)
MINT_ORGANIZATION_ASTRAL_NONCHARACTER = (
    b'{"data":{"apiKey":"%s","authToken":"%s","userId":"u1",'
    b'"userProperties":{"organizationId":"org\\ud83f\\udfff"}}}'
)
SIGN_OUT_SESSION_NONCHARACTER = b'{"apiKey":"%s","sessionId":"\\ufdd0"}'
ADMIN_USER_NAME_NONCHARACTER = b'{"userId":"u1","name":"Ann \\ufdef"}'
ADMIN_WORKSPACE_NAME_NONCHARACTER = b'{"name":"Team \xef\xbf\xbf"}'
REVOCATION_REASON_NONCHARACTER = b'{"userId":"u1","reason":"left \xf4\x8f\xbf\xbe"}'


@pytest.fixture(params=BACKENDS)
def batched(request: pytest.FixtureRequest, client_factory: AppFactory) -> Api:
    """The app in development mode (identify without a token), its writes by group commit."""
    api = client_factory(request.param, lifespan=False)
    api.patch_workspace(requireJwt=False)
    return api


def _refused_alone(api: Api, attack: Callable[[], httpx.Response], field: str) -> None:
    """``attack`` is a 400 naming ``field`` and stores nothing, and a valid identify of another
    workspace between two of them is stored."""
    with api.unchanged():
        response = attack()
    if field == "body":
        message = "The request body is not valid UTF-8."
    elif "\\u" in field:
        message = f"The key {field} {REFUSED}"
    else:
        message = f"{field} {REFUSED}"
    assert_error(
        response, 400, "INVALID_ARGUMENT", "invalid_argument", field=field, message=message
    )

    bystander = api.new_workspace(require_jwt=False)
    assert api.identify({"userId": "bystander", "name": "Bea"}, ws=bystander).status_code == 200
    assert attack().status_code == 400
    profiles = api.snapshot()["user_profiles"]
    assert any("bystander" in row and {"name": "Bea"} in row for row in profiles), profiles


def _attack(
    api: Api, method: str, path: str, body: bytes, *, admin: bool = False
) -> Callable[[], httpx.Response]:
    headers = {**api.admin, **JSON} if admin else JSON
    return partial(api.client.request, method, path, content=body, headers=headers)


def _identify(api: Api, literal: bytes) -> Callable[[], httpx.Response]:
    return _attack(api, "POST", "/v1/identify", literal % api.workspace.api_key.encode())


def _mint(api: Api, literal: bytes) -> Callable[[], httpx.Response]:
    body = literal % (api.workspace.api_key.encode(), api.workspace.secret.encode())
    return _attack(api, "POST", "/v1/auth/token/get", body)


def test_identify_rejects_lone_surrogate_in_name(batched: Api) -> None:
    _refused_alone(batched, _identify(batched, IDENTIFY_NAME_SURROGATE), "user.name")


def test_identify_rejects_lone_surrogate_in_profile_member(batched: Api) -> None:
    _refused_alone(batched, _identify(batched, IDENTIFY_EXTRA_MEMBER_SURROGATE), "user.nick")


def test_identify_rejects_lone_surrogate_nested_in_profile(batched: Api) -> None:
    attack = _identify(batched, IDENTIFY_NESTED_PROFILE_SURROGATE)
    _refused_alone(batched, attack, "user.prefs.theme.name")


def test_identify_rejects_lone_surrogate_in_key(batched: Api) -> None:
    # The key cannot travel in the answer as it is: its bad character is written as an escape.
    _refused_alone(batched, _identify(batched, IDENTIFY_KEY_SURROGATE), "user.\\udc00")


def test_identify_rejects_noncharacter_in_array_item(batched: Api) -> None:
    _refused_alone(batched, _identify(batched, IDENTIFY_ARRAY_NONCHARACTER), "user.tags.1")


def test_identify_rejects_surrogate_encoded_as_invalid_utf8(batched: Api) -> None:
    # ED A0 80 is U+D800 in the UTF-8 form that UTF-8 forbids; json.loads(bytes) used to take it.
    _refused_alone(batched, _identify(batched, IDENTIFY_ENCODED_SURROGATE), "body")


def test_mint_rejects_noncharacter_in_user_id(batched: Api) -> None:
    _refused_alone(batched, _mint(batched, MINT_USER_ID_NONCHARACTER), "data.userId")


def test_mint_rejects_astral_noncharacter_in_organization(batched: Api) -> None:
    # \ud83f\udfff is a valid surrogate pair: it names U+1FFFF, a non-character of plane 1.
    attack = _mint(batched, MINT_ORGANIZATION_ASTRAL_NONCHARACTER)
    _refused_alone(batched, attack, "data.userProperties.organizationId")


def test_sign_out_rejects_noncharacter_in_session_id(batched: Api) -> None:
    body = SIGN_OUT_SESSION_NONCHARACTER % batched.workspace.api_key.encode()
    _refused_alone(batched, _attack(batched, "POST", "/v1/sign-out", body), "sessionId")


def test_admin_create_user_rejects_noncharacter_in_name(batched: Api) -> None:
    path = f"/admin/v1/workspaces/{batched.workspace.api_key}/users"
    attack = _attack(batched, "POST", path, ADMIN_USER_NAME_NONCHARACTER, admin=True)
    _refused_alone(batched, attack, "name")


def test_admin_settings_reject_noncharacter_in_workspace_name(batched: Api) -> None:
    path = f"/admin/v1/workspaces/{batched.workspace.api_key}"
    attack = _attack(batched, "PATCH", path, ADMIN_WORKSPACE_NAME_NONCHARACTER, admin=True)
    _refused_alone(batched, attack, "name")


def test_revocation_rejects_noncharacter_in_reason(batched: Api) -> None:
    path = f"/admin/v1/workspaces/{batched.workspace.api_key}/revocations"
    attack = _attack(batched, "POST", path, REVOCATION_REASON_NONCHARACTER, admin=True)
    _refused_alone(batched, attack, "reason")
