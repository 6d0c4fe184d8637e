"""The error tree: stable codes, statuses (mapped in the API) and docstrings, and context that
rebuilds any error."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

import idmint
from idmint.api.errors import envelope, http_error_classes, status_of
from idmint.jose import errors
from idmint.jose.errors import IdmintError, TokenExpiredError, error_classes

GRPC_STATUSES = {
    "INVALID_ARGUMENT",
    "UNAUTHENTICATED",
    "PERMISSION_DENIED",
    "NOT_FOUND",
    "FAILED_PRECONDITION",
    "RESOURCE_EXHAUSTED",
    "INTERNAL",
    "UNAVAILABLE",
}


def test_every_error_code_is_unique_snake_case() -> None:
    codes = [cls.code for cls in error_classes()]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", code) for code in codes)


@pytest.mark.parametrize(
    "cls", [*error_classes(), *http_error_classes()], ids=lambda cls: cls.__name__
)
def test_every_error_class_documents_when_it_is_raised(cls: type[IdmintError]) -> None:
    assert (cls.__doc__ or "").startswith("Raised when")
    http_status, word = status_of(cls)
    assert word in GRPC_STATUSES
    assert 400 <= http_status < 600


def test_error_tree_in_module_docstring_lists_every_class_and_code() -> None:
    for cls in error_classes():
        assert re.search(rf"\b{cls.__name__}\s+{cls.code}\b", errors.__doc__ or ""), cls


def test_every_error_class_is_exported() -> None:
    assert {cls.__name__ for cls in error_classes()} <= set(idmint.__all__)


def test_token_errors_are_unauthenticated_401() -> None:
    assert status_of(idmint.TokenError)[0] == 401
    assert status_of(idmint.TokenExpiredError)[1] == "UNAUTHENTICATED"


def test_error_carries_context_and_envelope_body() -> None:
    when = datetime(2027, 1, 1, tzinfo=UTC)
    error = TokenExpiredError(expired_at=when)
    assert error.expired_at == when
    assert error.claim == "exp"
    assert envelope(error)["error"] == {
        "message": "The token expired at 2027-01-01T00:00:00+00:00.",
        "status": "UNAUTHENTICATED",
        "code": "token_expired",
        "claim": "exp",
        "expiredAt": "2027-01-01T00:00:00Z",
    }


def test_default_message_is_the_docstring_line() -> None:
    assert idmint.InvalidSignatureError().message.startswith("Raised when")


def test_the_core_errors_know_nothing_of_http() -> None:
    for cls in error_classes():
        assert not {"http_status", "status", "to_dict"} & set(vars(cls)), cls


@pytest.mark.parametrize("cls", error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_is_rebuilt_from_its_message_and_context(cls: type[IdmintError]) -> None:
    samples: dict[str, object] = {
        "expired_at": datetime(2027, 1, 1, tzinfo=UTC),
        "not_before": datetime(2027, 1, 1, tzinfo=UTC),
        "issued_at": datetime(2027, 1, 1, tzinfo=UTC),
        "limit": 8192,
        "mode": 0o644,
    }
    context = {name: samples.get(name, f"{name}-value") for name in cls.context_names}
    error = cls("the message", **context)  # type: ignore[call-arg]
    assert error.message == "the message"
    assert error.context == context
    assert cls(error.message, **error.context).context == context  # type: ignore[call-arg]
    assert cls().message  # every context keyword is optional


def test_issuer_and_audience_errors_say_what_was_expected_and_found() -> None:
    issuer = errors.InvalidIssuerError(expected="https://a/w/pk_1", found="https://b/w/pk_1")
    assert "https://a/w/pk_1" in issuer.message
    assert "https://b/w/pk_1" in issuer.message
    audience = errors.InvalidAudienceError(expected="pk_1", found="pk_2")
    assert "pk_1" in audience.message
    assert "pk_2" in audience.message
