"""The error tree: stable codes, statuses and docstrings."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

import idmint
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


@pytest.mark.parametrize("cls", error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_class_documents_when_it_is_raised(cls: type[IdmintError]) -> None:
    assert (cls.__doc__ or "").startswith("Raised when")
    assert cls.status in GRPC_STATUSES
    assert 400 <= cls.http_status < 600


def test_error_tree_in_module_docstring_lists_every_class_and_code() -> None:
    for cls in error_classes():
        assert re.search(rf"\b{cls.__name__}\s+{cls.code}\b", errors.__doc__ or ""), cls


def test_every_error_class_is_exported() -> None:
    assert {cls.__name__ for cls in error_classes()} <= set(idmint.__all__)


def test_token_errors_are_unauthenticated_401() -> None:
    assert idmint.TokenError.http_status == 401
    assert idmint.TokenExpiredError.status == "UNAUTHENTICATED"


def test_error_carries_context_and_envelope_body() -> None:
    when = datetime(2027, 1, 1, tzinfo=UTC)
    error = TokenExpiredError(expired_at=when)
    assert error.expired_at == when
    assert error.claim == "exp"
    assert error.to_dict() == {
        "message": "The token expired at 2027-01-01T00:00:00+00:00.",
        "status": "UNAUTHENTICATED",
        "code": "token_expired",
        "expiredAt": "2027-01-01T00:00:00Z",
    }


def test_default_message_is_the_docstring_line() -> None:
    assert idmint.InvalidSignatureError().message.startswith("Raised when")
