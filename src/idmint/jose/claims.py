"""The claims of an idmint user token, and their validation.

| claim            | type            | meaning                                                  |
|------------------|-----------------|----------------------------------------------------------|
| ``iss``          | string          | the workspace's issuer URL; must equal exactly           |
| ``aud``          | string or array | the workspace's API key; must contain the expected value |
| ``sub``          | string          | the application's ``userId``                             |
| ``organizationId`` | string        | the user's organization, when the minter gave one        |
| ``email``        | string          | the user's email, when the minter gave one               |
| ``isAdmin``      | boolean         | admin rights; only a minted token can grant them         |
| ``iat``          | integer         | issued at, POSIX seconds; required                       |
| ``nbf``          | integer         | not before, POSIX seconds (equal to ``iat``)             |
| ``exp``          | integer         | expires at, POSIX seconds; required                      |
| ``jti``          | string          | 128 random bits, base64url: the token's id, for revocation |

Validation is separate from signature verification and takes an injected clock and a leeway.
In order, :meth:`ClaimsValidator.validate` refuses: ``exp`` missing or past (beyond the leeway),
``nbf`` in the future (beyond the leeway), ``iat`` missing or in the future, a lifetime ``exp - iat``
longer than the validator's maximum plus the leeway, then a wrong ``iss``, ``aud`` or ``sub``.

The lifetime bound is defence in depth.  idmint never mints a token that lives longer than
:data:`ABSOLUTE_MAX_LIFETIME`, and the service relies on that: a revocation of every token of a
user or organization is kept only that long.  A longer-lived token (signed with a leaked key,
or by a buggy minter) would outlive its revocation, so it is refused whatever its signature.
``iat`` is required for the bound since only it says when a token began (``nbf`` may be earlier
or absent); idmint always writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from idmint.jose.clock import Clock, SystemClock
from idmint.jose.errors import (
    ClaimError,
    InvalidAudienceError,
    InvalidIssuerError,
    MissingClaimError,
    TokenExpiredError,
    TokenIssuedInFutureError,
    TokenNotYetValidError,
)

__all__ = ["ABSOLUTE_MAX_LIFETIME", "DEFAULT_LEEWAY", "MAX_LEEWAY", "ClaimsValidator", "UserClaims"]

DEFAULT_LEEWAY: Final = timedelta(seconds=30)
MAX_LEEWAY: Final = timedelta(minutes=5)
#: The longest lifetime idmint can issue (``exp - iat``), and so the longest it accepts.
ABSOLUTE_MAX_LIFETIME: Final = timedelta(days=30)
# 0001-01-02 and 9999-12-30 as POSIX seconds: the range datetime can represent, with a day's room.
_MIN_TIME: Final = -62135510400
_MAX_TIME: Final = 253402128000


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _total_seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass(frozen=True, slots=True)
class UserClaims:
    """The validated claims of a user token."""

    issuer: str
    audience: str | tuple[str, ...]
    subject: str
    organization_id: str | None
    email: str | None
    is_admin: bool
    issued_at: int | None
    not_before: int | None
    expires_at: int
    jti: str | None
    raw: Mapping[str, Any]

    @property
    def user_id(self) -> str:
        """The application's ``userId`` (the ``sub`` claim)."""
        return self.subject

    @property
    def expires(self) -> datetime:
        return _when(self.expires_at)


def _numeric(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # bool is an int in Python; "exp": true is not a date.  Infinity (JSON 1e400), NaN and
    # dates outside years 1..9999 are refused too: none is a time a token can mean.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not _MIN_TIME <= value <= _MAX_TIME
    ):
        raise ClaimError(f"The claim {name!r} must be a number of seconds.", claim=name)
    return value


