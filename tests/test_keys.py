"""Signing keys: generation, kid, PEM loading, states and encryption at rest."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from idmint import (
    InvalidKeyError,
    KeyDecryptionError,
    KeyState,
    MasterKey,
    SigningKey,
    thumbprint,
)

ALGS = ["EdDSA", "ES256", "ES384", "ES512", "RS256", "PS256"]


@pytest.mark.parametrize("alg", ALGS)
def test_generated_key_kid_is_rfc7638_thumbprint(
    alg: str, key_factory: Callable[[str], SigningKey]
) -> None:
    key = key_factory(alg)
    assert key.kid == thumbprint(key.public.public_key)
    assert key.alg.name == alg
    assert key.state is KeyState.ACTIVE


def test_thumbprint_matches_rfc7638_example() -> None:
    # RFC 7638 §3.1: the example RSA key and its thumbprint.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
        "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
        "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    from idmint import import_jwk

    key = import_jwk({"kty": "RSA", "n": n, "e": "AQAB"}, alg="RS256")
    assert thumbprint(key.public_key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_jwk_export_has_public_members_only(key_factory: Callable[[str], SigningKey]) -> None:
    for alg, members in {
        "ES256": {"kty", "crv", "x", "y"},
        "EdDSA": {"kty", "crv", "x"},
        "RS256": {"kty", "n", "e"},
    }.items():
        jwk = key_factory(alg).to_jwk()
        assert set(jwk) == members | {"kid", "alg", "use"}
        assert jwk["use"] == "sig"
        assert jwk["alg"] == alg


def test_key_must_fit_its_algorithm(key_factory: Callable[[str], SigningKey]) -> None:
    with pytest.raises(InvalidKeyError):
        SigningKey.create(key_factory("ES256").private_key, "RS256")
    with pytest.raises(InvalidKeyError):
        SigningKey.create(key_factory("ES256").private_key, "ES384")
    with pytest.raises(InvalidKeyError, match="Unsupported"):
        SigningKey.create(key_factory("ES256").private_key, "HS256")


def test_rsa_keys_under_2048_bits_are_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - on purpose
    with pytest.raises(InvalidKeyError):
        SigningKey.create(weak, "RS256")
    with pytest.raises(InvalidKeyError):
        SigningKey.generate("RS256", rsa_bits=1024)


def test_key_loads_from_pem_once() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key = SigningKey.from_pem(pem, "ES256")
    assert key.kid == thumbprint(private.public_key())
    with pytest.raises(InvalidKeyError):
        SigningKey.from_pem(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")


def test_with_state_shares_the_parsed_key(key_factory: Callable[[str], SigningKey]) -> None:
    key = key_factory("ES256")
    retiring = key.with_state(KeyState.RETIRING)
    assert retiring.state is KeyState.RETIRING
    assert retiring.private_key is key.private_key
    assert retiring.header_segment == key.header_segment
    assert key.state is KeyState.ACTIVE


def test_only_retired_keys_are_unpublished() -> None:
    assert [state.published for state in KeyState] == [True, True, True, False]


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "RS256"])
def test_encrypted_key_round_trips(alg: str, key_factory: Callable[[str], SigningKey]) -> None:
    master = MasterKey.generate()
    key = key_factory(alg)
    sealed = key.encrypt(master)
    assert sealed.startswith(f"idmint-key-v1.{master.id}.")
    opened = SigningKey.decrypt(sealed, master, alg=alg, kid=key.kid, state=KeyState.NEXT)
    assert opened.kid == key.kid
    assert opened.state is KeyState.NEXT
    assert opened.sign(b"x")
    assert opened.public.verify(b"x", key.sign(b"x"))


def test_encrypted_key_holds_no_plain_private_key(key_factory: Callable[[str], SigningKey]) -> None:
    key = key_factory("ES256")
    der = key.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    sealed = key.encrypt(MasterKey.generate())
    assert der.hex() not in sealed
    assert b"PRIVATE" not in sealed.encode()


def test_encrypted_key_refuses_wrong_master_key(key_factory: Callable[[str], SigningKey]) -> None:
    key = key_factory("ES256")
    sealed = key.encrypt(MasterKey.generate())
    with pytest.raises(KeyDecryptionError, match="master key"):
        SigningKey.decrypt(sealed, MasterKey.generate(), alg="ES256", kid=key.kid)


def test_encrypted_key_is_bound_to_its_kid_and_alg(
    key_factory: Callable[[str], SigningKey],
) -> None:
    master = MasterKey.generate()
    key = key_factory("ES256")
    sealed = key.encrypt(master)
    with pytest.raises(KeyDecryptionError):
        SigningKey.decrypt(sealed, master, alg="ES256", kid="another-kid")
    with pytest.raises(KeyDecryptionError):
        SigningKey.decrypt(sealed, master, alg="ES384", kid=key.kid)


def test_tampered_envelope_is_refused(key_factory: Callable[[str], SigningKey]) -> None:
    master = MasterKey.generate()
    key = key_factory("ES256")
    prefix, master_id, nonce, body = key.encrypt(master).split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for bad in (
        f"{prefix}.{master_id}.{nonce}.{flipped}",
        "garbage",
        f"x.{master_id}.{nonce}.{body}",
    ):
        with pytest.raises(KeyDecryptionError):
            SigningKey.decrypt(bad, master, alg="ES256", kid=key.kid)


def test_envelope_names_the_master_key_that_sealed_it(
    key_factory: Callable[[str], SigningKey],
) -> None:
    master = MasterKey.generate()
    sealed = key_factory("ES256").encrypt(master)
    assert MasterKey.id_of_sealer(sealed) == master.id
    assert MasterKey.id_of_sealer("garbage") is None
    assert MasterKey.id_of_sealer("x." + sealed.split(".", 1)[1]) is None


def test_master_key_text_round_trip() -> None:
    master = MasterKey.generate()
    again = MasterKey.from_text(master.to_text() + "\n")
    assert again.id == master.id
    assert master.to_text() not in repr(master)
    with pytest.raises(InvalidKeyError):
        MasterKey.from_text("too-short")
    with pytest.raises(InvalidKeyError):
        MasterKey(b"\x00" * 16)
