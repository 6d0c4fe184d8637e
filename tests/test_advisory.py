"""Regression tests for known JWT attack classes: one named test per class.

Every attack token below is a string literal, made once by a throw-away script that signed with
the fixed test keys embedded here (or, where the attack needs one, with an attacker's key that
is not).  Their claims are fixed and they are verified under ``FrozenClock(NOW)``, so they stay
exactly as valid as they were when made: a test can only start failing if idmint's behaviour
changes.  Where it matters, a test also proves that its token would fool a lenient verifier
(the HMAC really is keyed with the public key, the embedded key really signed the token, the
non-canonical segment really decodes to the same bytes), so the rejection is for the stated
reason and not an accident.

Each test asserts the exact error class and its stable ``code`` (see idmint.errors).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from idmint import (
    ALGORITHMS,
    AlgorithmMismatchError,
    ClaimError,
    ForbiddenHeaderError,
    FrozenClock,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidSignatureError,
    InvalidTokenTypeError,
    JWKSet,
    MalformedTokenError,
    MissingClaimError,
    SigningKey,
    TokenError,
    TokenExpiredError,
    TokenIssuedInFutureError,
    TokenNotYetValidError,
    TokenTooLargeError,
    TokenVerifier,
    UnknownKeyError,
    UnsecuredTokenError,
    UnsupportedCriticalError,
    VerifiedToken,
    import_jwk,
)

ISSUER = "https://idmint.test/w/ws_test"
AUDIENCE = "pk_test_123"
NOW = 1_800_000_000  # every literal below was made for this frozen instant
LEEWAY = 30
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

# Fixed TEST-ONLY keys: never used anywhere but in these literals.
FIXED_ES256_PEM = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgcbbJYhCn9K0l4q3J
Su/3GnM8Lz4WEiWNzyFHWsNQyvahRANCAASlKz2zhkZ4l/weE8vKzYuDp0+zCgRR
MEF0qtULl/tDneezZznmhdJEqsmXQvLYyuHsADWiYAz+rK7u7pjs2MN1
-----END PRIVATE KEY-----
"""
FIXED_RS256_PEM = """-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQChqP9y7KAECSfN
nUbSdZsdpJywKDT8OBpFW/xvBMH73GYX4UwKYjbMopOt56Pe2Bsa1x4cn9dTIyBG
PGzai937GR6kFmlUMfCR5cjUHI6VkZTLzc+i8JSktu/AnBFgG/vD6BHbkXfTGTo2
dickhy2pteIkmNDNxRXEHun0PP+kseZmhICVE7RWrAy+576Z24c441MYFUIQW+NV
VnsXLUutpHrTBq5FwroAahKAAVAUx4OilH8JwzOOec+monBMhtf7aFIV1zFweWgA
VRdjBnfBpGfW7D/ZJVnVHQXrEi12zxbogy5YrZhxMfo6ORlf0i+Uk8bQCmFWbAum
gecZMuI7AgMBAAECggEAS1hp3tV8awUdYQ7JoHOh3ToIsW277EX1sJgD2nZ8Nvft
OXoPJ9PIuK2ZaPdKgCV21JaoeSzifeQkObgV//IqfsqhZlbvtockGcvgQ0QgDIPy
tt5wxP+eN/rvWXUkAAhq2k8Ca7SsBV5/rDx7V+INHUkhYm86+ny9/U9vOR9pAwgN
WeXk4yRhhZmtdx+GeTIJ0NQ5rfgfhkIf1TiWSpt4uslPKFjdT3S6lHC89V6A6uBH
g5imbmDUKn7wORjx7BPEE27Bm9JPPFN6aHEX3J8W56WbdplBRFMtmClkWJJ+B5b1
6CzMdBJQu9Ld5Zli/fXHCHD1t9X1rv2hey+NH4EF6QKBgQDYnytiujdkdrsp7t3C
sHUQphR81nHS5nM/BCYBoRLfviSsaFFQxzWQ3BnjDW61Ym2JmxDtsBtSlKrrYrSf
hG0A0UoEn6G7iEnJtfvOwgrdf981dDMqLshfqHTq9iPWoJSX4oG6j7nRXgDE8EUp
ukAlMTihUtZZCsnPGuDFfGEs9wKBgQC/DBq6zHWr+X5B5/EhDxo4bcv5h914E/Yv
Vu1HcQJuodCRHLSha5fUW4IiGp4mqFFS+pBU+QLq+ue8S7JimpPZ1h/nLJtdmLXt
ZEaOzlVPKALOISS3LkTsmkXbqcVXoeFgQ4Z2jUOgM85sORItsGAoDidxNrzkGzr6
SUJn4Qo33QKBgF+SCeAq7Blk0Lp1al1k4KERxOQ28Ezt41agC+yYFe2kxCVUeNu8
qANbOAiWeouH+2/EfDmBguxyLt5e0/W0xSqhK5jSnNZSEMvvgEL+FTEYI3A/7frk
XP7nIX4wTit4+VXxVu7qTj7yzEAXCUyZoYdHKgbytyLdwZ+f6h72+yCNAoGAN/tQ
CdTH1nDxclaI7esC/+4Miz4ow3r19MFAHmMbF1gLSbpjo7lncC6wX1X1adaAnhQW
HxAorrp/FUoJJ6OsF3ULPC5yCGcrSDjOBCKqFNvglo5Xt+WzBLHgLpH85cTlydN/
n1Wdr1/+6O+ASCsawiIDpMUpbJ4eFiFJeC8VU3ECgYEAnH1xNddzEMemTKahkvpt
OHOvOYGQzCnSa/GBmpyV1S6BcQUMWDwkbVEMEfYgqjw16uJpmwPl70B9v+i/6pXj
yJh9z28yiTDqomk5w9HGvTvS+FCeI7N1OAl23QEZ3oQCXc0p2GAEeC7M+Z66J+Jf
jWjFjzBh0aLTmftz4V5cBe4=
-----END PRIVATE KEY-----
"""
ES256_KID = "q7AEmTVfHepLl8lYNEhAd0KOBVYvFUMIHx3yLPFUkL4"
RS256_KID = "yYNoVG1YO2sGuqgLBIDbMGyPfmyMi51xviLJ5vszQEw"
ES256_JWK = {
    "crv": "P-256",
    "kty": "EC",
    "x": "pSs9s4ZGeJf8HhPLys2Lg6dPswoEUTBBdKrVC5f7Q50",
    "y": "57NnOeaF0kSqyZdC8tjK4ewANaJgDP6sru7umOzYw3U",
    "kid": "q7AEmTVfHepLl8lYNEhAd0KOBVYvFUMIHx3yLPFUkL4",
    "alg": "ES256",
    "use": "sig",
}
RS256_JWK = {
    "e": "AQAB",
    "kty": "RSA",
    "n": "oaj_cuygBAknzZ1G0nWbHaScsCg0_DgaRVv8bwTB-9xmF-FMCmI2zKKTreej3tgbGtceHJ_XUyMgRjxs2ovd-xkepBZpVDHwkeXI1ByOlZGUy83PovCUpLbvwJwRYBv7w-gR25F30xk6NnYnJIctqbXiJJjQzcUVxB7p9Dz_pLHmZoSAlRO0VqwMvue-mduHOONTGBVCEFvjVVZ7Fy1LraR60wauRcK6AGoSgAFQFMeDopR_CcMzjnnPpqJwTIbX-2hSFdcxcHloAFUXYwZ3waRn1uw_2SVZ1R0F6xItds8W6IMuWK2YcTH6OjkZX9IvlJPG0AphVmwLpoHnGTLiOw",
    "kid": "yYNoVG1YO2sGuqgLBIDbMGyPfmyMi51xviLJ5vszQEw",
    "alg": "RS256",
    "use": "sig",
}
FIXED_JWKS = {"keys": [ES256_JWK, RS256_JWK]}

