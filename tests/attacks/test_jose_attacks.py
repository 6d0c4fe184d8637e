"""Forged tokens against identify (``POST /v1/identify``) and the offline verifiers.

The attacks of RFC 8725 and the JWT advisories, each built by hand: ``alg: none`` in every
letter case, HMAC keyed with the workspace's public key (its JWK text, PEM, DER, raw point),
key-carrying headers (``jku`` and ``x5u`` pointing at a loopback listener that counts
connections, an embedded ``jwk``, ``x5c``), ``kid`` injection, ``crit``, oversized and deeply
nested tokens, huge numbers and duplicate members; then body bombs on every POST route, replay
after revocation, and tokens and auth tokens carried to another workspace.

Every forged token is refused with the envelope, a 401 naming what is wrong (or the 400 or
413 of a request too big to read), never a 500, and the server answers a normal mint and
identify afterwards. The offline verifiers (the core's
:func:`idmint.verify` and :class:`idmint.client.RemoteVerifier`) refuse the same tokens.

Tokens are forged with ``cryptography`` (ES256 signatures, key encodings), PyJWT (``alg:
none``, an embedded ``jwk``) and joserfc (the attacker's JWK); the cases that need a valid
signature to reach a parser past the signature check sign with the workspace's own key, taken
from the service, so that the one fault in the token is the one under test.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from joserfc.jwk import ECKey

from api.conftest import ADMIN_TOKEN, Api, AppFactory, Workspace, assert_envelope, assert_error
from idmint import JWKSet, JWSLimits, SigningKey, TokenError, TokenVerifier
from idmint import verify as core_verify
from idmint.client import RemoteVerifier

# --- forging ------------------------------------------------------------------------------------

Signer = Callable[[bytes], bytes]
Part = Mapping[str, Any] | str | bytes  # a JSON object, raw JSON text, or raw bytes


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _part(part: Part) -> bytes:
    if isinstance(part, bytes):
        return part
    if isinstance(part, str):
        return part.encode("utf-8")
    return json.dumps(part, separators=(",", ":")).encode("utf-8")


def forge(header: Part, payload: Part, signature: Signer | bytes = b"") -> str:
    """A compact JWS, byte for byte as given: ``signature`` signs the signing input, or is
    the signature itself."""
    signing_input = f"{b64url(_part(header))}.{b64url(_part(payload))}"
    raw = signature(signing_input.encode("ascii")) if callable(signature) else signature
    return f"{signing_input}.{b64url(raw)}"


def es256(private_key: ec.EllipticCurvePrivateKey) -> Signer:
    """JOSE ES256 (r || s, 32 bytes each) with a ``cryptography`` key."""

    def sign(data: bytes) -> bytes:
        r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return sign


def hs(alg: str, secret: bytes) -> Signer:
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    return lambda data: hmac.new(secret, data, digest).digest()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# The attacker's own key pair, its JWK (joserfc) and a self-signed certificate for x5c.
ATTACKER = ec.generate_private_key(ec.SECP256R1())
_ATTACKER_PEM = ATTACKER.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
ATTACKER_JWK: dict[str, Any] = dict(ECKey.import_key(_ATTACKER_PEM).as_dict(private=False))
ATTACKER_KID = ECKey.import_key(_ATTACKER_PEM).thumbprint()
ATTACKER_JWK.update(kid=ATTACKER_KID, alg="ES256", use="sig")


def _attacker_certificate() -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idmint.test")])
    start = dt.datetime.fromtimestamp(time.time() - 3600, dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ATTACKER.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=2))
        .sign(ATTACKER, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )


ATTACKER_X5C = base64.b64encode(_attacker_certificate()).decode("ascii")


# --- a loopback listener that counts who calls it ----------------------------------------------


class Listener:
    """A plain HTTP listener on loopback that counts connections, and answers each with the
    attacker's JWKS, as the server behind a ``jku`` or ``x5u`` would."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port = int(self._sock.getsockname()[1])
        self._connections = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        body = json.dumps({"keys": [ATTACKER_JWK]}).encode()
        answer = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        while not self._stopping.is_set():
            try:
                conn, _peer = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._connections += 1
            with conn:
                try:
                    conn.settimeout(2)
                    conn.recv(65536)
                    conn.sendall(answer)
                except OSError:
                    pass

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._sock.close()


# --- the app under attack -----------------------------------------------------------------------


