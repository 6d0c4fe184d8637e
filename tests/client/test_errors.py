"""Every error code maps back to its class; real server answers become the right exceptions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from idmint.api.errors import status_of
from idmint.client import IdmintClient
from idmint.client._errors import ERROR_CLASSES, error_class_for, error_from_answer
from idmint.jose.errors import (
    ApiKeyNotFoundError,
    AuthTokenNotFoundError,
    ConflictError,
    CredentialError,
    CredentialsMissingError,
    EmailMismatchError,
    IdentifyError,
    IdentityMismatchError,
    IdmintError,
    InvalidArgumentError,
    JwtRequiredError,
    MalformedTokenError,
    NotFoundError,
    OrganizationMismatchError,
    SigningKeyError,
    TokenError,
    TokenExpiredError,
    UnavailableError,
    UserMismatchError,
    WorkspaceNotFoundError,
    error_classes,
)
from idmint.serializers import error_fields

from .conftest import ADMIN_TOKEN, USER, App


def _envelope(cls: type[IdmintError], **extra: Any) -> dict[str, Any]:
    return {"error": {"message": "m", "status": status_of(cls)[1], "code": cls.code, **extra}}


# --- the mapping ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", error_classes(), ids=lambda cls: cls.code)
def test_every_code_maps_to_its_class(cls: type[IdmintError]) -> None:
    assert ERROR_CLASSES.get(cls.code) is cls, f"no client mapping for {cls.code}"
    extra = {"expiredAt": "2026-11-23T10:00:00Z"} if cls is TokenExpiredError else {}
    times = {"expired_at", "not_before", "issued_at"}  # ISO times on the wire: see below
    context = {name: f"{name}-value" for name in cls.context_names if name not in times}
    wire = {
        "".join(w if i == 0 else w.title() for i, w in enumerate(k.split("_"))): v
        for k, v in context.items()
    }
    error = error_from_answer(status_of(cls)[0], _envelope(cls, **wire, **extra))
    assert type(error) is cls
    assert (error.code, error.status, error.http_status, error.message) == (
        cls.code,
        status_of(cls)[1],
        status_of(cls)[0],
        "m",
    )
    for name, value in context.items():  # every context member is rebuilt
        assert getattr(error, name) == value
    assert error_fields(error)["code"] == cls.code


def test_token_expired_carries_expired_at() -> None:
    body = _envelope(TokenExpiredError, expiredAt="2026-11-23T10:00:00Z")
    error = error_from_answer(401, body)
    assert isinstance(error, TokenExpiredError)
    assert error.expired_at == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert error.claim == "exp"


def test_token_expired_without_expired_at_leaves_it_none() -> None:
    error = error_from_answer(401, _envelope(TokenExpiredError))
    assert isinstance(error, TokenExpiredError)
    assert error.expired_at is None


def test_mismatch_keeps_the_envelopes_field() -> None:
    error = error_from_answer(403, _envelope(EmailMismatchError, field="email"))
    assert isinstance(error, EmailMismatchError)
    assert error.field == "email"


@pytest.mark.parametrize(
    ("code", "http_status", "expected"),
    [
        ("token_from_the_future", 401, TokenError),
        ("key_on_fire", 500, SigningKeyError),
        ("auth_token_sleepy", 403, CredentialError),
        ("api_key_suspended", 403, CredentialError),
        ("organization_not_found", 404, NotFoundError),
        ("organization_exists", 409, ConflictError),
        ("photo_mismatch", 403, IdentityMismatchError),
        ("quota_exceeded", 400, InvalidArgumentError),
        ("session_ended", 401, CredentialError),
        ("origin_weird", 403, IdentifyError),
        ("method_weird", 405, InvalidArgumentError),
        ("media_weird", 415, InvalidArgumentError),
        ("maintenance", 503, UnavailableError),
        ("slow_down_please", 429, IdmintError),
    ],
)
def test_unknown_code_raises_the_nearest_class_and_keeps_the_code(
    code: str, http_status: int, expected: type[IdmintError]
) -> None:
    assert error_class_for(code, http_status) is expected
    body = {"error": {"message": "new", "status": "RESOURCE_EXHAUSTED", "code": code}}
    error = error_from_answer(http_status, body)
    assert type(error) is expected
    assert (error.code, error.http_status, error.status, error.message) == (
        code,
        http_status,
        "RESOURCE_EXHAUSTED",
        "new",
    )
    assert error_fields(error)["code"] == code
    # The class keeps its own code: the override lives on the instance only.
    assert expected.code != code


@pytest.mark.parametrize(
    ("http_status", "expected"),
    [(502, UnavailableError), (404, NotFoundError), (500, IdmintError), (418, IdmintError)],
)
def test_answer_without_envelope_maps_by_status(
    http_status: int, expected: type[IdmintError]
) -> None:
    error = error_from_answer(http_status, None)
    assert type(error) is expected
    assert error.code == expected.code
    assert error.http_status == http_status
    assert str(http_status) in error.message


def test_proxy_error_page_through_the_client_raises_unavailable() -> None:
    def proxy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>Bad Gateway</html>")

    client = IdmintClient(
        "http://idmint", api_key="pk", auth_token="sk", transport=httpx.MockTransport(proxy)
    )
    with pytest.raises(UnavailableError) as caught:
        client.generate_token("u", organization_id="o")
    assert caught.value.http_status == 502


def test_unreadable_success_answer_raises_the_root_error() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"result": {}})

    client = IdmintClient(
        "http://idmint", api_key="pk", auth_token="sk", transport=httpx.MockTransport(broken)
    )
    with pytest.raises(IdmintError) as caught:
        client.generate_token("u", organization_id="o")
    assert type(caught.value) is IdmintError
    assert caught.value.code == "internal"
    assert isinstance(caught.value.__cause__, KeyError)


def test_transport_failure_raises_unavailable_with_the_cause_chained() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = IdmintClient(
        "http://idmint", api_key="pk", auth_token="sk", transport=httpx.MockTransport(refuse)
    )
    with pytest.raises(UnavailableError) as caught:
        client.get_workspace()
    error = caught.value
    assert (error.code, error.http_status, error.status) == ("unavailable", 503, "UNAVAILABLE")
    assert isinstance(error.__cause__, httpx.ConnectError)
    assert "http://idmint/admin/v1/workspaces/pk" in error.message


def test_timeout_raises_unavailable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client = IdmintClient(
        "http://idmint", api_key="pk", auth_token="sk", transport=httpx.MockTransport(slow)
    )
    with pytest.raises(UnavailableError) as caught:
        client.token_for_email("ann@example.com")
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


def test_client_refuses_transport_and_http_client_together() -> None:
    with httpx.Client() as http, pytest.raises(ValueError, match="not both"):
        IdmintClient(
            "http://idmint",
            transport=httpx.MockTransport(lambda r: httpx.Response(200)),
            http_client=http,
        )


def test_secrets_stay_out_of_reprs() -> None:
    from idmint.client._http import Requests

    call = Requests("http://idmint", api_key="pk", auth_token="sk_secret", admin_token=None)
    assert "sk_secret" not in repr(
        call.generate_token("u", "o", email=None, is_admin=False, expires_in=None)
    )
    assert "sk_secret" not in repr(call.get_workspace())
    assert "sk_secret" not in repr(
        IdmintClient("http://idmint", api_key="pk", auth_token="sk_secret")
    )


# --- real server answers ----------------------------------------------------------------------


def _raw_error(app: App, method: str, path: str, **kw: Any) -> dict[str, Any]:
    """The envelope the server answers, read with plain httpx."""
    response = app.http.request(method, path, **kw)
    assert response.status_code >= 400, response.text
    error: dict[str, Any] = response.json()["error"]
    error["http_status"] = response.status_code
    return error


def _assert_matches(error: IdmintError, envelope: dict[str, Any]) -> None:
    assert (error.code, error.status, error.http_status, error.message) == (
        envelope["code"],
        envelope["status"],
        envelope["http_status"],
        envelope["message"],
    )
    assert type(error) is ERROR_CLASSES.get(envelope["code"], InvalidArgumentError)
    if "field" in envelope:
        assert vars(error)["field"] == envelope["field"]


SAMPLES: list[tuple[str, str, dict[str, Any]]] = [
    ("invalid_argument", "POST", {"json": {"data": {"apiKey": "{api_key}"}}}),
    (
        "api_key_not_found",
        "POST",
        {
            "json": {
                "data": {
                    "apiKey": "pk_nope",
                    "authToken": "sk",
                    "userId": "u",
                    "userProperties": {"organizationId": "o"},
                }
            }
        },
    ),
    (
        "auth_token_not_found",
        "POST",
        {
            "json": {
                "data": {
                    "apiKey": "{api_key}",
                    "authToken": "sk_nope",
                    "userId": "u",
                    "userProperties": {"organizationId": "o"},
                }
            }
        },
    ),
    (
        "lifetime_out_of_bounds",
        "POST",
        {
            "json": {
                "data": {
                    "apiKey": "{api_key}",
                    "authToken": "{secret}",
                    "userId": "u",
                    "userProperties": {"organizationId": "o"},
                    "expiresIn": 0,
                }
            }
        },
    ),
    (
        "invalid_email",
        "POST",
        {
            "json": {
                "data": {
                    "apiKey": "{api_key}",
                    "authToken": "{secret}",
                    "userId": "u",
                    "userProperties": {"organizationId": "o", "email": "x"},
                }
            }
        },
    ),
    (
        "unsupported_media_type",
        "POST",
        {"content": b"data", "headers": {"Content-Type": "text/plain"}},
    ),
    ("method_not_allowed", "GET", {}),
]


@pytest.mark.parametrize(("code", "method", "request_kw"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_real_mint_answers_become_their_classes(
    app: App, code: str, method: str, request_kw: dict[str, Any]
) -> None:
    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.format(api_key=app.api_key, secret=app.secret)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    envelope = _raw_error(app, method, "/v1/auth/token/get", **fill(request_kw))
    assert envelope["code"] == code
    error = error_from_answer(envelope["http_status"], {"error": envelope})
    _assert_matches(error, envelope)


def test_real_answers_through_the_client(app: App, client: IdmintClient) -> None:
    """A sample of codes, each raised by the client for what the server really answered."""
    cases: list[tuple[type[IdmintError], Any]] = [
        (
            WorkspaceNotFoundError,
            lambda: app.client(api_key="pk_nope", admin_token=ADMIN_TOKEN).get_workspace(),
        ),
        (
            ApiKeyNotFoundError,
            lambda: app.client(api_key="pk_nope").generate_token("u", organization_id="o"),
        ),
        (AuthTokenNotFoundError, lambda: app.client(auth_token="sk_nope").get_workspace()),
        (InvalidArgumentError, lambda: client.generate_token("", organization_id="o")),
        (JwtRequiredError, lambda: client.identify(USER)),
        (MalformedTokenError, lambda: client.identify(USER, "not.a.token")),
    ]
    for cls, call in cases:
        with pytest.raises(cls) as caught:
            call()
        assert type(caught.value) is cls, caught.value
        assert caught.value.code == cls.code
        # A wrong credential in the Authorization header is a 401 with a challenge.
        challenged = cls is AuthTokenNotFoundError
        assert caught.value.http_status == (401 if challenged else status_of(cls)[0])


def test_invalid_argument_names_the_field(client: IdmintClient) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        client.generate_token("", organization_id="org-1")
    error = caught.value
    assert type(error) is InvalidArgumentError
    assert (error.code, error.field, error.http_status) == ("invalid_argument", "data.userId", 400)


def test_credentials_missing_from_the_server(app: App) -> None:
    response = app.http.get(f"/admin/v1/workspaces/{app.api_key}")
    error = error_from_answer(response.status_code, response.json())
    assert type(error) is CredentialsMissingError
    assert error.http_status == 401


@pytest.mark.parametrize(
    ("changes", "cls", "field"),
    [
        ({"userId": "user-2"}, UserMismatchError, "userId"),
        ({"organizationId": "org-2"}, OrganizationMismatchError, "organizationId"),
        ({"email": "bob@example.com"}, EmailMismatchError, "email"),
    ],
)
def test_identify_mismatch_names_the_field(
    client: IdmintClient, changes: dict[str, str], cls: type[IdentityMismatchError], field: str
) -> None:
    minted = client.generate_token("user-1", organization_id="org-1", email="ann@example.com")
    with pytest.raises(cls) as caught:
        client.identify({**USER, **changes}, minted.token)
    assert caught.value.field == field
    assert (caught.value.http_status, caught.value.status) == (403, "PERMISSION_DENIED")


def test_identify_with_an_expired_token_raises_token_expired_with_expired_at(
    app: App, client: IdmintClient
) -> None:
    minted = client.generate_token(
        "user-1", organization_id="org-1", email="ann@example.com", expires_in=60
    )
    app.clock.advance(60 + app.settings.leeway_seconds + 1)
    with pytest.raises(TokenExpiredError) as caught:
        client.identify(USER, minted.token)
    error = caught.value
    assert error.expired_at == minted.expires_at
    assert (error.code, error.http_status, error.status) == (
        "token_expired",
        401,
        "UNAUTHENTICATED",
    )
    assert error_fields(error)["expiredAt"] == minted.expires_at.isoformat().replace("+00:00", "Z")