# Claims {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": NOW, "nbf": NOW,
# "exp": NOW + 3600, "jti": "advisory", "isAdmin": false}, properly signed.
BASELINE_ES256 = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.qv0Uewnev40pusS65sgeBRxKBzmDVqFAcFzeGqAUVCT_EIEcjy5ewyw3CMmaAa911BAvykHsZ94XXy0enBoEZA"
BASELINE_RS256 = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InlZTm9WRzFZTzJzR3VxZ0xCSURiTUd5UGZteU1pNTF4dmlMSjV2c3pRRXcifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.chMtNe2dZ42lRFQpUXJTMZJUc-Euma31U4owF47Ojqsp_Cj-1WfX2hNPQT7qLH4kd3E_diTOqfI-UEh75CVvY-cQy_5Z4Rmxh7Otum8YctXvMuE2cAmBvKm1GERHkLsW_JDgoEP5BCAkaaE9NHfKuxFJBmc6R3ZVJNd2mT9-1nj-exlscvmGn4_E8CAkYTPTIm6A767SyZ6WcgxAQep4vCRzyd2qEq7KXUYO7S97eVyVTInaJDiB4VzZXdJWys6s9Do5qSu-49bApQbZyk5QNetbh3_UX9y5MeTzrRy8pSIEVdF9E0WloXl6RkfAkMQyisODbEipw8h8yYePl9Iqjg"


@pytest.fixture(scope="module")
def verifier() -> TokenVerifier:
    return TokenVerifier(
        JWKSet.from_dict(FIXED_JWKS),
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=FrozenClock(NOW),
        leeway=LEEWAY,
    )


def _rejected(verifier: TokenVerifier, token: object, error: type[TokenError], code: str) -> Any:
    """The exact error class (not merely a subclass of it) and its stable code."""
    with pytest.raises(TokenError) as info:
        verifier.verify(token)
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    assert info.value.code == code
    return info.value


def _lenient_b64decode(segment: str) -> bytes:
    """What a lax decoder does: accept padding, either alphabet and stray trailing bits."""
    bare = segment.rstrip("=")
    return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))


def _signing_input(token: str) -> bytes:
    header, payload, _ = token.split(".")
    return f"{header}.{payload}".encode("ascii")


def _signature(token: str) -> bytes:
    return _lenient_b64decode(token.split(".")[2])


def _header(token: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(_lenient_b64decode(token.split(".")[0]))
    return value


def _signed_by_fixed_es256_key(token: str) -> bool:
    """Whether the token's (leniently decoded) signature verifies under the fixed ES256 key."""
    return import_jwk(ES256_JWK).verify(_signing_input(token), _signature(token))


# --- the fixtures themselves ----------------------------------------------------------------


def test_fixed_private_keys_match_the_published_jwks() -> None:
    assert SigningKey.from_pem(FIXED_ES256_PEM.encode(), "ES256").to_jwk() == ES256_JWK
    assert SigningKey.from_pem(FIXED_RS256_PEM.encode(), "RS256").to_jwk() == RS256_JWK


@pytest.mark.parametrize("token", [BASELINE_ES256, BASELINE_RS256], ids=["ES256", "RS256"])
def test_accepts_the_baseline_tokens_under_the_frozen_clock(
    verifier: TokenVerifier, token: str
) -> None:
    verified = verifier.verify(token)
    assert verified.claims.subject == "user-1"
    assert verified.claims.is_admin is False
    assert verified.claims.expires_at == NOW + 3600


# --- alg "none" ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIiwia2lkIjoicTdBRW1UVmZIZXBMbDhsWU5FaEFkMEtPQlZZdkZVTUlIeDN5TFBGVWtMNCJ9.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.",
            id="none",
        ),
        pytest.param(
            "eyJhbGciOiJOb25lIiwidHlwIjoiSldUIiwia2lkIjoicTdBRW1UVmZIZXBMbDhsWU5FaEFkMEtPQlZZdkZVTUlIeDN5TFBGVWtMNCJ9.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.",
            id="None",
        ),
        pytest.param(
            "eyJhbGciOiJOT05FIiwidHlwIjoiSldUIiwia2lkIjoicTdBRW1UVmZIZXBMbDhsWU5FaEFkMEtPQlZZdkZVTUlIeDN5TFBGVWtMNCJ9.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.",
            id="NONE",
        ),
        pytest.param(
            "eyJhbGciOiJuT25FIiwidHlwIjoiSldUIiwia2lkIjoicTdBRW1UVmZIZXBMbDhsWU5FaEFkMEtPQlZZdkZVTUlIeDN5TFBGVWtMNCJ9.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.",
            id="nOnE",
        ),
    ],
)
def test_rejects_alg_none_any_case(verifier: TokenVerifier, token: str) -> None:
    # Unsecured JWS (RFC 7515 §A.5) with the real kid, an admin payload and an empty signature.
    assert token.endswith(".")
    assert _header(token)["alg"].lower() == "none"
    _rejected(verifier, token, UnsecuredTokenError, "token_alg_none")


# --- algorithm confusion ----------------------------------------------------------------------


