"""Claims validation with the injected clock and leeway (no sleeps)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from conftest import AUDIENCE, ISSUER, NOW
from idmint import (
    ClaimError,
    ClaimsValidator,
    FrozenClock,
    InvalidAudienceError,
    InvalidIssuerError,
    MissingClaimError,
    TokenExpiredError,
    TokenIssuedInFutureError,
    TokenNotYetValidError,
)
from idmint.jose.claims import ABSOLUTE_MAX_LIFETIME


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": int(NOW),
        "nbf": int(NOW),
        "exp": int(NOW) + 3600,
        "jti": "abc",
        "isAdmin": False,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture
def validator(clock: FrozenClock) -> ClaimsValidator:
    return ClaimsValidator(issuer=ISSUER, audience=AUDIENCE, clock=clock)


def test_valid_claims_are_typed(validator: ClaimsValidator) -> None:
    result = validator.validate(claims(organizationId="org-1", email="a@b.c", isAdmin=True))
    assert result.user_id == "user-1"
    assert (result.organization_id, result.email, result.is_admin) == ("org-1", "a@b.c", True)
    assert result.expires_at == int(NOW) + 3600


def test_expiry_honours_leeway_and_reports_when(
    validator: ClaimsValidator, clock: FrozenClock
) -> None:
    token = claims(exp=int(NOW) + 60)
    clock.advance(60 + 29)
    validator.validate(token)  # inside the 30 s leeway
    clock.advance(1)
    with pytest.raises(TokenExpiredError) as raised:
        validator.validate(token)
    assert raised.value.expired_at.timestamp() == NOW + 60
    assert raised.value.code == "token_expired"


def test_not_before_and_issued_at_in_the_future(validator: ClaimsValidator) -> None:
    validator.validate(claims(nbf=int(NOW) + 30, iat=int(NOW) + 30))
    with pytest.raises(TokenNotYetValidError):
        validator.validate(claims(nbf=int(NOW) + 31))
    with pytest.raises(TokenIssuedInFutureError):
        validator.validate(claims(iat=int(NOW) + 31))


@pytest.mark.parametrize("name", ["exp", "iat", "iss", "aud", "sub"])
def test_required_claims(validator: ClaimsValidator, name: str) -> None:
    with pytest.raises(MissingClaimError) as raised:
        validator.validate(claims(**{name: None}))
    assert raised.value.claim == name


def test_lifetime_up_to_thirty_days_plus_the_leeway_is_accepted(
    validator: ClaimsValidator,
) -> None:
    longest = int(ABSOLUTE_MAX_LIFETIME.total_seconds()) + 30
    assert validator.validate(claims(exp=int(NOW) + longest)).expires_at == int(NOW) + longest
    # measured from iat to exp, not from now
    validator.validate(
        claims(iat=int(NOW) - 3600, nbf=int(NOW) - 3600, exp=int(NOW) + longest - 3600)
    )


def test_lifetime_beyond_thirty_days_plus_the_leeway_is_refused(
    validator: ClaimsValidator,
) -> None:
    longest = int(ABSOLUTE_MAX_LIFETIME.total_seconds()) + 30
    for start in (int(NOW), int(NOW) - 3600):
        with pytest.raises(ClaimError) as raised:
            validator.validate(claims(iat=start, nbf=start, exp=start + longest + 1))
        assert type(raised.value) is ClaimError
        assert (raised.value.code, raised.value.claim) == ("token_claim_invalid", "exp")


def test_lifetime_bound_may_be_lowered_but_not_raised(clock: FrozenClock) -> None:
    hour = ClaimsValidator(
        issuer=ISSUER, audience=AUDIENCE, clock=clock, leeway=0, max_lifetime=timedelta(hours=1)
    )
    hour.validate(claims(exp=int(NOW) + 3600))
    with pytest.raises(ClaimError, match="longer than the 3600 seconds"):
        hour.validate(claims(exp=int(NOW) + 3601))
    for bad in (0, ABSOLUTE_MAX_LIFETIME + timedelta(seconds=1)):
        with pytest.raises(ValueError, match="maximum lifetime"):
            ClaimsValidator(issuer=ISSUER, audience=AUDIENCE, max_lifetime=bad)


def test_audience_may_be_a_list_containing_ours(validator: ClaimsValidator) -> None:
    validator.validate(claims(aud=["other", AUDIENCE]))
    with pytest.raises(InvalidAudienceError):
        validator.validate(claims(aud=["other"]))
    with pytest.raises(InvalidAudienceError):
        validator.validate(claims(aud=AUDIENCE + "x"))


@pytest.mark.parametrize("issuer", [ISSUER + "/", ISSUER.upper(), ISSUER[:-1], " " + ISSUER])
def test_issuer_must_be_exactly_equal(validator: ClaimsValidator, issuer: str) -> None:
    with pytest.raises(InvalidIssuerError):
        validator.validate(claims(iss=issuer))


@pytest.mark.parametrize(
    "bad",
    [
        {"exp": "tomorrow"},
        {"exp": True},
        {"nbf": [1]},
        {"aud": 7},
        {"aud": ["ok", 7]},
        {"sub": ""},
        {"sub": 12},
        {"isAdmin": "true"},
        {"email": 5},
        {"organizationId": False},
        {"jti": 1},
    ],
)
def test_claims_of_the_wrong_type_are_refused(
    validator: ClaimsValidator, bad: dict[str, Any]
) -> None:
    with pytest.raises(ClaimError):
        validator.validate(claims(**bad))


@pytest.mark.parametrize("leeway", [-1, 301, timedelta(minutes=6)])
def test_leeway_is_bounded_to_five_minutes(leeway: float | timedelta) -> None:
    with pytest.raises(ValueError, match="leeway"):
        ClaimsValidator(issuer=ISSUER, audience=AUDIENCE, leeway=leeway)


def test_leeway_up_to_five_minutes_is_configurable(clock: FrozenClock) -> None:
    validator = ClaimsValidator(
        issuer=ISSUER, audience=AUDIENCE, clock=clock, leeway=timedelta(minutes=5)
    )
    clock.advance(3600 + 299)
    validator.validate(claims())
    clock.advance(1)
    with pytest.raises(TokenExpiredError):
        validator.validate(claims())
