"""Where a mint and a verify spend their time beyond the raw signature operation.

Three figures per operation, all timed as :mod:`bench.micro.core` times (interleaved best-of rounds):

- the overhead: the full call minus the raw ``cryptography`` operation;
- the library code alone: the same mint and verify with the key's ``cryptography`` object
  replaced by a stub that returns a precomputed signature (or accepts any), registered with
  ``cryptography``'s key ABC so that idmint's type checks take their normal path.  It is
  smaller than the overhead: a signature runs slower when other work runs between two
  signatures than in a tight loop (cold caches), and that part belongs to neither side;
- each step of the library code on its own; the "rest" is the library-only figure minus the
  steps (Python calls, argument passing, attribute look-ups, type checks).

The mint steps restate the statements of ``idmint.jose.tokens.TokenMinter.mint``,
``idmint.jose.jws.sign_compact`` and ``idmint.jose.algorithms`` (they have no function of their own);
the verify steps call idmint's own functions where it has them.  When those modules change,
change the steps here to match.
"""

from __future__ import annotations

import os
import time
from base64 import urlsafe_b64encode
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from bench.micro import core
from bench.micro.core import (
    EMAIL,
    MINT_STMT,
    ORGANIZATION,
    SUBJECT,
    Fixture,
    Settings,
    best_round,
    make_fixture,
    measure,
)
from idmint import KeyRing, MintedToken, VerifiedToken
from idmint.jose import jws as idmint_jws
from idmint.jose._b64 import b64decode

ALGORITHMS = ("ES256", "EdDSA")


def _library_only_namespace(alg: str) -> dict[str, Any]:
    """A fixture whose key objects are stubs: mint and verify then run idmint's code alone."""
    fixture = make_fixture(alg)  # a fixture of its own: the stubs replace its key objects
    ns = fixture.namespace
    signature: bytes = eval(fixture.raw_sign_stmt, dict(ns))  # noqa: S307 - the real output, once
    private_abc, public_abc = (
        (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)
        if alg.startswith("ES")
        else (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)
    )

    class StubPrivateKey:
        def sign(self, *args: Any) -> bytes:
            return signature

    class StubPublicKey:
        def verify(self, *args: Any) -> None:
            return None

    private_abc.register(StubPrivateKey)
    public_abc.register(StubPublicKey)
    # SigningKey and VerificationKey are frozen dataclasses; KeyRing.resolve hands out the same
    # VerificationKey object, so the minter and the verifier both see the stubs.
    object.__setattr__(fixture.key, "private_key", StubPrivateKey())
    object.__setattr__(fixture.key.public, "public_key", StubPublicKey())
    fresh = fixture.minter.mint(SUBJECT, organization_id=ORGANIZATION, email=EMAIL).token
    assert fixture.verifier.verify(fresh).claims.subject == SUBJECT
    return ns