def _public_pem(private_pem: str) -> bytes:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize(
    ("token", "secret", "expected"),
    [
        pytest.param(
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.G7x9R2EH2S5xuB2lBQXUr9iTS2dw8OXS7nVCO9s_nvA",
            _public_pem(FIXED_ES256_PEM),
            "ES256",
            id="ES256-public-PEM",
        ),
        pytest.param(
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.b9OF7dIQ1Iyew4BZSXNvQ2aGHBBGU0Yv4TWFa4ldmyM",
            json.dumps(ES256_JWK).encode(),
            "ES256",
            id="ES256-public-JWK",
        ),
        pytest.param(
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InlZTm9WRzFZTzJzR3VxZ0xCSURiTUd5UGZteU1pNTF4dmlMSjV2c3pRRXcifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.1iUcDNDrtP9_E5ekYA0DFIjs_fJZtvUS9BK3xaQ42_Q",
            _public_pem(FIXED_RS256_PEM),
            "RS256",
            id="RS256-public-PEM",
        ),
        pytest.param(
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InlZTm9WRzFZTzJzR3VxZ0xCSURiTUd5UGZteU1pNTF4dmlMSjV2c3pRRXcifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.i9fgQz92HAvp-mvkuAc2VIvW2Qsoq-rPgWIEn79_bSA",
            json.dumps(RS256_JWK).encode(),
            "RS256",
            id="RS256-public-JWK",
        ),
    ],
)
def test_rejects_hs256_key_confusion_with_public_key(
    verifier: TokenVerifier, token: str, secret: bytes, expected: str
) -> None:
    # CVE-2015-9235 style: HMAC keyed with the published public key, which any verifier that
    # lets the header pick the algorithm would accept.
    mac = hmac.new(secret, _signing_input(token), hashlib.sha256).digest()
    assert hmac.compare_digest(mac, _signature(token))
    error = _rejected(verifier, token, AlgorithmMismatchError, "token_alg_mismatch")
    assert error.alg == "HS256"
    assert error.expected == expected


def test_rejects_rs256_header_on_es256_key(verifier: TokenVerifier) -> None:
    # kid of the ES256 key, alg RS256, and a genuine RS256 signature by the (fixed) RSA key.
    token = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.NoY8voIh2SSILU_8ckS8_MW0GRn-a1XA0HlmMLcKH7lC4V3fzXW-vKPJTrfGSnp2ai1xjsoXZ8MFKbT8IHQH96F0Om5VnspL-pbnyqGJkx-P0a4Mx3WWxG5w-gRbm68BKzINGUHV7H_toomVXmhtKnzE8HIaZ9IkieXP4q-DeKyzktrCYNWhO_L9JEj5PQjLJf__ud-TWOnjqZ7ubyo01xlBQjLDLlz4UddsyPdEwpfnPi14v4vy1d2dh3jDlzPwcmacuF2fjcJP_-DPbUdOuaKaExQ_ZpVNu2FQfVDix_ewYo9bP9-uWOX79TF9C5eRwP1rLQNi38T0vRRBlHQm9g"
    assert _header(token)["kid"] == ES256_KID
    error = _rejected(verifier, token, AlgorithmMismatchError, "token_alg_mismatch")
    assert error.alg == "RS256"
    assert error.expected == "ES256"


def test_rejects_ps256_header_on_rs256_key(verifier: TokenVerifier) -> None:
    # Same RSA key, other padding: a genuine PSS signature by the RS256 key.
    token = "eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InlZTm9WRzFZTzJzR3VxZ0xCSURiTUd5UGZteU1pNTF4dmlMSjV2c3pRRXcifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.LDLgimN0o5Y-ubEZp3XsWLpSkqGAgUxB5zKuoapjVgS98ognd0a3xc0_akm7yObN_OK4xerI5eTFkrrWzCxn5uJuKs8-I1bdQAv8g1GbV96U_RddgVxdUTxS3Y718cbkm6hm3dTaX1toSWmhd19PI6Wk1759u9BMax2GMW3glouothIHbgdPnHJSVhUI91wP5Jdq0B6QmipcvsJlcFlwcezDu5tK4FVg340AKhWwAys2MfssvNl3NE3UUpWIkXdWTR9rTMCSQT9jW1GXp87v5lsy9xbfYBdfKmg788IYdC-7JUay5rCjvT-WieksFzKyiYaQweyPE1nYC_2wHzyTbQ"
    rsa_pss = ALGORITHMS["PS256"]
    assert rsa_pss.verify(
        import_jwk(RS256_JWK).public_key, _signing_input(token), _signature(token)
    )
    error = _rejected(verifier, token, AlgorithmMismatchError, "token_alg_mismatch")
    assert error.alg == "PS256"
    assert error.expected == "RS256"


# --- key selection ------------------------------------------------------------------------------


def test_rejects_unknown_kid(verifier: TokenVerifier) -> None:
    token = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImF0dGFja2VyLWtleS0xIn0.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.ZHWrQ_ERlme0KJYGYyRkqi-SQ_J7Kl6w-UTNmH8jpRIRa6JP--3tLaIvMFs2ic-EO9mLDqm9WZeMIH1fxxb3PQ"
    error = _rejected(verifier, token, UnknownKeyError, "token_unknown_kid")
    assert error.kid == "attacker-key-1"


def test_rejects_missing_kid_when_several_keys_are_published(verifier: TokenVerifier) -> None:
    token = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.K1bpD95nmotRbBxIZhhuvReGGE8k6LbtSiIfDWHvks1vND9IvGuLYF8esl5sj9ipODVSX39Mc1TX1iFVOafpJg"
    assert "kid" not in _header(token)
    error = _rejected(verifier, token, UnknownKeyError, "token_unknown_kid")
    assert error.kid is None


def test_rejects_jku_header(verifier: TokenVerifier) -> None:
    token = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQiLCJqa3UiOiJodHRwczovL2F0dGFja2VyLmV4YW1wbGUvLndlbGwta25vd24vandrcy5qc29uIn0.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.Ai0j3nvm2lDYAwyr5DwInl_KveUuEaSQpvO5kK63h7cLRzXzcWqL4oMGZ9xFEM5P23gYSayY85ZTvHS2PB7UrA"
    error = _rejected(verifier, token, ForbiddenHeaderError, "token_header_forbidden")
    assert error.header == "jku"


def test_rejects_x5u_header(verifier: TokenVerifier) -> None:
    token = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQiLCJ4NXUiOiJodHRwczovL2F0dGFja2VyLmV4YW1wbGUvY2VydC5wZW0ifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.Y2t_hb_-WhX1b6CoAaL-6U_0GXlcpdjJyAO-LiV0SoFBsFqReqI3glNTtvZ5OYMFAtyMA5WfeZqwtqofJycdYQ"
    error = _rejected(verifier, token, ForbiddenHeaderError, "token_header_forbidden")
    assert error.header == "x5u"


