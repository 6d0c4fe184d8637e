"""Project Wycheproof vectors (tests/vectors/wycheproof) through idmint's verifier.

Whole JWS tokens go through :func:`idmint.jose.jws.verify_compact` with the algorithm pinned to the
group's key; raw signatures go through the same per-algorithm check that tokens use
(:meth:`idmint.jose.jwk.VerificationKey.verify`).  Every ``invalid`` case must be rejected and every
``valid`` one accepted, except the decisions listed (with their reasons) in this file.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import load_der_public_key

from conftest import load_vectors
from idmint import ALGORITHMS, InvalidKeyError, JWKSet, TokenError, VerificationKey, import_jwk
from idmint.jose.jws import verify_compact

JWS = load_vectors("wycheproof/json_web_signature_test.json")
JWK = load_vectors("wycheproof/json_web_key_test.json")

# Valid cases idmint rejects on purpose. HMAC is not an idmint algorithm: symmetric keys are
# refused at import, so no key can ever be confused with an HMAC secret.
HMAC_GROUP_REASON = "HMAC (HS*) keys are refused: idmint verifies asymmetric signatures only"
# RFC 7520 figures whose JWK declares another algorithm than the token uses.  idmint pins the
# algorithm to the key (RFC 8725 §3.1), so the token's own "alg" cannot change it; the figures
# verify when the key is imported for the algorithm they really use (checked below).
KEY_ALG_DISAGREES = {
    346: "PS384",  # key declares PS256
    347: "ES512",  # key declares 'ES521', which is no algorithm
    350: "PS384",
    351: "ES512",
}


def _keyset(group: dict[str, Any]) -> JWKSet:
    key = group.get("public") or group["private"]
    return JWKSet.from_dict(key) if "keys" in key else JWKSet([import_jwk(key)])


def _is_hmac_group(group: dict[str, Any]) -> bool:
    key = group.get("public") or group["private"]
    members = key.get("keys", [key])
    return any(member.get("kty") == "oct" for member in members)


def _jws_cases() -> list[Any]:
    return [
        pytest.param(group, case, id=f"{case['tcId']}-{group['comment']}-{case['comment']}")
        for group in JWS["testGroups"]
        for case in group["tests"]
    ]


def _outcome(group: dict[str, Any], jws: object) -> str:
    try:
        verify_compact(jws, _keyset(group))
    except (TokenError, InvalidKeyError) as exc:
        return exc.code
    return "accepted"


@pytest.mark.parametrize(("group", "case"), _jws_cases())
def test_json_web_signature_vector(group: dict[str, Any], case: dict[str, Any]) -> None:
    outcome = _outcome(group, case["jws"])
    if case["result"] == "invalid":
        assert outcome != "accepted"
    elif _is_hmac_group(group):
        assert outcome == "key_invalid", HMAC_GROUP_REASON
    elif case["tcId"] in KEY_ALG_DISAGREES:
        assert outcome in {"token_alg_mismatch", "key_invalid"}
    else:
        assert case["result"] == "valid"
        assert outcome == "accepted"


def test_json_web_signature_vectors_have_no_acceptable_cases() -> None:
    # Had Wycheproof marked cases "acceptable", this is where our decision would be listed.
    results = {case["result"] for group in JWS["testGroups"] for case in group["tests"]}
    assert results == {"valid", "invalid"}


@pytest.mark.parametrize(("tc_id", "alg"), sorted(KEY_ALG_DISAGREES.items()))
def test_rfc7520_figures_verify_when_the_key_is_pinned_to_their_algorithm(
    tc_id: int, alg: str
) -> None:
    group, case = next((g, c) for g in JWS["testGroups"] for c in g["tests"] if c["tcId"] == tc_id)
    jwk = {k: v for k, v in group["public"].items() if k != "alg"}
    verify_compact(case["jws"], JWKSet([import_jwk(jwk, alg=alg)]))


def test_json_web_signature_vectors_cover_every_idmint_signing_algorithm() -> None:
    algs = {
        (group.get("public") or group["private"]).get("alg")
        for group in JWS["testGroups"]
        if not _is_hmac_group(group)
    }
    assert {"ES256", "RS256", "PS256"} <= algs


# --- JWK sets ---------------------------------------------------------------------------------

JWK_REJECTION_REASONS = {
    6: "use",
    7: "ROCA",
    8: "2048",
    9: "exponent",
    19: "'ES521'",
    20: "'ES224'",
    21: "use",
    22: "not on the curve",
    23: "octets",
}


@pytest.mark.parametrize(
    "group",
    [pytest.param(g, id=f"{g['tests'][0]['tcId']}-{g['comment']}") for g in JWK["testGroups"]],
)
def test_json_web_key_vector(group: dict[str, Any]) -> None:
    for case in group["tests"]:
        if case["result"] == "valid" and not _is_hmac_group(group):
            assert _outcome(group, case["jws"]) == "accepted"
            continue
        # Invalid sets are refused at import (before any token is looked at); the valid HMAC
        # sets are refused too, for the reason above.
        with pytest.raises(InvalidKeyError) as raised:
            _keyset(group)
        if case["tcId"] in JWK_REJECTION_REASONS:
            assert JWK_REJECTION_REASONS[case["tcId"]] in raised.value.message


def test_jwk_set_with_duplicate_kid_is_refused() -> None:
    # Wycheproof's duplicate-kid case uses HMAC keys (refused anyway); same check, our keys.
    group = next(g for g in JWS["testGroups"] if g["comment"] == "es256")
    with pytest.raises(InvalidKeyError, match="repeats kid"):
        JWKSet.from_dict({"keys": [group["public"], group["public"]]})


def test_jwk_set_mixing_public_and_private_keys_is_refused() -> None:
    group = next(g for g in JWS["testGroups"] if g["comment"] == "es256")
    with pytest.raises(InvalidKeyError, match="private"):
        JWKSet.from_dict({"keys": [group["public"], group["private"]]})


# --- raw signature primitives ---------------------------------------------------------------

PRIMITIVES = {
    "ES256": "ecdsa_secp256r1_sha256_p1363_test.json",
    "EdDSA": "ed25519_test.json",
    "RS256": "rsa_signature_2048_sha256_test.json",
    "PS256": "rsa_pss_2048_sha256_mgf1_32_test.json",
}
# Decisions on "acceptable" cases: idmint rejects every one (the strict choice).
ACCEPTABLE_DECISION = False


def _primitive_cases() -> list[Any]:
    params = []
    for alg, name in PRIMITIVES.items():
        data = load_vectors(f"wycheproof/{name}")
        for index, group in enumerate(data["testGroups"]):
            for case in group["tests"]:
                params.append(
                    pytest.param(
                        alg, group["publicKeyDer"], case, id=f"{alg}-g{index}-{case['tcId']}"
                    )
                )
    return params


@pytest.mark.parametrize(("alg", "der", "case"), _primitive_cases())
def test_signature_primitive_vector(alg: str, der: str, case: dict[str, Any]) -> None:
    public_key = load_der_public_key(bytes.fromhex(der))
    key = VerificationKey("wycheproof", ALGORITHMS[alg], public_key)  # type: ignore[arg-type]
    accepted = key.verify(bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"]))
    expected = {"valid": True, "invalid": False, "acceptable": ACCEPTABLE_DECISION}
    assert accepted is expected[case["result"]]
