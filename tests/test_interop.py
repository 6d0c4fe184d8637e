"""Interoperability with PyJWT and joserfc, in both directions, through the exported JWKS.

Tokens idmint mints must verify with two independent JOSE libraries that know nothing but the
published JWK set; tokens those libraries sign with idmint's private key (and the right ``kid``)
must verify with :class:`idmint.TokenVerifier`.  The JWKS itself must hold public members only,
and every ``kid`` must be the RFC 7638 thumbprint that joserfc computes on its own.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from joserfc import jwk as jose_jwk
from joserfc import jwt as jose_jwt
from joserfc.errors import InvalidClaimError, SecurityWarning
from joserfc.jwt import JWTClaimsRegistry

from idmint import (
    FrozenClock,
    JWKSet,
    KeyRing,
    KeyState,
    SigningKey,
    TokenMinter,
    TokenVerifier,
    thumbprint,
)

ALGORITHMS = ["EdDSA", "ES256", "RS256", "PS256"]
ISSUER = "https://idmint.test/w/ws_interop"
AUDIENCE = "pk_test_interop"
FIXED_NOW = 1_800_000_000
LEEWAY = 30

# The members a public signature JWK may carry, per key type (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2).
PUBLIC_MEMBERS = {
    "EC": {"kty", "crv", "x", "y", "kid", "alg", "use"},
    "OKP": {"kty", "crv", "x", "kid", "alg", "use"},
    "RSA": {"kty", "n", "e", "kid", "alg", "use"},
}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
KTY = {"EdDSA": "OKP", "ES256": "EC", "RS256": "RSA", "PS256": "RSA"}


@pytest.fixture(scope="module")
def signing_keys() -> dict[str, SigningKey]:
    """One key per algorithm, generated once for the module (RSA generation is slow)."""
    return {alg: SigningKey.generate(alg) for alg in ALGORITHMS}


@pytest.fixture(scope="module")
def rings(signing_keys: dict[str, SigningKey]) -> dict[str, KeyRing]:
    """Per algorithm, a ring where that key is active and the three others are published too.

    Four keys in every JWKS make the lookup by ``kid`` meaningful on the other library's side.
    """
    result = {}
    for alg in ALGORITHMS:
        members = []
        for other, key in signing_keys.items():
            state = KeyState.ACTIVE if other == alg else KeyState.NEXT
            members.append(key.with_state(state))
        result[alg] = KeyRing(members)
    return result


@pytest.fixture(scope="module")
def current_tokens(rings: dict[str, KeyRing]) -> dict[str, str]:
    """Tokens minted at the real current time: PyJWT checks exp/nbf/iat against the wall clock."""
    clock = FrozenClock(time.time())
    return {
        alg: TokenMinter(ring, issuer=ISSUER, audience=AUDIENCE, clock=clock)
        .mint("user-1", organization_id="org-1", email="ann@example.com", is_admin=True)
        .token
        for alg, ring in rings.items()
    }


def _joserfc_warnings(alg: str) -> contextlib.AbstractContextManager[Any]:
    """joserfc flags the "EdDSA" name as deprecated by RFC 9864 (in favour of "Ed25519")."""
    if alg == "EdDSA":
        return pytest.warns(SecurityWarning, match="EdDSA is deprecated")
    return contextlib.nullcontext()


def _pem(key: SigningKey) -> bytes:
    return key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _spki(public_key: Any) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _third_party_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-3p",
        "iat": FIXED_NOW,
        "nbf": FIXED_NOW,
        "exp": FIXED_NOW + 600,
        "jti": "third-party-1",
        "organizationId": "org-3p",
        "email": "bob@example.com",
        "isAdmin": False,
    }
    claims.update(overrides)
    return claims


def _our_verifiers(ring: KeyRing) -> Iterator[TokenVerifier]:
    """A verifier over the ring itself and one over the JWKS document it exports."""
    for resolver in (ring, JWKSet.from_dict(ring.jwks())):
        yield TokenVerifier(
            resolver,
            issuer=ISSUER,
            audience=AUDIENCE,
            clock=FrozenClock(FIXED_NOW),
            leeway=LEEWAY,
        )


# --- idmint mints, PyJWT verifies -------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_pyjwt_verifies_our_tokens_through_the_exported_jwks(
    alg: str, rings: dict[str, KeyRing], current_tokens: dict[str, str]
) -> None:
    ring, token = rings[alg], current_tokens[alg]
    jwk_set = jwt.PyJWKSet.from_dict(ring.jwks())
    kid = jwt.get_unverified_header(token)["kid"]
    assert kid == ring.active.kid

    claims = jwt.decode(
        token,
        jwk_set[kid],
        algorithms=[alg],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]},
    )

    assert claims["sub"] == "user-1"
    assert claims["organizationId"] == "org-1"
    assert claims["email"] == "ann@example.com"
    assert claims["isAdmin"] is True


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_pyjwt_verifies_our_tokens_with_the_single_exported_pyjwk(
    alg: str, rings: dict[str, KeyRing], current_tokens: dict[str, str]
) -> None:
    ring = rings[alg]
    (member,) = [jwk for jwk in ring.jwks()["keys"] if jwk["kid"] == ring.active.kid]
    key = jwt.PyJWK(member)
    assert key.algorithm_name == alg

    claims = jwt.decode(
        current_tokens[alg], key, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER
    )

    assert claims["sub"] == "user-1"


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_pyjwt_rejects_our_tokens_for_another_audience_or_issuer(
    alg: str, rings: dict[str, KeyRing], current_tokens: dict[str, str]
) -> None:
    # Guards the two tests above: PyJWT really checks what they pass it.
    key = jwt.PyJWKSet.from_dict(rings[alg].jwks())[rings[alg].active.kid]
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(current_tokens[alg], key, algorithms=[alg], audience="pk_other", issuer=ISSUER)
    with pytest.raises(jwt.InvalidIssuerError):
        jwt.decode(
            current_tokens[alg], key, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER + "/"
        )


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_pyjwt_rejects_our_tokens_under_another_pinned_algorithm(
    alg: str, rings: dict[str, KeyRing], current_tokens: dict[str, str]
) -> None:
    other = {"EdDSA": "ES256", "ES256": "EdDSA", "RS256": "PS256", "PS256": "RS256"}[alg]
    key = jwt.PyJWKSet.from_dict(rings[alg].jwks())[rings[alg].active.kid]
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(current_tokens[alg], key, algorithms=[other], audience=AUDIENCE)


# --- idmint mints, joserfc verifies -----------------------------------------------------------


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_joserfc_verifies_our_tokens_through_the_exported_jwks(
    alg: str, rings: dict[str, KeyRing], current_tokens: dict[str, str]
) -> None:
    ring, token = rings[alg], current_tokens[alg]
    key_set = jose_jwk.KeySet.import_key_set(ring.jwks())

    with _joserfc_warnings(alg):
        decoded = jose_jwt.decode(token, key_set, algorithms=[alg])

    assert decoded.header == {"alg": alg, "typ": "JWT", "kid": ring.active.kid}
    registry = JWTClaimsRegistry(
        now=int(time.time()),
        leeway=LEEWAY,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        sub={"essential": True, "value": "user-1"},
        exp={"essential": True},
        nbf={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
    )
    registry.validate(decoded.claims)
    assert decoded.claims["organizationId"] == "org-1"
    assert decoded.claims["isAdmin"] is True


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_joserfc_claims_registry_rejects_our_tokens_for_another_audience(
    alg: str, rings: dict[str, KeyRing], current_tokens: dict[str, str]
) -> None:
    key_set = jose_jwk.KeySet.import_key_set(rings[alg].jwks())
    with _joserfc_warnings(alg):
        decoded = jose_jwt.decode(current_tokens[alg], key_set, algorithms=[alg])
    registry = JWTClaimsRegistry(aud={"essential": True, "value": "pk_other"})
    with pytest.raises(InvalidClaimError, match="aud"):
        registry.validate(decoded.claims)


# --- PyJWT and joserfc mint with our private key, idmint verifies ----------------------------


@pytest.mark.parametrize("key_form", ["key_object", "pem"])
@pytest.mark.parametrize("alg", ALGORITHMS)
def test_we_verify_tokens_pyjwt_signs_with_our_private_key(
    alg: str, key_form: str, rings: dict[str, KeyRing], signing_keys: dict[str, SigningKey]
) -> None:
    key = signing_keys[alg]
    private: Any = key.private_key if key_form == "key_object" else _pem(key)
    token = jwt.encode(_third_party_claims(), private, algorithm=alg, headers={"kid": key.kid})
    assert jwt.get_unverified_header(token) == {"alg": alg, "kid": key.kid, "typ": "JWT"}

    for verifier in _our_verifiers(rings[alg]):
        verified = verifier.verify(token)
        assert verified.key.kid == key.kid
        assert verified.key.alg.name == alg
        assert verified.claims.subject == "user-3p"
        assert verified.claims.organization_id == "org-3p"
        assert verified.claims.email == "bob@example.com"
        assert verified.claims.is_admin is False
        assert verified.claims.expires_at == FIXED_NOW + 600


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_we_verify_tokens_joserfc_signs_with_our_exported_pem(
    alg: str, rings: dict[str, KeyRing], signing_keys: dict[str, SigningKey]
) -> None:
    key = signing_keys[alg]
    jose_key = jose_jwk.import_key(_pem(key), KTY[alg])
    claims = _third_party_claims(aud=["pk_someone_else", AUDIENCE])

    with _joserfc_warnings(alg):
        token = jose_jwt.encode({"alg": alg, "kid": key.kid}, claims, jose_key, algorithms=[alg])

    for verifier in _our_verifiers(rings[alg]):
        verified = verifier.verify(token)
        assert verified.header["typ"] == "JWT"
        assert verified.key.kid == key.kid
        assert verified.claims.audience == ("pk_someone_else", AUDIENCE)
        assert verified.claims.subject == "user-3p"


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_we_verify_tokens_joserfc_signs_with_our_exported_jwk_plus_private_members(
    alg: str, rings: dict[str, KeyRing], signing_keys: dict[str, SigningKey]
) -> None:
    # Our exported public JWK, completed with the private members joserfc exports: joserfc
    # must accept our public members as consistent with the private key, kid and alg included.
    key = signing_keys[alg]
    (member,) = [m for m in rings[alg].jwks()["keys"] if m["kid"] == key.kid]
    private = jose_jwk.import_key(_pem(key), KTY[alg]).as_dict(private=True)
    jose_key = jose_jwk.import_key(
        {**member, **{name: value for name, value in private.items() if name in PRIVATE_MEMBERS}}
    )
    assert jose_key.kid == key.kid

    with _joserfc_warnings(alg):
        token = jose_jwt.encode(
            {"alg": alg, "kid": key.kid}, _third_party_claims(), jose_key, algorithms=[alg]
        )

    for verifier in _our_verifiers(rings[alg]):
        assert verifier.verify(token).claims.subject == "user-3p"


# --- the exported JWKS -------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_exported_jwks_contains_only_public_members(
    alg: str, rings: dict[str, KeyRing], signing_keys: dict[str, SigningKey]
) -> None:
    jwks = rings[alg].jwks()
    assert set(jwks) == {"keys"}
    assert len(jwks["keys"]) == len(ALGORITHMS)
    by_kid = {key.kid: key for key in signing_keys.values()}
    for member in jwks["keys"]:
        assert set(member) == PUBLIC_MEMBERS[member["kty"]], member
        assert not PRIVATE_MEMBERS & set(member)
        assert member["use"] == "sig"
        assert all(isinstance(value, str) and value for value in member.values())
        assert member["alg"] == by_kid[member["kid"]].alg.name
        assert member["kty"] == KTY[member["alg"]]


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_exported_jwks_kids_are_unique(alg: str, rings: dict[str, KeyRing]) -> None:
    kids = [member["kid"] for member in rings[alg].jwks()["keys"]]
    assert len(kids) == len(set(kids)) == len(ALGORITHMS)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_exported_kid_is_the_rfc7638_thumbprint_joserfc_computes(
    alg: str, rings: dict[str, KeyRing], signing_keys: dict[str, SigningKey]
) -> None:
    key = signing_keys[alg]
    (member,) = [m for m in rings[alg].jwks()["keys"] if m["alg"] == alg]
    assert member["kid"] == key.kid

    # From the exported public JWK, and independently from the private key's PEM.
    from_jwk = jose_jwk.import_key(member)
    from_pem = jose_jwk.import_key(_pem(key), KTY[alg])
    assert from_jwk.thumbprint() == key.kid
    assert from_pem.thumbprint() == key.kid
    assert thumbprint(key.private_key.public_key()) == key.kid


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_exported_jwk_is_read_back_as_the_same_public_key_by_pyjwt_and_joserfc(
    alg: str, rings: dict[str, KeyRing], signing_keys: dict[str, SigningKey]
) -> None:
    key = signing_keys[alg]
    (member,) = [m for m in rings[alg].jwks()["keys"] if m["kid"] == key.kid]
    expected = _spki(key.private_key.public_key())

    assert _spki(jwt.PyJWK(member).key) == expected
    assert _spki(jose_jwk.import_key(member).get_op_key("verify")) == expected


def test_exported_jwks_is_imported_whole_by_pyjwt_joserfc_and_idmint(
    rings: dict[str, KeyRing],
) -> None:
    jwks = rings["ES256"].jwks()
    kids = {member["kid"] for member in jwks["keys"]}

    assert {key.key_id for key in jwt.PyJWKSet.from_dict(jwks).keys} == kids
    assert {key.kid for key in jose_jwk.KeySet.import_key_set(jwks).keys} == kids
    assert {key.kid for key in JWKSet.from_dict(jwks)} == kids