def test_rejects_embedded_jwk_header_cve_2018_0114(verifier: TokenVerifier) -> None:
    # The attacker embeds their own public key and signs with it: self-consistent, so a
    # verifier that trusts the embedded key accepts it.
    token = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQiLCJqd2siOnsiY3J2IjoiUC0yNTYiLCJrdHkiOiJFQyIsIngiOiJQRjQxQUlici0zaGZHRThKd3A4R2F2UHl0SV80OGpkdS1JNmNheWhnZWJNIiwieSI6IkxKcFNlc1VUVzBFcmgyVTc1Q3Y1clpGRTktNldfaG9wajZILVZhWW1LaFkifX0.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.LLXvE_UZSNbnMiNBNQSHS2Lvy6Q9ADDDdmsb3YLt_JEHIGKN0xqx-ZjQv_7uebugWMnyvifE7un9L9J-tUVWzQ"
    embedded = import_jwk(_header(token)["jwk"], alg="ES256")
    assert embedded.verify(_signing_input(token), _signature(token))
    error = _rejected(verifier, token, ForbiddenHeaderError, "token_header_forbidden")
    assert error.header == "jwk"


def test_rejects_x5c_header(verifier: TokenVerifier) -> None:
    # A self-signed certificate of the attacker's key, which signed the token.
    token = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQiLCJ4NWMiOlsiTUlJQkdEQ0J2NkFEQWdFQ0FnRUJNQW9HQ0NxR1NNNDlCQU1DTUJZeEZEQVNCZ05WQkFNTUMybGtiV2x1ZEM1MFpYTjBNQjRYRFRJMk1ERXdNVEF3TURBd01Gb1hEVE0xTVRJek1EQXdNREF3TUZvd0ZqRVVNQklHQTFVRUF3d0xhV1J0YVc1MExuUmxjM1F3V1RBVEJnY3Foa2pPUFFJQkJnZ3Foa2pPUFFNQkJ3TkNBQVE4WGpVQWh1djdlRjhZVHduQ253WnE4L0swai9qeU4yNzRqcHhyS0dCNXN5eWFVbnJGRTF0Qks0ZGxPK1FyK2EyUlJQZnVsdjRhS1kraC9sV21KaW9XTUFvR0NDcUdTTTQ5QkFNQ0EwZ0FNRVVDSVFDblQ2TVNxemRmLzdtaVpCS0lXaVZUYk4wSzluNjJ1NFFQK2loSmsxV2wwQUlnRGNaSmtOSi91Ukpkbmk5ZGd3aHFONzVJdDdoS0lOVXo0VjJvV0Q2YlpSQT0iXX0.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.q8YEs1F0zdwofHpsTDVIdwN-ZtHtLkGTr5ECeE0ZhQHOiccZ_T8GS6FmaxuK74-bWvFMPzEUgKcsgjlz94cmlw"
    certificate = x509.load_der_x509_certificate(base64.b64decode(_header(token)["x5c"][0]))
    public_key: Any = certificate.public_key()
    assert ALGORITHMS["ES256"].verify(public_key, _signing_input(token), _signature(token))
    error = _rejected(verifier, token, ForbiddenHeaderError, "token_header_forbidden")
    assert error.header == "x5c"


def test_rejects_unencoded_payload_b64_header(verifier: TokenVerifier) -> None:
    # RFC 7797 "b64": false changes what is signed; signed here by the real key.
    token = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQiLCJiNjQiOmZhbHNlLCJjcml0IjpbImI2NCJdfQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.7EbK2fUG8-ubFQkSxEWxfe_m0HleAWNbWlAgXCIL7lIim3FGS4qH2VzhOgyx3K0j_tYs-bNQladphqFYolo2Aw"
    error = _rejected(verifier, token, ForbiddenHeaderError, "token_header_forbidden")
    assert error.header == "b64"


def test_rejects_unknown_crit_extension(verifier: TokenVerifier) -> None:
    # Properly signed by the real key: only the must-understand extension is wrong.
    token = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQiLCJjcml0IjpbInVybjpleGFtcGxlOm11c3QtdW5kZXJzdGFuZCJdLCJ1cm46ZXhhbXBsZTptdXN0LXVuZGVyc3RhbmQiOnRydWV9.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.WwgjX2Vm48QSDhzSxbDy8NjqLnUaTZ6_e-r5T45jsRTDxWQ0rq-bHtuw6u9-6U9OUZG68zF-2Mlu3aOPLsmhAw"
    assert _signed_by_fixed_es256_key(token)
    assert _header(token)["crit"] == ["urn:example:must-understand"]
    _rejected(verifier, token, UnsupportedCriticalError, "token_crit_unsupported")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.BORJCmbPhdcAwcgTrzcegaUVWLwjuRZR8_50w_q2t4VsJXz82BEbwP92c--3UAakW48WZYpTGyOvHwQfxjqAOA",
            id="at+jwt",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXRSIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.nJdV5D36t0pomG9-bEZ70SwG9GorOPHLUUFZAG8S7FVwD0XiGQB4r1cMaBrBSRjvwDtftMT8Z6hlTXQu6bNuMg",
            id="JWE",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpPU0UrSlNPTiIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.YkledXljoi8ckDVMCB26GWbF2UL1JRG6OYNfjDpLHtbOKhHKjUMBNvqldX49HAfVN15BVgwvmueiRsEgnX11eg",
            id="JOSE+JSON",
        ),
    ],
)
def test_rejects_wrong_typ(verifier: TokenVerifier, token: str) -> None:
    # Properly signed by the real key: a token of another type must not pass as a user token.
    assert _signed_by_fixed_es256_key(token)
    _rejected(verifier, token, InvalidTokenTypeError, "token_typ_invalid")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6Imp3dCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.l9X2CpKX_K_3Up61d5UVKwvL4fKcF_461PaeXcII7JCACvurDJy7Fxik7SAu9eWU4ldle06ziWkYW9Thw-w4QA",
            id="jwt",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6ImFwcGxpY2F0aW9uL2p3dCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.XVdtNE0J9xHi3u1eCfTxI4som2W7HSa5x2cLZoReRkSacJlzrbup9fNDK7MEBeVlrWWpC7eXF3SiS6YyvLWxYA",
            id="application/jwt",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.wDoNMKXYbvkt1wknX7vS7YxvU6kIP2f0UvyLOa8TbuQQB8dHV7G2i4G5eCwZT1lXzrSOKxM9Vq8gG3lBQrC31w",
            id="absent",
        ),
    ],
)
def test_accepts_jwt_typ_in_any_spelling_and_absent_typ(
    verifier: TokenVerifier, token: str
) -> None:
    assert isinstance(verifier.verify(token), VerifiedToken)