@dataclass
class Target:
    """The running app, its two workspaces, what an attacker can read (the JWKS) and what he
    cannot (the signing keys, for the cases that need a valid signature), and the listener."""

    api: Api
    ws: Workspace
    other: Workspace
    key: SigningKey
    other_key: SigningKey
    jwks_text: str
    listener: Listener

    @property
    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(self.jwks_text)["keys"][0]
        return jwk

    @property
    def now(self) -> int:
        return int(self.api.clock.now())

    def claims(self, user_id: str = "mallory", ws: Workspace | None = None) -> dict[str, Any]:
        """Claims exactly as the workspace mints them (valid for an hour)."""
        ws = ws or self.ws
        return {
            "iss": ws.issuer,
            "aud": ws.api_key,
            "sub": user_id,
            "iat": self.now,
            "nbf": self.now,
            "exp": self.now + 3600,
            "jti": b64url(os.urandom(16)),
            "isAdmin": True,
            "organizationId": "org-1",
            "email": f"{user_id}@example.com",
        }

    def header(self, key: SigningKey | None = None, **extra: Any) -> dict[str, Any]:
        key = key or self.key
        return {"alg": key.alg.name, "typ": "JWT", "kid": key.kid, **extra}

    def user(self, user_id: str = "mallory") -> dict[str, Any]:
        return {"userId": user_id, "organizationId": "org-1", "email": f"{user_id}@example.com"}

    def identify(self, token: str, user_id: str = "mallory", ws: Workspace | None = None) -> Any:
        return self.api.identify(self.user(user_id), token, ws or self.ws)

    def remote_verifier(self, ws: Workspace | None = None) -> RemoteVerifier:
        """The client's verifier, fetching the JWKS from the app in process."""
        ws = ws or self.ws
        return RemoteVerifier(
            ws.issuer,
            ws.api_key,
            http_client=self.api.client,
            clock=self.api.clock,
            jwks_uri=f"http://testserver/w/{ws.api_key}/.well-known/jwks.json",
        )

    def assert_healthy(self) -> None:
        """A normal mint and identify still work."""
        token = self.api.token(self.ws, "healthy", email="healthy@example.com")
        response = self.identify(token, "healthy")
        assert response.status_code == 200, response.text


def _signing_key(api: Api, ws: Workspace) -> SigningKey:
    workspace = api.idmint.workspaces.get(ws.api_key)
    return api.idmint.keys.for_workspace(workspace).ring.active


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    factory = AppFactory(tmp_path_factory)
    listener = Listener()
    try:
        api = factory("sqlite")
        other = api.new_workspace("other")
        response = api.client.get(f"/w/{api.workspace.api_key}/.well-known/jwks.json")
        assert response.status_code == 200, response.text
        yield Target(
            api=api,
            ws=api.workspace,
            other=other,
            key=_signing_key(api, api.workspace),
            other_key=_signing_key(api, other),
            jwks_text=response.text,
            listener=listener,
        )
    finally:
        listener.close()
        factory.close()


Case = Callable[[Target], str]


def assert_refused(
    t: Target, token: str, codes: set[str], *, server_codes: set[str] | None = None
) -> None:
    """identify refuses ``token`` with the envelope, a 4xx and one of ``codes`` (or of
    ``server_codes``, where the request's own checks come first); the offline verifiers refuse
    it with one of ``codes``; the server still works, and nobody called the listener."""
    before = t.listener.connections
    response = t.identify(token)
    assert response.status_code < 500, response.text
    error = assert_envelope(response)  # the status is the code's own
    assert error["code"] in (server_codes or codes), error
    keys = JWKSet.from_dict(json.loads(t.jwks_text))
    with pytest.raises(TokenError) as core:
        core_verify(token, keys, issuer=t.ws.issuer, audience=t.ws.api_key, clock=t.api.clock)
    assert core.value.code in codes, core.value
    with t.remote_verifier() as verifier, pytest.raises(TokenError) as remote:
        verifier.verify(token)
    assert remote.value.code in codes, remote.value
    t.assert_healthy()
    assert t.listener.connections == before, "the token made a verifier call out"


# identify's body caps authToken (16,384 characters) before the verifier's own cap (8,192).
TOO_LARGE = {"token_too_large", "invalid_argument"}


# --- controls: the forging is sound, the listener hears ---------------------------------------


def test_a_token_forged_here_with_the_workspace_key_is_accepted(target: Target) -> None:
    """The control: the forging helpers make tokens idmint accepts, so every refusal below is
    about the one fault each case puts in."""
    token = forge(target.header(), target.claims(), target.key.sign)
    response = target.identify(token)
    assert response.status_code == 200, response.text
    keys = JWKSet.from_dict(json.loads(target.jwks_text))
    core_verify(
        token, keys, issuer=target.ws.issuer, audience=target.ws.api_key, clock=target.api.clock
    )
    with target.remote_verifier() as verifier:
        assert verifier.verify(token).claims.subject == "mallory"


