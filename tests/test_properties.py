"""Property tests: no single-character change to a token survives, and nothing crashes verify.

Every failure of :meth:`TokenVerifier.verify` must be a :class:`idmint.TokenError` (the service
maps those to 401); any other exception type would be a 500 and a bug.  The strict base64url
codec of :mod:`idmint.jose._b64` must give every byte string exactly one accepted spelling.
"""

from __future__ import annotations

import base64
import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from idmint import (
    FrozenClock,
    KeyRing,
    MalformedTokenError,
    SigningKey,
    TokenError,
    TokenMinter,
    TokenVerifier,
    VerifiedToken,
)
from idmint.jose._b64 import b64decode, b64encode, uint_decode, uint_encode
from idmint.jose.jws import sign_compact

ALGORITHMS = ["EdDSA", "ES256", "RS256", "PS256"]
ISSUER = "https://idmint.test/w/ws_props"
AUDIENCE = "pk_test_props"
NOW = 1_800_000_000
B64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"

# Bounded so that the whole file runs in a few seconds; no example database is written.
PROPERTY = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
CODEC = settings(max_examples=300, deadline=None, database=None)


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return {alg: SigningKey.generate(alg) for alg in ALGORITHMS}


@pytest.fixture(scope="module")
def verifiers(keys: dict[str, SigningKey]) -> dict[str, TokenVerifier]:
    return {
        alg: TokenVerifier(
            KeyRing([key]), issuer=ISSUER, audience=AUDIENCE, clock=FrozenClock(NOW), leeway=30
        )
        for alg, key in keys.items()
    }


@pytest.fixture(scope="module")
def tokens(keys: dict[str, SigningKey], verifiers: dict[str, TokenVerifier]) -> dict[str, str]:
    result = {}
    for alg, key in keys.items():
        minter = TokenMinter(key, issuer=ISSUER, audience=AUDIENCE, clock=FrozenClock(NOW))
        token = minter.mint("user-1", organization_id="org-1", email="a@b.c").token
        verifiers[alg].verify(token)  # the unmodified token is valid
        result[alg] = token
    return result


def _assert_rejected(verifier: TokenVerifier, candidate: object) -> None:
    """Verification fails with a TokenError: not success, not any other exception type."""
    with pytest.raises(TokenError):
        verifier.verify(candidate)