# --- signatures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.qv0Uewnev40pusS65sgeBRxKBzmDVqFAcFzeGqAUVCT_EIEcjy5ewyw3CMmaAa911BAvykHsZ94XXy0enBoEZA",
            id="payload-swapped-under-baseline-signature",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.saXw0emNWdmnEyFuSh7SNRmVl3gCu1oDu3yNfbkot5l9HjZ1Ai_6PP4GsqCruKMDL_T9uMjzyTa03Kz4qLr6aA",
            id="signed-by-another-key",
        ),
    ],
)
def test_rejects_bad_signature(verifier: TokenVerifier, token: str) -> None:
    _rejected(verifier, token, InvalidSignatureError, "token_signature_invalid")


# Claims of the baseline but "sub": "admin", "isAdmin": true; the out-of-range and mis-sized
# signatures below are derived from this token's genuine signature (r, s).
ADMIN_TOKEN = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.IXnkE7tIWX6zrh76UXgyjnWk-R6oSqDobt3GnhTmuWh59h4AEEm2M5YiXmWkQqaOeNRRIEi9kBW-whTXtjsQ7Q"


def test_accepts_the_genuine_signature_the_ecdsa_variants_derive_from(
    verifier: TokenVerifier,
) -> None:
    claims = verifier.verify(ADMIN_TOKEN).claims
    assert (claims.subject, claims.is_admin) == ("admin", True)


def test_rejects_psychic_signature_cve_2022_21449(verifier: TokenVerifier) -> None:
    # r = 0, s = 0: Java 15-18 accepted it for any message and any key.
    token = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    assert _signing_input(token) == _signing_input(ADMIN_TOKEN)
    assert _signature(token) == bytes(64)
    _rejected(verifier, token, InvalidSignatureError, "token_signature_invalid")


@pytest.mark.parametrize(
    ("token", "r_is", "s_is"),
    [
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9._____wAAAAD__________7zm-q2nF56E87nKwvxjJVF59h4AEEm2M5YiXmWkQqaOeNRRIEi9kBW-whTXtjsQ7Q",
            "n",
            "genuine",
            id="r=n",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.IXnkE7tIWX6zrh76UXgyjnWk-R6oSqDobt3GnhTmuWj_____AAAAAP__________vOb6racXnoTzucrC_GMlUQ",
            "genuine",
            "n",
            id="s=n",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9._____wAAAAD__________7zm-q2nF56E87nKwvxjJVH_____AAAAAP__________vOb6racXnoTzucrC_GMlUQ",
            "n",
            "n",
            id="r=s=n",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB59h4AEEm2M5YiXmWkQqaOeNRRIEi9kBW-whTXtjsQ7Q",
            "0",
            "genuine",
            id="r=0",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.IXnkE7tIWX6zrh76UXgyjnWk-R6oSqDobt3GnhTmuWgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "genuine",
            "0",
            id="s=0",
        ),
    ],
)
def test_rejects_ecdsa_signature_with_r_or_s_zero_or_equal_to_the_group_order(
    verifier: TokenVerifier, token: str, r_is: str, s_is: str
) -> None:
    # r = n is r = 0 modulo n: the psychic signature in disguise.
    genuine = _signature(ADMIN_TOKEN)
    expected = {
        "n": P256_ORDER.to_bytes(32, "big"),
        "0": bytes(32),
    }
    signature = _signature(token)
    assert _signing_input(token) == _signing_input(ADMIN_TOKEN)
    assert signature[:32] == expected.get(r_is, genuine[:32])
    assert signature[32:] == expected.get(s_is, genuine[32:])
    _rejected(verifier, token, InvalidSignatureError, "token_signature_invalid")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.IXnkE7tIWX6zrh76UXgyjnWk-R6oSqDobt3GnhTmuWh59h4AEEm2M5YiXmWkQqaOeNRRIEi9kBW-whTXtjsQ7QA",
            id="65-bytes-trailing-zero",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.ACF55BO7SFl-s64e-lF4Mo51pPkeqEqg6G7dxp4U5rloefYeABBJtjOWIl5lpEKmjnjUUSBIvZAVvsIU17Y7EO0",
            id="65-bytes-leading-zero",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoiYWRtaW4iLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOnRydWV9.MEQCICF55BO7SFl-s64e-lF4Mo51pPkeqEqg6G7dxp4U5rloAiB59h4AEEm2M5YiXmWkQqaOeNRRIEi9kBW-whTXtjsQ7Q",
            id="DER",
        ),
    ],
)
def test_rejects_ecdsa_signature_of_65_bytes_or_der_encoded(
    verifier: TokenVerifier, token: str
) -> None:
    # The same genuine (r, s), in a form JWS does not allow (RFC 7518 §3.4: exactly r || s).
    signature = _signature(token)
    assert len(signature) != 64
    assert _signing_input(token) == _signing_input(ADMIN_TOKEN)
    _rejected(verifier, token, InvalidSignatureError, "token_signature_invalid")