def test_the_listener_counts_connections(target: Target) -> None:
    """The control for the zero-connection assertions: the listener does count."""
    before = target.listener.connections
    with socket.create_connection(("127.0.0.1", target.listener.port), timeout=5) as sock:
        sock.sendall(b"GET /jwks.json HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in sock.recv(65536)
    assert target.listener.connections == before + 1


# --- 1. alg: none in every letter case ----------------------------------------------------------

NONE_SPELLINGS = ["".join(c) for c in itertools.product(*[(ch, ch.upper()) for ch in "none"])]
# The signature an unsecured token has (none), garbage, and a real one lifted from a minted token.
NONE_SIGNATURES = ["empty", "garbage", "lifted"]


@pytest.mark.parametrize("kid", ["kid", "no-kid"])
@pytest.mark.parametrize("signature", NONE_SIGNATURES)
@pytest.mark.parametrize("alg", NONE_SPELLINGS)
def test_alg_none_is_refused_in_every_letter_case(
    target: Target, alg: str, signature: str, kid: str
) -> None:
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid == "kid":
        header["kid"] = target.key.kid
    if signature == "lifted":
        minted = target.api.token(target.ws, "mallory", email="mallory@example.com")
        raw = base64.urlsafe_b64decode(minted.split(".")[2] + "==")
    else:
        raw = os.urandom(64) if signature == "garbage" else b""
    assert_refused(target, forge(header, target.claims(), raw), {"token_alg_none"})


def test_alg_none_from_pyjwt_is_refused(target: Target) -> None:
    token = jwt.encode(target.claims(), "", algorithm="none")  # "": no key
    assert_refused(target, token, {"token_alg_none"})


@pytest.mark.parametrize("alg", ["none ", " none", "none\u0000", "n\u043ene", "", "NONE;ES256"])
def test_alg_none_lookalikes_are_refused(target: Target, alg: str) -> None:
    token = forge({"alg": alg, "kid": target.key.kid}, target.claims(), b"")
    assert_refused(target, token, {"token_alg_mismatch", "token_alg_none", "token_malformed"})


# --- 2. HMAC keyed with the public key ----------------------------------------------------------


def _hmac_secrets(t: Target) -> dict[str, bytes]:
    """Every form of the workspace's public key an attacker might feed an HMAC."""
    jwk = t.jwk
    public = t.key.private_key.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    # Built from what the JWKS publishes, as the attacker does (and checked to be the key).
    x = base64.urlsafe_b64decode(jwk["x"] + "==")
    y = base64.urlsafe_b64decode(jwk["y"] + "==")
    from_jwks = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
    assert from_jwks.public_numbers() == public.public_numbers()
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    pem = from_jwks.public_bytes(serialization.Encoding.PEM, spki)
    point = serialization.Encoding.X962
    return {
        "jwk-as-served": json.dumps(jwk, separators=(",", ":")).encode(),
        "jwk-spaced": json.dumps(jwk).encode(),
        "jwk-sorted": json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode(),
        "jwks-document": t.jwks_text.encode(),
        "pem": pem,
        "pem-stripped": pem.strip(),
        "der": from_jwks.public_bytes(serialization.Encoding.DER, spki),
        "raw-x-y": x + y,
        "uncompressed-point": from_jwks.public_bytes(
            point, serialization.PublicFormat.UncompressedPoint
        ),
        "compressed-point": from_jwks.public_bytes(
            point, serialization.PublicFormat.CompressedPoint
        ),
        "x-text": jwk["x"].encode(),
    }


HMAC_FORMS = [
    "jwk-as-served",
    "jwk-spaced",
    "jwk-sorted",
    "jwks-document",
    "pem",
    "pem-stripped",
    "der",
    "raw-x-y",
    "uncompressed-point",
    "compressed-point",
    "x-text",
]


@pytest.mark.parametrize("kid", ["kid", "no-kid"])
@pytest.mark.parametrize("form", HMAC_FORMS)
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_keyed_with_the_public_key_is_refused(
    target: Target, alg: str, form: str, kid: str
) -> None:
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid == "kid":
        header["kid"] = target.key.kid
    token = forge(header, target.claims(), hs(alg, _hmac_secrets(target)[form]))
    # Without a kid the server's key ring names no key; a one-key JWK set offline picks its
    # key, whose algorithm is not the header's.
    codes = {"token_alg_mismatch"} if kid == "kid" else {"token_alg_mismatch", "token_unknown_kid"}
    assert_refused(target, token, codes)


# --- 3. key-carrying headers and kid injection -------------------------------------------------


def _attacker_signed(**header: Any) -> Case:
    def make(t: Target) -> str:
        resolved = {
            name: (value(t) if callable(value) else value) for name, value in header.items()
        }
        return forge({"alg": "ES256", "typ": "JWT", **resolved}, t.claims(), es256(ATTACKER))

    return make


def _workspace_signed(**header: Any) -> Case:
    """The same headers on a token the workspace's own key signs: refused for the header
    alone, not for the signature."""

    def make(t: Target) -> str:
        resolved = {
            name: (value(t) if callable(value) else value) for name, value in header.items()
        }
        return forge(t.header(**resolved), t.claims(), t.key.sign)

    return make


def _real_kid(t: Target) -> str:
    return t.key.kid


def _jku(t: Target) -> str:
    return t.listener.url("/jwks.json")


def _x5u(t: Target) -> str:
    return t.listener.url("/cert.pem")


KEY_HEADERS: dict[str, Case] = {
    "jku-attacker-kid": _attacker_signed(jku=_jku, kid=ATTACKER_KID),
    "jku-workspace-kid": _attacker_signed(jku=_jku, kid=_real_kid),
    "jku-no-kid": _attacker_signed(jku=_jku),
    "jku-validly-signed": _workspace_signed(jku=_jku),
    "x5u-attacker-kid": _attacker_signed(x5u=_x5u, kid=ATTACKER_KID),
    "x5u-workspace-kid": _attacker_signed(x5u=_x5u, kid=_real_kid),
    "x5u-validly-signed": _workspace_signed(x5u=_x5u),
    "jwk-attacker-kid": _attacker_signed(jwk=ATTACKER_JWK, kid=ATTACKER_KID),
    "jwk-workspace-kid": _attacker_signed(jwk=ATTACKER_JWK, kid=_real_kid),
    "jwk-no-kid": _attacker_signed(jwk=ATTACKER_JWK),
    "jwk-validly-signed": _workspace_signed(jwk=ATTACKER_JWK),
    "x5c-attacker-kid": _attacker_signed(x5c=[ATTACKER_X5C], kid=ATTACKER_KID),
    "x5c-no-kid": _attacker_signed(x5c=[ATTACKER_X5C]),
    "x5c-validly-signed": _workspace_signed(x5c=[ATTACKER_X5C]),
    "jku-x5u-jwk-at-once": _attacker_signed(jku=_jku, x5u=_x5u, jwk=ATTACKER_JWK, kid=ATTACKER_KID),
}


@pytest.mark.parametrize("case", KEY_HEADERS.values(), ids=KEY_HEADERS.keys())
def test_key_carrying_headers_are_refused_and_never_fetched(target: Target, case: Case) -> None:
    before = target.listener.connections
    assert_refused(target, case(target), {"token_header_forbidden"})
    time.sleep(0.05)  # room for a fetch in the background, had one been started
    assert target.listener.connections == before


def test_an_embedded_jwk_from_pyjwt_is_refused(target: Target) -> None:
    token = jwt.encode(
        target.claims(),
        ATTACKER,
        algorithm="ES256",
        headers={"kid": ATTACKER_KID, "jwk": ATTACKER_JWK},
    )
    assert_refused(target, token, {"token_header_forbidden"})


def _other_workspace_key(t: Target) -> str:
    """A token with this workspace's claims, signed by the other workspace's key under its
    own kid: a key ring shared across workspaces would accept it."""
    return forge(t.header(t.other_key), t.claims(), t.other_key.sign)


KID_INJECTIONS: dict[str, Case] = {
    "path-traversal": _attacker_signed(kid="../../etc/passwd"),
    "path-traversal-deep": _attacker_signed(kid="../../../../../../../../dev/zero"),
    "absolute-path": _attacker_signed(kid="/etc/passwd"),
    "file-url": _attacker_signed(kid="file:///etc/passwd"),
    "listener-url": _attacker_signed(kid=_jku),
    "sql-or": _attacker_signed(kid="' OR 1=1--"),
    "sql-union": _attacker_signed(kid="x' UNION SELECT sealed_private_key FROM signing_keys--"),
    "sql-drop": _attacker_signed(kid="x'; DROP TABLE signing_keys; --"),
    "nul": _attacker_signed(kid="\u0000"),
    "empty": _attacker_signed(kid=""),
    "long-700": _attacker_signed(kid="k" * 700),
    "number": _attacker_signed(kid=7),
    "object": _attacker_signed(kid={"$ne": None}),
    "list": _attacker_signed(kid=lambda t: [t.key.kid]),
    "real-kid-with-suffix": _attacker_signed(kid=lambda t: t.key.kid + "\u0000"),
    "other-workspace-kid-attacker-signed": _attacker_signed(kid=lambda t: t.other_key.kid),
    "other-workspace-kid-and-key": _other_workspace_key,
}


@pytest.mark.parametrize("case", KID_INJECTIONS.values(), ids=KID_INJECTIONS.keys())
def test_kid_injection_is_refused(target: Target, case: Case) -> None:
    # A real kid padded with NUL, or another workspace's kid signed with its key, names no
    # key of this workspace; neither does anything else here.
    assert_refused(target, case(target), {"token_unknown_kid"})


def test_a_kid_too_long_for_the_header_is_refused(target: Target) -> None:
    token = _attacker_signed(kid="k" * 30_000)(target)
    assert_refused(target, token, {"token_too_large"}, server_codes=TOO_LARGE)


def test_a_kid_that_is_a_huge_integer_is_refused(target: Target) -> None:
    token = forge(
        '{"alg":"ES256","typ":"JWT","kid":100000000000000000000000000000}',
        target.claims(),
        es256(ATTACKER),
    )
    assert_refused(target, token, {"token_unknown_kid"})


# --- 4. crit ------------------------------------------------------------------------------------

CRIT: dict[str, Case] = {
    "unknown-extension": _workspace_signed(crit=["urn:example:evil"], **{"urn:example:evil": True}),
    "registered-name": _workspace_signed(crit=["exp"], exp=2_000_000_000),
    "empty-list": _workspace_signed(crit=[]),
    "not-a-list": _workspace_signed(crit="urn:example:evil"),
    "attacker-signed": _attacker_signed(kid=ATTACKER_KID, crit=["urn:example:evil"]),
}


@pytest.mark.parametrize("case", CRIT.values(), ids=CRIT.keys())
def test_crit_with_an_unknown_extension_is_refused(target: Target, case: Case) -> None:
    assert_refused(target, case(target), {"token_crit_unsupported"})


def test_crit_b64_false_is_refused(target: Target) -> None:
    token = _workspace_signed(crit=["b64"], b64=False)(target)
    assert_refused(target, token, {"token_header_forbidden", "token_crit_unsupported"})


# --- 5. oversized, nested, huge numbers, duplicate members --------------------------------------


def test_a_one_mebibyte_token_is_a_413(target: Target) -> None:
    token = forge(target.header(), target.claims(), b"s" * (1 << 20))
    response = target.identify(token)
    assert_error(response, 413, "INVALID_ARGUMENT", "request_too_large")
    target.assert_healthy()


@pytest.mark.parametrize("size", [8193, 60 * 1024])
def test_an_oversized_token_is_refused_before_parsing(target: Target, size: int) -> None:
    head = forge(target.header(), target.claims(), target.key.sign)
    token = head + "A" * (size - len(head))
    assert len(token) == size
    assert_refused(target, token, {"token_too_large"}, server_codes=TOO_LARGE)


def _signed_payload(text: str) -> Case:
    """A validly signed token whose payload is the raw JSON ``text``: only the payload parser
    and the claims checks stand between it and a session."""

    def make(t: Target) -> str:
        claims = t.claims()
        filled = text.replace("$ISS", json.dumps(claims["iss"])).replace(
            "$AUD", json.dumps(claims["aud"])
        )
        filled = filled.replace("$NOW", str(t.now)).replace("$EXP", str(t.now + 3600))
        return forge(t.header(), filled, t.key.sign)

    return make


_BASE = (
    '"iss":$ISS,"aud":$AUD,"sub":"mallory","organizationId":"org-1","email":"mallory@example.com"'
)
_TIMES = '"iat":$NOW,"nbf":$NOW,"exp":$EXP'

PAYLOADS: dict[str, tuple[Case, set[str]]] = {
    "nested-2000-in-a-claim": (
        _signed_payload("{" + _BASE + "," + _TIMES + ',"x":' + nested(2000) + "}"),
        {"token_malformed"},
    ),
    "nested-2000-as-the-payload": (_signed_payload(nested(2000)), {"token_malformed"}),
    "nested-10000": (_signed_payload(nested(10_000)), {"token_too_large"}),
    "exp-1e400": (
        _signed_payload("{" + _BASE + ',"iat":$NOW,"nbf":$NOW,"exp":1e400}'),
        {"token_claim_invalid"},
    ),
    "exp-minus-1e400": (
        _signed_payload("{" + _BASE + ',"iat":$NOW,"nbf":$NOW,"exp":-1e400}'),
        {"token_claim_invalid", "token_expired"},
    ),
    "exp-1e308": (
        _signed_payload("{" + _BASE + ',"iat":$NOW,"nbf":$NOW,"exp":1e308}'),
        {"token_claim_invalid"},
    ),
    "exp-300-digits": (
        _signed_payload("{" + _BASE + ',"iat":$NOW,"nbf":$NOW,"exp":1' + "0" * 300 + "}"),
        {"token_claim_invalid"},
    ),
    "exp-4400-digits": (  # alone: with the other claims it would pass the payload cap
        _signed_payload('{"exp":1' + "0" * 4400 + "}"),
        {"token_malformed"},
    ),
    "exp-NaN": (
        _signed_payload("{" + _BASE + ',"iat":$NOW,"nbf":$NOW,"exp":NaN}'),
        {"token_malformed"},
    ),
    "exp-Infinity": (
        _signed_payload("{" + _BASE + ',"iat":$NOW,"nbf":$NOW,"exp":Infinity}'),
        {"token_malformed"},
    ),
    "iat-minus-1e400": (
        _signed_payload("{" + _BASE + ',"iat":-1e400,"nbf":$NOW,"exp":$EXP}'),
        {"token_claim_invalid"},
    ),
    "nbf-4000-digits": (
        _signed_payload("{" + _BASE + ',"iat":$NOW,"nbf":1' + "0" * 4000 + ',"exp":$EXP}'),
        {"token_claim_invalid"},
    ),
    "duplicate-sub": (
        _signed_payload("{" + _BASE + "," + _TIMES + ',"sub":"admin"}'),
        {"token_malformed"},
    ),
    "duplicate-exp": (
        _signed_payload("{" + _BASE + "," + _TIMES + ',"exp":99999999999}'),
        {"token_malformed"},
    ),
    "duplicate-isAdmin-escaped": (
        _signed_payload("{" + _BASE + "," + _TIMES + ',"isAdmin":false,"\\u0069sAdmin":true}'),
        {"token_malformed"},
    ),
}


@pytest.mark.parametrize(("case", "codes"), PAYLOADS.values(), ids=PAYLOADS.keys())
def test_hostile_payloads_are_refused(target: Target, case: Case, codes: set[str]) -> None:
    server = TOO_LARGE if codes == {"token_too_large"} else None
    assert_refused(target, case(target), codes, server_codes=server)


def test_an_issuer_that_is_a_huge_integer_is_refused(target: Target) -> None:
    text = '{"iss":100000000000000000000000000000,"aud":$AUD,"sub":"mallory",' + _TIMES + "}"
    assert_refused(target, _signed_payload(text)(target), {"token_issuer_invalid"})


def _raw_header(text: str, signer: str = "workspace") -> Case:
    def make(t: Target) -> str:
        filled = text.replace("$KID", json.dumps(t.key.kid))
        sign = t.key.sign if signer == "workspace" else es256(ATTACKER)
        return forge(filled, t.claims(), sign)

    return make


HEADERS: dict[str, tuple[Case, set[str]]] = {
    "nested-10000-member": (
        _raw_header('{"alg":"ES256","kid":$KID,"x":' + nested(10_000) + "}"),
        {"token_too_large"},
    ),
    "nested-10000-header": (_raw_header(nested(10_000)), {"token_too_large"}),
    "nested-300-member": (
        _raw_header('{"alg":"ES256","kid":$KID,"x":' + nested(300) + ',"crit":["x"]}'),
        {"token_crit_unsupported"},
    ),
    "header-not-an-object": (_raw_header("[]"), {"token_malformed"}),
    "alg-1e400": (_raw_header('{"alg":1e400,"kid":$KID}'), {"token_malformed"}),
    "kid-1e400": (_raw_header('{"alg":"ES256","kid":1e400}'), {"token_unknown_kid"}),
    "member-5000-digits": (
        _raw_header('{"alg":"ES256","kid":$KID,"n":1' + "0" * 5000 + "}"),
        {"token_too_large"},
    ),
    "alg-NaN": (_raw_header('{"alg":NaN,"kid":$KID}'), {"token_malformed"}),
    "duplicate-alg-none-last": (
        _raw_header('{"alg":"ES256","alg":"none","kid":$KID}'),
        {"token_malformed"},
    ),
    "duplicate-alg-none-first": (
        _raw_header('{"alg":"none","alg":"ES256","kid":$KID}'),
        {"token_malformed"},
    ),
    "duplicate-kid": (
        _raw_header('{"alg":"ES256","kid":"attacker","kid":$KID}', signer="attacker"),
        {"token_malformed"},
    ),
    "duplicate-jku-escaped": (
        _raw_header('{"alg":"ES256","kid":$KID,"jk\\u0075":"http://127.0.0.1:1/","jku":1}'),
        {"token_malformed"},
    ),
    "header-not-utf8": (
        lambda t: forge(b'{"alg":"ES256","kid":"\xff"}', t.claims(), t.key.sign),
        {"token_malformed"},
    ),
}


@pytest.mark.parametrize(("case", "codes"), HEADERS.values(), ids=HEADERS.keys())
def test_hostile_headers_are_refused(target: Target, case: Case, codes: set[str]) -> None:
    server = TOO_LARGE if codes == {"token_too_large"} else None
    assert_refused(target, case(target), codes, server_codes=server)


BIG = JWSLimits(token=10**7, header=10**7, payload=10**7)


@pytest.mark.parametrize(
    "part",
    [
        "header",
        "payload",
        "header-member",
        "payload-member",
        "header-5000-digits",
        "payload-exp-5000-digits",
    ],
)
def test_the_core_verifier_with_no_size_caps_refuses_bombs_as_malformed(
    target: Target, part: str
) -> None:
    """Past the size caps (a verifier that raises them), the parsers still refuse a 10,000
    level bomb or a 5,000-digit number as malformed, never with RecursionError or ValueError."""
    header = json.dumps(target.header())
    claims = json.dumps(target.claims())
    bomb = nested(10_000)
    header, claims = {
        "header": (bomb, claims),
        "payload": (header, bomb),
        "header-member": (header[:-1] + ',"x":' + bomb + "}", claims),
        "payload-member": (header, claims[:-1] + ',"x":' + bomb + "}"),
        "header-5000-digits": (header[:-1] + ',"n":1' + "0" * 5000 + "}", claims),
        "payload-exp-5000-digits": (header, claims[:-1] + ',"exp":1' + "0" * 5000 + "}"),
    }[part]
    token = forge(header, claims, target.key.sign)
    verifier = TokenVerifier(
        JWKSet.from_dict(json.loads(target.jwks_text)),
        issuer=target.ws.issuer,
        audience=target.ws.api_key,
        clock=target.api.clock,
        limits=BIG,
    )
    with pytest.raises(TokenError) as refused:
        verifier.verify(token)
    assert refused.value.code == "token_malformed", refused.value


# --- 6. body bombs on every POST route ----------------------------------------------------------


def _post_routes(t: Target) -> list[str]:
    response = t.api.client.get("/openapi.json")
    assert response.status_code == 200, response.text
    return sorted(path for path, item in response.json()["paths"].items() if "post" in item)


def _credentials(t: Target, path: str) -> dict[str, str]:
    """Valid credentials where a route takes them from a header, so that the body is the
    only fault."""
    if path.startswith("/admin/"):
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    if path == "/api/v1/tokens":
        return {"Authorization": f"idmint {t.ws.api_key}:{t.ws.secret}"}
    return {}


BODIES: dict[str, tuple[Callable[[int], bytes], int, str]] = {
    # name: (body made for the limit, HTTP status, code)
    "one-mebibyte": (lambda _: b'{"name":"' + b"a" * (1 << 20) + b'"}', 413, "request_too_large"),
    "one-byte-over": (
        lambda n: b'{"name":"' + b"a" * (n - 11 + 1) + b'"}',
        413,
        "request_too_large",
    ),
    "nested-10000": (lambda _: nested(10_000).encode(), 400, "invalid_argument"),
    "nested-10000-objects": (
        lambda _: b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        400,
        "invalid_argument",
    ),
    "nested-10000-in-a-member": (
        lambda _: b'{"data":' + nested(10_000).encode() + b"}",
        400,
        "invalid_argument",
    ),
    "nested-1000": (lambda _: b'{"data":' + nested(1000).encode() + b"}", 400, "invalid_argument"),
    "nested-500": (lambda _: b'{"data":' + nested(500).encode() + b"}", 400, "invalid_argument"),
    "integer-5000-digits": (lambda _: b'{"data":1' + b"0" * 5000 + b"}", 400, "invalid_argument"),
    "number-1e400": (lambda _: b'{"data":1e400}', 400, "invalid_argument"),
}


@pytest.mark.parametrize("body", BODIES.keys())
def test_body_bombs_on_every_post_route_are_4xx(target: Target, body: str) -> None:
    make, status, code = BODIES[body]
    limit = target.api.settings.max_body_bytes
    content = make(limit)
    routes = _post_routes(target)
    assert {"/v1/auth/token/get", "/api/v1/tokens", "/v1/identify", "/admin/v1/workspaces"} <= set(
        routes
    )
    for template in routes:
        path = template.replace("{api_key}", target.ws.api_key)
        headers = {"Content-Type": "application/json", **_credentials(target, template)}
        response = target.api.client.post(path, content=content, headers=headers)
        assert response.status_code == status, (template, response.text)
        assert assert_envelope(response)["code"] == code, (template, response.text)
    target.assert_healthy()


def test_an_oversized_chunked_body_is_a_413_on_every_post_route(target: Target) -> None:
    """Without a Content-Length the body is counted as it comes."""
    for template in _post_routes(target):
        path = template.replace("{api_key}", target.ws.api_key)

        def chunks() -> Iterator[bytes]:
            yield b'{"name":"'
            for _ in range(32):
                yield b"a" * 32768
            yield b'"}'

        headers = {"Content-Type": "application/json", **_credentials(target, template)}
        response = target.api.client.post(path, content=chunks(), headers=headers)
        assert_error(response, 413, "INVALID_ARGUMENT", "request_too_large")
    target.assert_healthy()


# --- 7. replay after revocation -----------------------------------------------------------------


def _jti(token: str) -> str:
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    jti: str = payload["jti"]
    return jti


@pytest.mark.parametrize("by", ["jti", "userId", "organizationId"])
def test_a_revoked_token_is_refused_on_replay(target: Target, by: str) -> None:
    user_id = f"replay-{by}"
    org = f"org-{by}"
    token = target.api.token(
        target.ws, user_id, organization_id=org, email=f"{user_id}@example.com"
    )
    user = {"userId": user_id, "organizationId": org, "email": f"{user_id}@example.com"}
    assert target.api.identify(user, token).status_code == 200
    value = {"jti": _jti(token), "userId": user_id, "organizationId": org}[by]
    revoked = target.api.client.post(
        f"/admin/v1/workspaces/{target.ws.api_key}/revocations",
        json={by: value, "reason": "replay test"},
        headers=target.api.admin,
    )
    assert revoked.status_code == 201, revoked.text
    for _ in range(3):  # and again: no cache lets it back in
        assert_error(target.api.identify(user, token), 401, "UNAUTHENTICATED", "token_revoked")
    target.assert_healthy()


# --- 8. across workspaces -----------------------------------------------------------------------


def test_a_token_of_one_workspace_is_refused_by_another(target: Target) -> None:
    token = target.api.token(target.ws, "crosser", email="crosser@example.com")
    assert target.identify(token, "crosser").status_code == 200
    response = target.identify(token, "crosser", ws=target.other)
    assert_error(response, 401, "UNAUTHENTICATED", "token_unknown_kid")
    keys = JWKSet.from_dict(
        target.api.client.get(f"/w/{target.other.api_key}/.well-known/jwks.json").json()
    )
    with pytest.raises(TokenError) as refused:
        core_verify(
            token,
            keys,
            issuer=target.other.issuer,
            audience=target.other.api_key,
            clock=target.api.clock,
        )
    assert refused.value.code == "token_unknown_kid"
    with target.remote_verifier(target.other) as verifier, pytest.raises(TokenError) as remote:
        verifier.verify(token)
    assert remote.value.code == "token_unknown_kid"


def test_a_token_signed_by_another_workspace_for_this_one_is_refused(target: Target) -> None:
    """Claims of workspace A, signed with workspace B's key and kid, shown to A."""
    assert_refused(target, _other_workspace_key(target), {"token_unknown_kid"})


def test_an_auth_token_of_one_workspace_cannot_mint_in_another(target: Target) -> None:
    body = target.api.mint_body(target.ws, "crosser", email="crosser@example.com")
    body["data"]["apiKey"] = target.other.api_key
    response = target.api.client.post("/v1/auth/token/get", json=body)
    assert_error(response, 403, "PERMISSION_DENIED", "auth_token_wrong_workspace")
    response = target.api.client.post(
        "/api/v1/tokens",
        json={"username": "crosser@example.com"},
        headers={"Authorization": f"idmint {target.other.api_key}:{target.ws.secret}"},
    )
    assert_error(response, 403, "PERMISSION_DENIED", "auth_token_wrong_workspace")
    response = target.api.client.get(
        f"/admin/v1/workspaces/{target.other.api_key}", headers=target.api.bearer(target.ws.secret)
    )
    assert_error(response, 403, "PERMISSION_DENIED", "auth_token_wrong_workspace")
    target.assert_healthy()