def _mint_steps(fixture: Fixture, ns: dict[str, Any]) -> list[tuple[str, str]]:
    minter, key = fixture.minter, fixture.key
    claims = dict(
        minter.mint(SUBJECT, organization_id=ORGANIZATION, email=EMAIL, is_admin=False).claims
    )
    payload = orjson.dumps(claims)
    payload_segment = urlsafe_b64encode(payload).rstrip(b"=")
    signing_input = key.header_segment + b"." + payload_segment
    raw_signature = key.sign(signing_input)
    ns.update(
        minter=minter,
        key=key,
        urandom=os.urandom,
        b64e=urlsafe_b64encode,
        dumps=orjson.dumps,
        claims=claims,
        payload=payload,
        header_segment=key.header_segment,
        payload_segment=payload_segment,
        raw_signature=raw_signature,
        signature_segment=urlsafe_b64encode(raw_signature).rstrip(b"="),
        MintedToken=MintedToken,
        KeyRing=KeyRing,
        now=int(time.time()),
        jti=claims["jti"],
        token=fixture.token,
        seconds=minter.lifetime,
        sub=SUBJECT,
    )
    steps = [
        (
            "active key: isinstance + KeyRing.active",
            "minter.keys.active if isinstance(minter.keys, KeyRing) else minter.keys",
        ),
        ("clock: int(time.time())", "int(minter.clock.now())"),
        ("jti: os.urandom(16)", "urandom(16)"),
        (
            "jti: base64url of the 16 bytes",
            "b64e(b'0123456789abcdef').rstrip(b'=').decode('ascii')",
        ),
        (
            "claims dict (10 members)",
            "c = {'iss': 'i', 'aud': 'a', 'sub': sub, 'iat': now, 'nbf': now, 'exp': now + seconds,"
            " 'jti': jti, 'isAdmin': False}; c['organizationId'] = 'o'; c['email'] = 'e'",
        ),
        ("orjson.dumps(claims)", "dumps(claims)"),
        ("base64url of the payload", "b64e(payload).rstrip(b'=')"),
        ("signing input concatenation", "header_segment + b'.' + payload_segment"),
    ]
    if fixture.alg.startswith("ES"):
        ns.update(
            decode_dss=decode_dss_signature, der=ns["priv"].sign(fixture.signing_input, ns["ecdsa"])
        )
        steps += [
            ("ES256: DER -> (r, s) decode", "decode_dss(der)"),
            (
                "ES256: (r, s) -> 64-byte r || s",
                "rs = decode_dss(der); rs[0].to_bytes(32, 'big') + rs[1].to_bytes(32, 'big')",
            ),
        ]
    steps += [
        ("base64url of the signature", "b64e(raw_signature).rstrip(b'=')"),
        (
            "token concatenation + ascii decode",
            "(header_segment + b'.' + payload_segment + b'.' + signature_segment).decode('ascii')",
        ),
        (
            "MintedToken(...) construction",
            "MintedToken(token, 'kid', jti, now, now + seconds, claims)",
        ),
    ]
    return steps


def _verify_steps(fixture: Fixture, ns: dict[str, Any]) -> list[tuple[str, str]]:
    verifier, token = fixture.verifier, fixture.token
    header_segment, payload_segment, signature_segment = token.split(".")
    jws = idmint_jws.verify_compact(token, verifier.keys)
    claims = idmint_jws.load_json_object(jws.payload, "claims")
    validated = verifier.claims.validate(claims)
    ns.update(
        token=token,
        verifier=verifier,
        keys=verifier.keys,
        kid=fixture.key.kid,
        b64d=b64decode,
        load=idmint_jws.load_json_object,
        loads=orjson.loads,
        payload=jws.payload,
        claims=claims,
        validated=validated,
        header=jws.header,
        vkey=jws.key,
        header_segment=header_segment,
        payload_segment=payload_segment,
        signature_segment=signature_segment,
        n=len(header_segment) + 1 + len(payload_segment),
        VerifiedJWS=idmint_jws.VerifiedJWS,
        VerifiedToken=VerifiedToken,
        parse_header=getattr(idmint_jws, "_parse_header", None),
    )
    steps = [("split into 3 segments", "token.split('.')")]
    if ns["parse_header"] is not None:
        steps.append(("header: _parse_header (lru_cache hit)", "parse_header(header_segment)"))
    steps += [
        ("keys.resolve(kid)", "keys.resolve(kid)"),
        ("strict b64decode of the payload", "b64d(payload_segment)"),
        ("strict b64decode of the signature", "b64d(signature_segment)"),
        ("signing input slice + ascii encode", "token[:n].encode('ascii')"),
    ]
    if fixture.alg.startswith("ES"):
        ns.update(encode_dss=encode_dss_signature)
        steps.append(
            (
                "ES256: r || s -> DER",
                "encode_dss(int.from_bytes(sig[:32], 'big'), int.from_bytes(sig[32:], 'big'))",
            )
        )
    steps += [
        ("VerifiedJWS(...) construction", "VerifiedJWS(header, payload, vkey)"),
        ("claims JSON: load_json_object (json + dup check)", "load(payload, 'claims')"),
        ("claims: ClaimsValidator.validate", "verifier.claims.validate(claims)"),
        ("VerifiedToken(...) construction", "VerifiedToken(header, validated, vkey)"),
    ]
    return steps