# --- canonical base64url ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "segment"),
    [
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQiLCJub3RlIjoifn5-In0=.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.IcaiDWQK9bb0wug5TIwjiPONswQgHWOxmtEOzjhRAEkxgz1RnbsZHbb0zThzuj3ld396vsfhUipap-b-oPIu_g",
            0,
            id="header-padding",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQiLCJub3RlIjoifn5+In0.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.pIlZqE2EAVHml4pQ5UflkxbeIA-MkaxqRdvLN2ehX2eBS6YbbKGmE1jrqYK_-kC7Acxs8o0cntwrDEu4F8QCRw",
            0,
            id="header-plus-slash",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQiLCJub3RlIjoifn5-In1.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.MPlUpfrXRRuJavUwJFKGNoJy_Nd3AuxSGLRv6756jXqoCwcbcIPgEcfqTfGNaGqjhjChnaxJ5ykXZwF6BGY7-w",
            0,
            id="header-trailing-bits",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZSwiZW1haWwiOiJhbm5-QGV4YW1wbGUuY29tIn0=.-nFZYNxTGbQAT3h-msRrvmc9s_gV_2_t751JxGzfD2LDd8OkiDV2FDD0AB756OJmqPf7G99a0bfUve1cWwkPcw",
            1,
            id="payload-padding",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZSwiZW1haWwiOiJhbm5+QGV4YW1wbGUuY29tIn0.PyaIQ_tq111g8QlKj1o-onIWWnBS7QCPAlFIzVM7duK7YGWcqfqoHPXtcVD7p_Gvf5L45QhzDwXMc9AkTRoCqw",
            1,
            id="payload-plus-slash",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZSwiZW1haWwiOiJhbm5-QGV4YW1wbGUuY29tIn1.Sit9P2bNWdpB9640mDGwsoreGLTBgY9J79l3Oim101XbaIN61QKK8y2p2Ozvj36rOu3nGFFB-D9kTx5eHam9Ig",
            1,
            id="payload-trailing-bits",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.CZTJGFQ-TOylQKUtPYYOtqdG6MKQlwTG6N_uC0f2ef28k_kkkA59xEdvjeEJMJxX8U9-9EHklly6q6Zs0aniEQ==",
            2,
            id="signature-padding",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.UpybxLbu+Kc49XC1Xkuwtl7m73T3d/Xe97d356raoT0o1NH5Av03Z3zTZ2tf+v5VrTVzrUA8UE/AIr/J1p1FTA",
            2,
            id="signature-plus-slash",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.RS0K9no12tVvBEQ0zO2bR_ybQc-MVNlmBXfquCDwhsXsVFxapH-rpHFY_gAknRePXe6DJ7NPuyVMSXb00CeS8x",
            2,
            id="signature-trailing-bits",
        ),
    ],
)
def test_rejects_non_canonical_base64url(verifier: TokenVerifier, token: str, segment: int) -> None:
    # Each token is validly signed over its own text by the real key, so a lenient decoder
    # accepts it; the one segment is merely spelled non-canonically.
    text = token.split(".")[segment]
    canonical = base64.urlsafe_b64encode(_lenient_b64decode(text)).decode().rstrip("=")
    assert text != canonical
    assert _signed_by_fixed_es256_key(token)
    _rejected(verifier, token, MalformedTokenError, "token_malformed")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQiLCJub3RlIjoifn5-In0.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.1YejB8kaT1vzbrtxfCt_oBEPCbJ_EkPi4FTltv6eGGGD-qHbjZQi9Ul7Xe4cvPmzpXAuBogbKLl8vQZKU2zP6Q",
            id="header",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZSwiZW1haWwiOiJhbm5-QGV4YW1wbGUuY29tIn0.eAfTD0PakSiOjgceVyx187Ye7DQDaHh7Plk0YSy2Jl0XyeYSWw64s6IIwcN0dBKK77De05iDWHBbZ0jZHdxYew",
            id="payload",
        ),
    ],
)
def test_accepts_the_canonical_spelling_of_the_non_canonical_segments(
    verifier: TokenVerifier, token: str
) -> None:
    # The same header ({"note": "~~~"} makes "-" appear) and payload, canonically spelled.
    assert isinstance(verifier.verify(token), VerifiedToken)


# --- size caps, checked before anything is decoded ----------------------------------------------

_HEADER, _PAYLOAD, _SIGNATURE = BASELINE_ES256.split(".")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("!" * 8193, id="garbage"),
        pytest.param(f"{_HEADER}.{'A' * 7000}.{'A' * 1200}", id="long-token"),
        pytest.param(b"!" * 8193, id="bytes"),
    ],
)
def test_rejects_oversize_token_before_parsing(verifier: TokenVerifier, token: str) -> None:
    # "!" is not even base64url: had anything been parsed, the error would be token_malformed.
    error = _rejected(verifier, token, TokenTooLargeError, "token_too_large")
    assert (error.part, error.limit) == ("token", 8192)


def test_rejects_oversize_bytes_token_before_decoding_it(verifier: TokenVerifier) -> None:
    # A bytes token over the cap is refused for its size, before it is decoded as ASCII:
    # a huge non-ASCII blob must not cost a full decode, nor be reported as merely malformed.
    token = b"\xff" * 8193
    error = _rejected(verifier, token, TokenTooLargeError, "token_too_large")
    assert (error.part, error.limit) == ("token", 8192)


def test_rejects_oversize_header_before_parsing(verifier: TokenVerifier) -> None:
    token = f"{'!' * 1025}.{_PAYLOAD}.{_SIGNATURE}"
    error = _rejected(verifier, token, TokenTooLargeError, "token_too_large")
    assert (error.part, error.limit) == ("header", 1024)


def test_rejects_oversize_payload_before_parsing(verifier: TokenVerifier) -> None:
    token = f"{_HEADER}.{'!' * 6145}.{_SIGNATURE}"
    error = _rejected(verifier, token, TokenTooLargeError, "token_too_large")
    assert (error.part, error.limit) == ("payload", 6144)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(f"{'!' * 1024}.{_PAYLOAD}.{_SIGNATURE}", id="header-of-1024"),
        pytest.param(f"{_HEADER}.{'!' * 6144}.{_SIGNATURE}", id="payload-of-6144"),
        pytest.param(
            f"{_HEADER}.{'!' * 6144}.{'!' * (8192 - len(_HEADER) - 6144 - 2)}", id="token-of-8192"
        ),
    ],
)
def test_size_caps_admit_tokens_exactly_at_the_limit(verifier: TokenVerifier, token: str) -> None:
    # At the cap the token is parsed (and fails as malformed), not refused for its size.
    _rejected(verifier, token, MalformedTokenError, "token_malformed")


# --- time claims --------------------------------------------------------------------------------


def test_rejects_token_without_exp(verifier: TokenVerifier) -> None:
    token = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImp0aSI6ImFkdmlzb3J5IiwiaXNBZG1pbiI6ZmFsc2V9._1LwzzXh6p2gaN55oXZjOHlliLV8bl_Jd5X47u2qjr0DyPuk6ja7ApH4thYs2dcR3bkZphBZxRYQePWwceplhg"
    error = _rejected(verifier, token, MissingClaimError, "token_claim_missing")
    assert error.claim == "exp"


def test_rejects_token_expired_beyond_the_leeway(verifier: TokenVerifier) -> None:
    token = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxNzk5OTk2MzY5LCJuYmYiOjE3OTk5OTYzNjksImV4cCI6MTc5OTk5OTk2OSwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.6-2_1atSGTaLVmKYfV8oEdjbx2In8LcY-eMi1k2NTU_YFoXmgPnBB7CJJQ_dZwpL8hyZVmbKS0sFN6LdyuCNiA"  # exp = NOW - 31
    error = _rejected(verifier, token, TokenExpiredError, "token_expired")
    assert error.expired_at == datetime.fromtimestamp(NOW - 31, UTC)
    assert error.claim == "exp"


EXPIRED_29_SECONDS_AGO = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxNzk5OTk2MzcxLCJuYmYiOjE3OTk5OTYzNzEsImV4cCI6MTc5OTk5OTk3MSwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.5YKl6RsMl_tDJkoYx7DAme6tZJOy52S2Jfm4jgDcnlIrIddiONFZwxXUN17nolAw1bErI8vkf5Sb7hO0DegXow"  # exp = NOW - 29