# --- single-character tampering ---------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGORITHMS)
@PROPERTY
@given(position=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_flipping_any_bit_of_any_character_of_a_valid_token_is_rejected(
    alg: str,
    position: int,
    bit: int,
    tokens: dict[str, str],
    verifiers: dict[str, TokenVerifier],
) -> None:
    token = tokens[alg]
    index = position % len(token)
    flipped = chr(ord(token[index]) ^ (1 << bit))
    _assert_rejected(verifiers[alg], token[:index] + flipped + token[index + 1 :])


@pytest.mark.parametrize("alg", ALGORITHMS)
@PROPERTY
@given(position=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_flipping_any_bit_of_any_byte_of_a_valid_token_given_as_bytes_is_rejected(
    alg: str,
    position: int,
    bit: int,
    tokens: dict[str, str],
    verifiers: dict[str, TokenVerifier],
) -> None:
    data = bytearray(tokens[alg].encode("ascii"))
    data[position % len(data)] ^= 1 << bit
    _assert_rejected(verifiers[alg], bytes(data))


@pytest.mark.parametrize("alg", ALGORITHMS)
@PROPERTY
@given(position=st.integers(min_value=0), replacement=st.sampled_from(B64URL))
def test_replacing_any_character_by_another_base64url_character_is_rejected(
    alg: str,
    position: int,
    replacement: str,
    tokens: dict[str, str],
    verifiers: dict[str, TokenVerifier],
) -> None:
    token = tokens[alg]
    index = position % len(token)
    if token[index] == replacement:
        # Same character: pick the next one in the alphabet, so the token always changes.
        replacement = B64URL[(B64URL.index(replacement) + 1) % len(B64URL)]
    _assert_rejected(verifiers[alg], token[:index] + replacement + token[index + 1 :])


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_changing_the_last_signature_character_to_any_other_is_rejected(
    alg: str, tokens: dict[str, str], verifiers: dict[str, TokenVerifier]
) -> None:
    # Exhaustive for the one position where a lax decoder would ignore the unused low bits.
    token = tokens[alg]
    for replacement in B64URL.replace(token[-1], ""):
        _assert_rejected(verifiers[alg], token[:-1] + replacement)


# --- arbitrary input ---------------------------------------------------------------------------

_segment = st.text(alphabet=B64URL + "=+/ ", max_size=120)
_token_shaped = st.lists(_segment, min_size=1, max_size=5).map(".".join)
_json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_json = st.recursive(
    _json_scalar,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@PROPERTY
@given(candidate=st.one_of(st.text(), st.binary(), _token_shaped))
def test_arbitrary_text_or_bytes_raise_only_token_errors(
    candidate: str | bytes, verifiers: dict[str, TokenVerifier]
) -> None:
    _assert_rejected(verifiers["ES256"], candidate)


@PROPERTY
@given(candidate=st.one_of(st.none(), st.integers(), st.floats(), _json, st.just(object())))
def test_non_text_inputs_are_malformed(candidate: Any, verifiers: dict[str, TokenVerifier]) -> None:
    if isinstance(candidate, str):
        candidate = [candidate]
    with pytest.raises(MalformedTokenError):
        verifiers["ES256"].verify(candidate)


def _encode_json(value: Any) -> str:
    return b64encode(json.dumps(value).encode())


@PROPERTY
@given(
    header=st.fixed_dictionaries(
        {},
        optional={
            "alg": st.one_of(st.sampled_from(["ES256", "EdDSA", "RS256", "HS256", "none"]), _json),
            "kid": st.one_of(st.just("<real kid>"), _json),
            "typ": st.one_of(st.sampled_from(["JWT", "at+jwt", "application/jwt"]), _json),
            "crit": _json,
            "jku": _json,
            "jwk": _json,
            "cty": _json,
        },
    ),
    payload=st.one_of(st.binary(max_size=200).map(b64encode), _json.map(_encode_json)),
    signature=st.binary(max_size=80).map(b64encode),
)
def test_tokens_with_arbitrary_json_headers_raise_only_token_errors(
    header: dict[str, Any],
    payload: str,
    signature: str,
    keys: dict[str, SigningKey],
    verifiers: dict[str, TokenVerifier],
) -> None:
    if header.get("kid") == "<real kid>":
        header["kid"] = keys["ES256"].kid
    token = f"{_encode_json(header)}.{payload}.{signature}"
    _assert_rejected(verifiers["ES256"], token)


# Claim values: right ones, wrong ones and wrong types.  NumericDates come as JSON number text,
# because a JSON number need not be a float Python can round-trip (1e400 parses as infinity).
_numeric_date = st.one_of(
    st.integers(min_value=NOW - 10**6, max_value=NOW + 10**6).map(str),
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.from_regex(r"-?[1-9][0-9]{0,2}(\.[0-9]{1,3})?[eE][+-]?[0-9]{1,3}", fullmatch=True),
    _json.map(json.dumps),
)
_claim_text = {
    "iss": st.one_of(st.just(json.dumps(ISSUER)), _json.map(json.dumps)),
    "aud": st.one_of(
        st.just(json.dumps(AUDIENCE)),
        st.just(json.dumps(["x", AUDIENCE])),
        _json.map(json.dumps),
    ),
    "sub": st.one_of(st.just('"user-1"'), _json.map(json.dumps)),
    "isAdmin": st.one_of(st.sampled_from(["true", "false"]), _json.map(json.dumps)),
    "organizationId": _json.map(json.dumps),
    "email": _json.map(json.dumps),
    "jti": _json.map(json.dumps),
    "exp": _numeric_date,
    "nbf": _numeric_date,
    "iat": _numeric_date,
}


@PROPERTY
@given(claims=st.fixed_dictionaries({}, optional=_claim_text))
@example(
    claims={"iss": json.dumps(ISSUER), "aud": json.dumps(AUDIENCE), "sub": '"u"', "exp": "1e400"}
)
@example(
    claims={"iss": json.dumps(ISSUER), "aud": json.dumps(AUDIENCE), "sub": '"u"', "exp": "-1e20"}
)
@example(
    claims={
        "iss": json.dumps(ISSUER),
        "aud": json.dumps(AUDIENCE),
        "sub": '"u"',
        "exp": str(NOW + 60),
        "nbf": "100000000000000000000",
    }
)
def test_validly_signed_arbitrary_claims_verify_or_raise_only_token_errors(
    claims: dict[str, str], keys: dict[str, SigningKey], verifiers: dict[str, TokenVerifier]
) -> None:
    payload = "{" + ",".join(f"{json.dumps(name)}:{text}" for name, text in claims.items()) + "}"
    token = sign_compact(keys["ES256"], payload.encode())
    try:
        verified = verifiers["ES256"].verify(token)
    except TokenError:
        return
    assert isinstance(verified, VerifiedToken)
    assert verified.claims.issuer == ISSUER


# --- idmint.jose._b64 -------------------------------------------------------------------------------


@CODEC
@given(data=st.binary(max_size=300))
def test_b64_round_trips_any_bytes(data: bytes) -> None:
    text = b64encode(data)
    assert b64decode(text) == data
    assert set(text) <= set(B64URL)
    assert len(text) == -(-len(data) * 4 // 3)  # ceil(4n/3): unpadded
    assert text == base64.urlsafe_b64encode(data).decode().rstrip("=")


@CODEC
@given(text=st.text(alphabet=B64URL + "+/= \n.", max_size=40))
def test_b64_decode_accepts_only_the_canonical_spelling(text: str) -> None:
    try:
        data = b64decode(text)
    except ValueError:
        return
    assert b64encode(data) == text


@CODEC
@given(text=st.text(max_size=40))
def test_b64_decode_raises_only_value_error_on_any_text(text: str) -> None:
    try:
        data = b64decode(text)
    except ValueError:
        return
    assert b64encode(data) == text


@CODEC
@given(data=st.binary(max_size=100), pad=st.integers(min_value=1, max_value=3))
def test_b64_rejects_padding(data: bytes, pad: int) -> None:
    with pytest.raises(ValueError, match="base64url"):
        b64decode(b64encode(data) + "=" * pad)


@CODEC
@given(data=st.binary(min_size=1, max_size=100))
def test_b64_rejects_the_standard_alphabet(data: bytes) -> None:
    text = b64encode(data)
    standard = text.replace("-", "+").replace("_", "/")
    if standard == text:
        standard = "+" + text[1:]  # still the standard alphabet, no longer url-safe
    with pytest.raises(ValueError, match="base64url"):
        b64decode(standard)


@CODEC
@given(data=st.binary(min_size=1, max_size=100), low_bits=st.integers(min_value=1, max_value=15))
def test_b64_rejects_non_zero_unused_trailing_bits(data: bytes, low_bits: int) -> None:
    if len(data) % 3 == 0:
        data += b"\x00"  # the last character must have unused bits
    text = b64encode(data)
    unused = 4 if len(data) % 3 == 1 else 2
    low_bits %= 1 << unused
    if low_bits == 0:
        low_bits = 1
    value = B64URL.index(text[-1])
    assert value & ((1 << unused) - 1) == 0  # the canonical spelling has them zero
    variant = text[:-1] + B64URL[value | low_bits]
    with pytest.raises(ValueError, match="base64url"):
        b64decode(variant)


@CODEC
@given(data=st.binary(max_size=100), extra=st.sampled_from(B64URL))
def test_b64_rejects_impossible_lengths(data: bytes, extra: str) -> None:
    text = b64encode(data)
    while len(text) % 4 != 1:
        text += extra
    with pytest.raises(ValueError, match="base64url"):
        b64decode(text)


@CODEC
@given(value=st.integers(min_value=0, max_value=2**4096))
def test_uint_round_trips_with_a_minimal_encoding(value: int) -> None:
    text = uint_encode(value)
    assert uint_decode(text) == value
    raw = b64decode(text)
    assert len(raw) == max(1, (value.bit_length() + 7) // 8)


@CODEC
@given(value=st.integers(min_value=0, max_value=2**1024), zeros=st.integers(1, 4))
def test_uint_rejects_leading_zero_octets(value: int, zeros: int) -> None:
    raw = bytes(zeros) + value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    with pytest.raises(ValueError, match="leading zero"):
        uint_decode(b64encode(raw))