def _optional_text(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is not None and not isinstance(value, str):
        raise ClaimError(f"The claim {name!r} must be a string.", claim=name)
    return value


class ClaimsValidator:
    """Checks the claims of a verified token against an issuer, an audience and the clock.

    :param issuer: the exact ``iss`` to require.
    :param audience: the value that ``aud`` must be or contain.
    :param clock: the source of "now".
    :param leeway: tolerated clock skew, 0 to 5 minutes (default 30 s).
    :param max_lifetime: the longest ``exp - iat`` accepted (beyond the leeway), from 1 s up
        to :data:`ABSOLUTE_MAX_LIFETIME` (the default): a verifier may lower it, never raise it.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        clock: Clock | None = None,
        leeway: float | timedelta = DEFAULT_LEEWAY,
        max_lifetime: float | timedelta = ABSOLUTE_MAX_LIFETIME,
    ) -> None:
        seconds = _total_seconds(leeway)
        if not 0 <= seconds <= MAX_LEEWAY.total_seconds():
            raise ValueError("The leeway must lie between 0 seconds and 5 minutes.")
        lifetime = _total_seconds(max_lifetime)
        if not 1 <= lifetime <= ABSOLUTE_MAX_LIFETIME.total_seconds():
            raise ValueError("The maximum lifetime must lie between 1 second and 30 days.")
        self.issuer = issuer
        self.audience = audience
        self.clock = clock or SystemClock()
        self.leeway = seconds
        self.max_lifetime = lifetime

    def validate(self, claims: Mapping[str, Any]) -> UserClaims:
        """Validate and type the claims.

        :raises ClaimError: a subclass naming the claim: missing, expired (with
            ``expired_at``), not yet valid, issued in the future, wrong audience or issuer;
            ``ClaimError`` itself (``claim="exp"``) for a lifetime beyond ``max_lifetime``.
        """
        now = self.clock.now()
        exp = _numeric(claims, "exp")
        if exp is None:
            raise MissingClaimError(claim="exp")
        if now >= exp + self.leeway:
            raise TokenExpiredError(expired_at=_when(exp))
        nbf = _numeric(claims, "nbf")
        if nbf is not None and nbf > now + self.leeway:
            raise TokenNotYetValidError(not_before=_when(nbf))
        iat = _numeric(claims, "iat")
        if iat is None:
            raise MissingClaimError(claim="iat")
        if iat > now + self.leeway:
            raise TokenIssuedInFutureError(issued_at=_when(iat))
        # Longer than idmint ever mints: see the module docstring.
        if exp - iat > self.max_lifetime + self.leeway:
            raise ClaimError(
                f"The token lives {int(exp - iat)} seconds from iat to exp, longer than the"
                f" {int(self.max_lifetime)} seconds a token may.",
                claim="exp",
            )

        iss = claims.get("iss")
        if iss is None:
            raise MissingClaimError(claim="iss")
        if iss != self.issuer:  # exact comparison: no normalisation, no prefix match
            raise InvalidIssuerError(expected=self.issuer, found=iss)
        aud = claims.get("aud")
        if aud is None:
            raise MissingClaimError(claim="aud")
        if isinstance(aud, str):
            audience: str | tuple[str, ...] = aud
            matches = aud == self.audience
        elif isinstance(aud, list) and all(isinstance(item, str) for item in aud):
            audience = tuple(aud)
            matches = self.audience in audience
        else:
            raise ClaimError(
                "The claim 'aud' must be a string or an array of strings.", claim="aud"
            )
        if not matches:
            raise InvalidAudienceError(expected=self.audience, found=aud)
        sub = claims.get("sub")
        if sub is None:
            raise MissingClaimError(claim="sub")
        if not isinstance(sub, str) or not sub:
            raise ClaimError("The claim 'sub' must be a non-empty string.", claim="sub")
        is_admin = claims.get("isAdmin", False)
        if not isinstance(is_admin, bool):
            raise ClaimError("The claim 'isAdmin' must be a boolean.", claim="isAdmin")
        return UserClaims(
            issuer=iss,
            audience=audience,
            subject=sub,
            organization_id=_optional_text(claims, "organizationId"),
            email=_optional_text(claims, "email"),
            is_admin=is_admin,
            issued_at=int(iat),
            not_before=None if nbf is None else int(nbf),
            expires_at=int(exp),
            jti=_optional_text(claims, "jti"),
            raw=claims,
        )