def test_accepts_token_expired_within_the_leeway(verifier: TokenVerifier) -> None:
    assert verifier.verify(EXPIRED_29_SECONDS_AGO).claims.expires_at == NOW - 29


def test_rejects_token_once_exactly_the_leeway_has_passed_after_exp() -> None:
    later = TokenVerifier(
        JWKSet.from_dict(FIXED_JWKS),
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=FrozenClock(NOW + 1),  # now == exp + 30
        leeway=LEEWAY,
    )
    error = _rejected(later, EXPIRED_29_SECONDS_AGO, TokenExpiredError, "token_expired")
    assert error.expired_at == datetime.fromtimestamp(NOW - 29, UTC)


def test_rejects_nbf_in_the_future_beyond_the_leeway(verifier: TokenVerifier) -> None:
    token = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMzEsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.1PlaYfhXSSkv7OuhgUFMoudoYg-O2FnfCMTn0K_22Ji2pRcq5-_nNeSTTi4nJtL9tISnR2WtOmwoZQXNVhae_w"  # nbf = NOW + 31
    error = _rejected(verifier, token, TokenNotYetValidError, "token_not_yet_valid")
    assert error.not_before == datetime.fromtimestamp(NOW + 31, UTC)


def test_rejects_iat_in_the_future_beyond_the_leeway(verifier: TokenVerifier) -> None:
    token = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDMxLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.Vl8D0sWjqL7NcSkrWU_16PGSwJQBUhDbRIHL4Ys3hgMUeJ0_yBNZ65SqblP1_HCldTjVSz4yTaBKHSXj2SF8Aw"  # iat = NOW + 31
    error = _rejected(verifier, token, TokenIssuedInFutureError, "token_issued_in_future")
    assert error.issued_at == datetime.fromtimestamp(NOW + 31, UTC)


def test_accepts_nbf_and_iat_in_the_future_within_the_leeway(verifier: TokenVerifier) -> None:
    token = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDI5LCJuYmYiOjE4MDAwMDAwMjksImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.bEqXHgTG8o9oBfPvlZc6PsTqDABMjXaOnEzk8pp2ihcQsutn_zvoW2a0bPyNhfeHaXgy91904W3oDZ01oHTpAw"  # iat = nbf = NOW + 29
    claims = verifier.verify(token).claims
    assert claims.not_before == claims.issued_at == NOW + 29


@pytest.mark.parametrize(
    ("token", "claim"),
    [
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJleHAiOjFlNDAwfQ.H9fJ0s9bJgNQvzqwwIDE-HSEban5gNkKF3dNNf4YaJA3ZnHckeEGNBNyaeXHdDN4h-YVr9do3Ylzqb1Gt2KK1A",
            "exp",
            id="exp=1e400",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiZXhwIjotMWUyMH0.6C0Tgnw4u9hWKvbBgNslo6zeHso4-yph1Z5ut5fDzRYulXZO940np7lCLY0MjFxjRzSdNNPugOUYCx6kryoZIg",
            "exp",
            id="exp=-1e20",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiZXhwIjoxODAwMDAzNjAwLCJuYmYiOjEwMDAwMDAwMDAwMDAwMDAwMDAwMH0.Sg5nfH4Hl0bpuw27tmvv0gvZ7Qm82CEoDPM8-oTpxk4mVGIxTz6Wt1NUjQiJnAPlDoesVGk4tKb7ZtKvqO6fIQ",
            "nbf",
            id="nbf=1e20",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiZXhwIjoxODAwMDAzNjAwLCJpYXQiOi0xZTQwMH0.mAPADQp5ORv4rDbdwFU4Rb1YypoxcVVBhoavVQqumgDkOHMEE1JkBwwNo8tZf3LrimebWh6skFLr6l9sN2DdMw",
            "iat",
            id="iat=-1e400",
        ),
    ],
)
def test_rejects_non_finite_or_unrepresentable_numeric_dates(
    verifier: TokenVerifier, token: str, claim: str
) -> None:
    # Properly signed; JSON "1e400" parses as float infinity and 1e20 seconds is past year 9999.
    # Such a NumericDate must fail as a claim error on that claim, never crash verify.
    assert _signed_by_fixed_es256_key(token)
    with pytest.raises(ClaimError) as info:
        verifier.verify(token)
    assert info.value.claim == claim


# --- audience and issuer -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX290aGVyIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.tqMNa3p92X-guoGtWiw8sfLr8Z6kykdIM8-Zx3IBGt23p851aERk7HrL1GKxOCTNcmOc_mRoKNojC5fkscDiqw",
            id="string-other",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6IlBLX1RFU1RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.U3tYw3ZtbIHOJ6xe3VuKvuNDNjYLZI5t1NGqY6Apb3mMacLc8thl8mMIYMCU-LzFL5V2-niMZOzLY03j6pVmLg",
            id="string-other-case",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIiLCJzdWIiOiJ1c2VyLTEiLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOmZhbHNlfQ.4Y--PBHbr8Dc0jC2liB-f50RRZaL6GVtWnaE-Q07xEtCHLIltfkbeQJSfkDmXeVR4t8ojvGgeJQr8Zj67J_Mxw",
            id="string-prefix",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6WyJwa19vdGhlciIsImh0dHBzOi8vaWRtaW50LnRlc3QiXSwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.r8hSVv5mm9JQ0t2BbDQxuHzRzZIu3HMpTge1kR603Vxtx8sJyahkTKuIHyvrZIpTdVrAdSiQGgw2DhvZ5y2tZg",
            id="array-without",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6W10sInN1YiI6InVzZXItMSIsImlhdCI6MTgwMDAwMDAwMCwibmJmIjoxODAwMDAwMDAwLCJleHAiOjE4MDAwMDM2MDAsImp0aSI6ImFkdmlzb3J5IiwiaXNBZG1pbiI6ZmFsc2V9.DZXDw3_c_XgwgPyVyjkIW7EWmgApoQ8Y1ns4dablse4HoGePZ1zHW-Ejs-TTX7AcntTZSNi2Nj7KcK2GIFwgrg",
            id="array-empty",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6WyJQS19URVNUXzEyMyJdLCJzdWIiOiJ1c2VyLTEiLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOmZhbHNlfQ.BZOUdweZsdwSBwKPmuhJ_eY7KHrya5H3cpBBtLa-o6Lys570VN4JdVP0LOznEjmVsVjSWhtGvtSbxhFqCNWu3A",
            id="array-other-case",
        ),
    ],
)
def test_rejects_audience_without_the_expected_value(verifier: TokenVerifier, token: str) -> None:
    _rejected(verifier, token, InvalidAudienceError, "token_audience_invalid")