def breakdown(alg: str, settings: Settings) -> dict[str, Any]:
    fixture = make_fixture(alg)
    ns, mint_ns, verify_ns = fixture.namespace, dict(fixture.namespace), dict(fixture.namespace)
    mint_steps = _mint_steps(fixture, mint_ns)
    verify_steps = _verify_steps(fixture, verify_ns)
    stub_ns = _library_only_namespace(alg)

    # Everything is timed the way core times it (interleaved rounds, best round kept), so the
    # full calls, the stubbed calls and the steps see the same machine.
    shares: dict[str, list[float]] = {}
    full = measure(
        {
            "raw_sign": (fixture.raw_sign_stmt, ns),
            "mint": (MINT_STMT, ns),
            "library_mint": (MINT_STMT, stub_ns),
            "raw_verify": (fixture.raw_verify_stmt, ns),
            "verify": ("verify(token)", ns),
            "library_verify": ("verify(token)", stub_ns),
        },
        settings,
        shares,
    )
    step_cases = {f"mint:{label}": (stmt, mint_ns) for label, stmt in mint_steps}
    step_cases |= {f"verify:{label}": (stmt, verify_ns) for label, stmt in verify_steps}
    step_cases["reference:(reference) orjson.loads(payload)"] = ("loads(payload)", verify_ns)
    short = Settings(settings.rounds, settings.round_time / 3, settings.calibration_time / 3)
    steps = measure(step_cases, short, shares)
    picked = {name: best_round(values, shares[name]) for name, values in (full | steps).items()}
    us = {name: 1e6 / value for name, (value, _) in picked.items()}

    if alg.startswith("ES"):
        # "r, s -> r || s" was timed including the DER decode: keep only its own part.
        us["mint:ES256: (r, s) -> 64-byte r || s"] -= us["mint:ES256: DER -> (r, s) decode"]

    def rows(prefix: str) -> list[list[Any]]:
        return [
            [name.split(":", 1)[1], round(value, 3)]
            for name, value in us.items()
            if name.startswith(prefix + ":")
        ]

    def summary(op: str, raw: str) -> dict[str, Any]:
        listed = rows(op)
        accounted = sum(value for _, value in listed)
        library = us[f"library_{op}"]
        return {
            f"{op}_us": round(us[op], 3),
            f"{raw}_us": round(us[raw], 3),
            "overhead_us": round(us[op] - us[raw], 3),
            "library_only_us": round(library, 3),
            "steps_us": listed,
            "steps_sum_us": round(accounted, 3),
            "rest_us": round(library - accounted, 3),
        }

    return {
        "alg": alg,
        "disturbed": min(clean for _, clean in picked.values()) < core.MIN_CLEAN_ROUNDS,
        "mint": summary("mint", "raw_sign"),
        "verify": summary("verify", "raw_verify"),
        "reference_us": rows("reference"),
    }


QUICK = core.QUICK


def run(progress: Any = None, settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or Settings(rounds=15)
    results = []
    for alg in ALGORITHMS:
        if progress:
            progress(f"breakdown: {alg}")
        results.append(breakdown(alg, settings))
    disturbed = [r["alg"] for r in results if r["disturbed"]]
    notes = []
    if disturbed:
        notes.append(
            f"WARNING: other processes took the CPU during most rounds of {', '.join(disturbed)};"
            " those figures are unreliable: rerun on a quieter machine."
        )
    return {
        "name": "breakdown",
        "title": "Where the time goes (µs per token)",
        "settings": {"rounds": settings.rounds, "round_time_s": settings.round_time},
        "notes": notes,
        "algorithms": results,
    }


def lines(section: dict[str, Any]) -> list[str]:
    out = []
    for r in section["algorithms"]:
        for op, raw in (("mint", "raw_sign"), ("verify", "raw_verify")):
            s = r[op]
            out.append(
                f"{r['alg']} {op}: {s[f'{op}_us']:.1f} µs = {raw} {s[f'{raw}_us']:.1f}"
                f" + overhead {s['overhead_us']:.1f} µs;"
                f" library code alone (signature stubbed) {s['library_only_us']:.1f} µs:"
            )
            width = max(len(label) for label, _ in s["steps_us"])
            for label, us in s["steps_us"]:
                out.append(f"    {label:<{width}}  {us:6.2f}")
            out.append(f"    {'rest (calls, attribute look-ups)':<{width}}  {s['rest_us']:6.2f}")
        for label, us in r["reference_us"]:
            out.append(f"  {label}: {us:.2f} µs")
    return out


if __name__ == "__main__":  # pragma: no cover - python -m bench --only breakdown: the report
    print("\n".join(lines(run(progress=print))))
