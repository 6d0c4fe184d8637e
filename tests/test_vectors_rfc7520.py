"""RFC 7520 (JOSE cookbook) signature examples, from tests/vectors/jose-cookbook.

Each figure's compact serialization must verify with idmint, and for the deterministic
algorithms (RS256, EdDSA) idmint's signer must reproduce the published signature byte for byte.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from conftest import load_vectors
from idmint import InvalidSignatureError, JWKSet, SigningKey, import_jwk
from idmint.jose._b64 import b64decode, uint_decode
from idmint.jose.jws import verify_compact

EXAMPLES = {
    "RS256": "jose-cookbook/jws/4_1.rsa_v15_signature.json",
    "PS384": "jose-cookbook/jws/4_2.rsa-pss_signature.json",
    "ES512": "jose-cookbook/jws/4_3.ecdsa_signature.json",
    "EdDSA": "jose-cookbook/curve25519/jws.json",
}
PRIVATE = {"d", "p", "q", "dp", "dq", "qi"}


def _example(alg: str) -> dict[str, Any]:
    example: dict[str, Any] = load_vectors(EXAMPLES[alg])
    assert example["input"]["alg"] == alg
    return example


def _public(jwk: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in jwk.items() if name not in PRIVATE}


@pytest.mark.parametrize("alg", sorted(EXAMPLES))
def test_cookbook_example_verifies(alg: str) -> None:
    example = _example(alg)
    keys = JWKSet([import_jwk(_public(example["input"]["key"]), alg=alg)])
    verified = verify_compact(example["output"]["compact"], keys)
    assert verified.payload.decode("utf-8") == example["input"]["payload"]
    assert verified.key.alg.name == alg


@pytest.mark.parametrize("alg", sorted(EXAMPLES))
def test_cookbook_example_with_one_changed_signature_byte_fails(alg: str) -> None:
    example = _example(alg)
    keys = JWKSet([import_jwk(_public(example["input"]["key"]), alg=alg)])
    head, _, signature = example["output"]["compact"].rpartition(".")
    tampered = f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    with pytest.raises(InvalidSignatureError):
        verify_compact(tampered, keys)


def _private_key(jwk: dict[str, str]) -> rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
    if jwk["kty"] == "OKP":
        return ed25519.Ed25519PrivateKey.from_private_bytes(b64decode(jwk["d"]))
    n, e, d, p, q, dp, dq, qi = (
        uint_decode(jwk[m]) for m in ("n", "e", "d", "p", "q", "dp", "dq", "qi")
    )
    return rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, rsa.RSAPublicNumbers(e, n)).private_key()


@pytest.mark.parametrize("alg", ["RS256", "EdDSA"])
def test_cookbook_deterministic_signature_is_reproduced(alg: str) -> None:
    example = _example(alg)
    key = SigningKey.create(_private_key(example["input"]["key"]), alg)
    signature = key.sign(example["signing"]["sig-input"].encode("ascii"))
    assert signature == b64decode(example["signing"]["sig"])