def test_accepts_audience_array_containing_the_expected_value(verifier: TokenVerifier) -> None:
    token = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6WyJwa19vdGhlciIsInBrX3Rlc3RfMTIzIl0sInN1YiI6InVzZXItMSIsImlhdCI6MTgwMDAwMDAwMCwibmJmIjoxODAwMDAwMDAwLCJleHAiOjE4MDAwMDM2MDAsImp0aSI6ImFkdmlzb3J5IiwiaXNBZG1pbiI6ZmFsc2V9.hLgc9mKBRFN4eOdPT5ReEHeQCyBJV33TNv3s-B5Xl3ICx5Q0w8aBxOqvajTfRA46En8_nBbqiabIOCxyUAjZ8A"
    assert verifier.verify(token).claims.audience == ("pk_other", AUDIENCE)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdC8iLCJhdWQiOiJwa190ZXN0XzEyMyIsInN1YiI6InVzZXItMSIsImlhdCI6MTgwMDAwMDAwMCwibmJmIjoxODAwMDAwMDAwLCJleHAiOjE4MDAwMDM2MDAsImp0aSI6ImFkdmlzb3J5IiwiaXNBZG1pbiI6ZmFsc2V9.SXro0AUxkU-10dZZlCbQVNtXmrJhPGuALb1LQza8aqbKC2fWMRFJjdLGwTKtokChHO2pgTd177vy5H3vSboCRg",
            id="trailing-slash",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL0lETUlOVC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.3Zc2WyjL3H1zSXr7wMy7qOU_hMUPhK6-AGJcesr6qBOCohVSuD0wLjVIlZ6kA8mwRIYYfc-7qRUf7dQlKeqk4A",
            id="host-case",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvV1NfVEVTVCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.aFouchmm2ylUQZGn3Cvn9UOVLySZjaOgL2fkvTQmrb-m1b1xMWqZwn8BjA6cq-qvJP_Ic4-Sfpp9ijUwubo7mg",
            id="path-case",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCAiLCJhdWQiOiJwa190ZXN0XzEyMyIsInN1YiI6InVzZXItMSIsImlhdCI6MTgwMDAwMDAwMCwibmJmIjoxODAwMDAwMDAwLCJleHAiOjE4MDAwMDM2MDAsImp0aSI6ImFkdmlzb3J5IiwiaXNBZG1pbiI6ZmFsc2V9.nGk9c6dt_a7uiEaSc1qrGlrVthJpr984Dt1PMQWyEZ8S1ud3gYTl_uBOJbz_0RbHEjbBQY4TEuaMUQfKx3gpRA",
            id="trailing-space",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwOi8vaWRtaW50LnRlc3Qvdy93c190ZXN0IiwiYXVkIjoicGtfdGVzdF8xMjMiLCJzdWIiOiJ1c2VyLTEiLCJpYXQiOjE4MDAwMDAwMDAsIm5iZiI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAzNjAwLCJqdGkiOiJhZHZpc29yeSIsImlzQWRtaW4iOmZhbHNlfQ.qdUx9JjxWPlxIIny2CbjLx3OCN8IHZvrAmOhkA03bbxjVlARltWGXPHDVbADfEp6SFRygDhU9pvGTdmbsBHpEw",
            id="http-scheme",
        ),
    ],
)
def test_rejects_issuer_not_exactly_equal(verifier: TokenVerifier, token: str) -> None:
    _rejected(verifier, token, InvalidIssuerError, "token_issuer_invalid")


# --- JSON ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            "eyJhbGciOiJub25lIiwiYWxnIjoiRVMyNTYiLCJ0eXAiOiJKV1QiLCJraWQiOiJxN0FFbVRWZkhlcExsOGxZTkVoQWQwS09CVll2RlVNSUh4M3lMUEZVa0w0In0.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.LgPvoq1x4PZeOazeGvsmS3ngJQ-5bY3c98g0jMegNpGiiQ8EXOOg1011ZDTAVfd0o6uCVHJgh-Pc_tnKuptdaQ",
            id="header-alg-none-then-ES256",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQiLCJraWQiOiJxN0FFbVRWZkhlcExsOGxZTkVoQWQwS09CVll2RlVNSUh4M3lMUEZVa0w0In0.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZX0.D1nPTJm6p7j2uVBr1mHvX1RXVJ1XOxT92t6k-sr5yGWXtdqczL96pKbDDrRhOqojxi7rjXFxRSQ64wuCbCQpVA",
            id="header-kid-twice",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZSwiaXNBZG1pbiI6dHJ1ZX0.fA5yEX5TvqIsRmF7j3-JSx3OKFskD3QZIL_w79CuIjogwQ-U5RfbtKZ5Yy8nfYEu-Oiq5Fdd2E30RTXzK_cGSQ",
            id="payload-isAdmin-false-then-true",
        ),
        pytest.param(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InE3QUVtVFZmSGVwTGw4bFlORWhBZDBLT0JWWXZGVU1JSHgzeUxQRlVrTDQifQ.eyJpc3MiOiJodHRwczovL2lkbWludC50ZXN0L3cvd3NfdGVzdCIsImF1ZCI6InBrX3Rlc3RfMTIzIiwic3ViIjoidXNlci0xIiwiaWF0IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAwMzYwMCwianRpIjoiYWR2aXNvcnkiLCJpc0FkbWluIjpmYWxzZSwic3ViIjoiYWRtaW4ifQ.EOwGBmGb7kneXFOoDVJUvkohg3ApB3hOr1sJTNfprcLvNb2jihrnNiDJDWVN9chGl4zFTwHd-pIUBMNDFZ5hvw",
            id="payload-sub-user-then-admin",
        ),
    ],
)
def test_rejects_duplicate_json_member_names(verifier: TokenVerifier, token: str) -> None:
    # Properly signed by the real key; parsers that keep the first or the last value disagree.
    assert _signed_by_fixed_es256_key(token)
    _rejected(verifier, token, MalformedTokenError, "token_malformed")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            {
                "protected": _HEADER,
                "payload": _PAYLOAD,
                "signature": _SIGNATURE,
            },
            id="flattened-dict",
        ),
        pytest.param(
            {
                "payload": _PAYLOAD,
                "signatures": [{"protected": _HEADER, "signature": _SIGNATURE}],
            },
            id="general-dict",
        ),
        pytest.param(
            json.dumps({"protected": _HEADER, "payload": _PAYLOAD, "signature": _SIGNATURE}),
            id="flattened-json-text",
        ),
    ],
)
def test_rejects_json_serialization_instead_of_compact(
    verifier: TokenVerifier, token: object
) -> None:
    # The baseline's own valid header, payload and signature, in JWS JSON Serialization.
    _rejected(verifier, token, MalformedTokenError, "token_malformed")
