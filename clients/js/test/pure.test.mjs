// The SDK's pure logic: claims decoding, expiry and refresh timing, backoff, retry rules.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  IdmintError,
  backoffDelay,
  base64UrlDecode,
  decodeClaims,
  expiryDeadline,
  expiryDelay,
  isExpired,
  isRetryable,
  parseGeneratedToken,
  refreshDelay,
  tokenLifetime,
} from "../idmint.js";

function b64url(text) {
  return Buffer.from(text, "utf8").toString("base64url");
}

function jwt(claims, header = { alg: "ES256", typ: "JWT", kid: "k1" }) {
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}.c2lnbmF0dXJl`;
}

describe("decodeClaims", () => {
  test("reads the payload of a compact JWT", () => {
    const claims = { sub: "user-1", iat: 1_700_000_000, exp: 1_700_000_003, organizationId: "org-1" };
    assert.deepEqual(decodeClaims(jwt(claims)), claims);
  });

  test("decodes UTF-8 payloads (names, emoji) through base64url", () => {
    const claims = { sub: "zoë", name: "Zoë Ångström 🦊", org: "東京", exp: 2, iat: 1 };
    const token = jwt(claims);
    assert.match(token.split(".")[1], /^[A-Za-z0-9_-]+$/); // no +, / or = on the wire
    assert.deepEqual(decodeClaims(token), claims);
  });

  test("every padding length decodes, with or without '='", () => {
    for (const text of ["a", "ab", "abc", "abcd", "é", "{}", '{"a":1}', '{"ab":12}']) {
      const unpadded = Buffer.from(text).toString("base64url");
      const padded = Buffer.from(text).toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
      assert.equal(new TextDecoder().decode(base64UrlDecode(unpadded)), text);
      assert.equal(new TextDecoder().decode(base64UrlDecode(padded)), text);
    }
  });

  test("uses the URL-safe alphabet ('-' and '_')", () => {
    // bytes chosen so that standard base64 would need '+' and '/'
    const bytes = Uint8Array.from([0xfb, 0xff, 0xbf]);
    assert.equal(Buffer.from(bytes).toString("base64url"), "-_-_");
    assert.deepEqual(base64UrlDecode("-_-_"), bytes);
  });

  test("rejects what is not a JWT payload", () => {
    const header = b64url('{"alg":"ES256"}');
    const bad = [
      "",
      "abc",
      "a.b",
      "a.b.c.d",
      `${header}..sig`,
      `${header}.${b64url("not json")}.sig`,
      `${header}.${b64url("[1,2]")}.sig`,
      `${header}.${b64url("null")}.sig`,
      `${header}.${b64url("42")}.sig`,
      `${header}.abc+def.sig`, // '+' is not base64url
      `${header}.abcde.sig`, // impossible length (4n+1)
      `${header}.${Buffer.from([0xff, 0xfe, 0xfd]).toString("base64url")}.sig`, // not UTF-8
      `${header}.${"A".repeat(20_000)}.sig`,
    ];
    for (const token of bad) {
      assert.throws(() => decodeClaims(token), (error) => error instanceof IdmintError && error.code === "token_malformed", token.slice(0, 40));
    }
    assert.throws(() => decodeClaims(undefined), { code: "token_malformed" });
    assert.throws(() => decodeClaims(42), { code: "token_malformed" });
  });
});

describe("expiry scheduling", () => {
  const claims = { iat: 1_700_000_000, exp: 1_700_000_003 };

  test("a token lives exp - iat from its receipt", () => {
    assert.equal(tokenLifetime(claims), 3000);
    assert.equal(expiryDeadline(claims, 500), 3500);
    assert.equal(expiryDelay(claims, 500, 500), 3000);
    assert.equal(expiryDelay(claims, 500, 2500), 1000);
    assert.equal(expiryDelay(claims, 500, 9999), 0);
  });

  test("the client's wall clock does not matter, however skewed", () => {
    // The same 3-second token, received at the same moment of the client's monotonic clock,
    // by clients whose wall clocks are a year behind, right, and a year ahead.
    const year = 365 * 24 * 3600;
    const receivedAt = 12_345.6;
    for (const skew of [-year, -3600, 0, 3600, year]) {
      const skewedNow = (Date.now() / 1000 + skew) * 1000;
      assert.ok(Number.isFinite(skewedNow));
      assert.equal(expiryDelay(claims, receivedAt, receivedAt), 3000);
      assert.equal(expiryDelay(claims, receivedAt, receivedAt + 2999), 1);
      assert.equal(expiryDeadline(claims, receivedAt), receivedAt + 3000);
    }
    // a token minted long ago (by the server's clock) still lives exp - iat from receipt
    assert.equal(tokenLifetime({ iat: 1000, exp: 1000 + 172_800 }), 172_800_000);
  });

  test("a server-clock estimate can only shorten the lifetime", () => {
    assert.equal(tokenLifetime(claims, claims.iat + 1), 2000);
    assert.equal(tokenLifetime(claims, claims.iat - 100), 3000);
    assert.equal(tokenLifetime(claims, claims.exp + 5), 0);
    assert.equal(tokenLifetime({ exp: 10 }, 4), 6000);
  });

  test("without exp (or without iat and a server clock) there is nothing to schedule", () => {
    assert.equal(tokenLifetime({}), null);
    assert.equal(tokenLifetime({ iat: 1 }), null);
    assert.equal(tokenLifetime({ exp: 5 }), null);
    assert.equal(tokenLifetime({ exp: "5", iat: 1 }), null);
    assert.equal(expiryDelay({ iat: 1 }, 0, 0), null);
  });
});

describe("refreshDelay", () => {
  test("refreshes between 80 % and 90 % of the lifetime by default", () => {
    const lifetime = 172_800_000; // 48 h
    assert.equal(refreshDelay(lifetime, { random: () => 0 }), lifetime * 0.8);
    assert.ok(Math.abs(refreshDelay(lifetime, { random: () => 0.5 }) - lifetime * 0.85) < 1e-6);
    assert.ok(refreshDelay(lifetime, { random: () => 0.999999 }) < lifetime * 0.9);
    for (let i = 0; i < 1000; i += 1) {
      const delay = refreshDelay(4000);
      assert.ok(delay >= 3200 && delay <= 3600, String(delay));
    }
  });

  test("jitter spreads clients out", () => {
    const seen = new Set();
    for (let i = 0; i < 50; i += 1) seen.add(Math.round(refreshDelay(100_000)));
    assert.ok(seen.size > 10, `only ${seen.size} distinct delays`);
  });

  test("honours at/jitter and clamps a bad random()", () => {
    assert.equal(refreshDelay(1000, { at: 0.5, jitter: 0, random: () => 0.7 }), 500);
    assert.equal(refreshDelay(1000, { at: 0.8, jitter: 0.1, random: () => -3 }), 800);
    assert.equal(refreshDelay(1000, { at: 0.8, jitter: 0.1, random: () => 7 }), 900);
    assert.equal(refreshDelay(1000, { at: 0.8, jitter: 0.1, random: () => Number.NaN }), 800);
    assert.equal(refreshDelay(1000, { at: 0.99, jitter: 0.5, random: () => 1 }), 1000); // never past expiry
    assert.equal(refreshDelay(0), 0);
    assert.equal(refreshDelay(-5), 0);
  });
});

describe("backoffDelay", () => {
  test("doubles from retryDelay", () => {
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoffDelay(n, 100, 1e9)), [100, 200, 400, 800, 1600]);
  });

  test("is capped", () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, 1000, 5000)), [1000, 2000, 4000, 5000, 5000, 5000]);
    assert.equal(backoffDelay(5000, 1000, 30_000), 30_000); // no overflow to Infinity/NaN
    assert.equal(backoffDelay(3), 4000); // defaults: 1 s base, 30 s cap
    assert.equal(backoffDelay(10), 30_000);
  });

  test("no wait before the first attempt or with no base delay", () => {
    assert.equal(backoffDelay(0, 1000, 5000), 0);
    assert.equal(backoffDelay(-1, 1000, 5000), 0);
    assert.equal(backoffDelay(3, 0, 5000), 0);
  });
});

describe("isExpired (rejecting tokens that are already expired)", () => {
  test("a token without lifetime is expired whatever the clocks say", () => {
    assert.equal(isExpired({ iat: 100, exp: 100 }), true);
    assert.equal(isExpired({ iat: 100, exp: 50 }), true);
    assert.equal(isExpired({ iat: 100, exp: 101 }), false);
  });

  test("against the server-clock estimate, never the client's wall clock", () => {
    const claims = { iat: 1000, exp: 1003 };
    assert.equal(isExpired(claims, { serverNow: 1002.9 }), false);
    assert.equal(isExpired(claims, { serverNow: 1003 }), true);
    assert.equal(isExpired(claims, { serverNow: 5000 }), true);
    // no estimate yet: only exp <= iat counts, so a client clock years ahead rejects nothing
    assert.equal(isExpired(claims), false);
    assert.equal(isExpired({ exp: 1 }), false);
    assert.equal(isExpired({}), false);
  });
});

describe("isRetryable", () => {
  test("never a 401 or 403 from the token endpoint", () => {
    assert.equal(isRetryable(new IdmintError("token_provider_failed", "x", { source: "provider", status: 401 })), false);
    assert.equal(isRetryable(new IdmintError("token_provider_failed", "x", { source: "provider", status: 403 })), false);
    assert.equal(isRetryable(new IdmintError("token_provider_failed", "x", { source: "provider", status: 500 })), true);
    assert.equal(isRetryable(new IdmintError("token_provider_failed", "x", { source: "provider" })), true);
    assert.equal(isRetryable({ status: 401 }), false);
    assert.equal(isRetryable(new Error("boom")), true);
  });

  test("idmint's refusals only when a new token or a later try can help", () => {
    const server = (code, status) => new IdmintError(code, code, { source: "server", status });
    assert.equal(isRetryable(server("token_expired", 401)), true);
    assert.equal(isRetryable(server("unavailable", 503)), true);
    assert.equal(isRetryable(server("http_error", 502)), true);
    assert.equal(isRetryable(server("rate_limited", 429)), true);
    assert.equal(isRetryable(server("user_mismatch", 403)), false);
    assert.equal(isRetryable(server("token_revoked", 401)), false);
    assert.equal(isRetryable(server("origin_not_allowed", 403)), false);
    assert.equal(isRetryable(new IdmintError("network_error", "x", { source: "network" })), true);
  });

  test("an explicit retryable flag wins", () => {
    assert.equal(isRetryable({ status: 401, retryable: true }), true);
    assert.equal(isRetryable({ status: 500, retryable: false }), false);
  });
});

describe("parseGeneratedToken (what generateToken may resolve with)", () => {
  const token = jwt({ sub: "u", iat: 1, exp: 2 });

  test("a string, an object, idmint's mint answer", async () => {
    assert.equal(await parseGeneratedToken(token), token);
    assert.equal(await parseGeneratedToken(` ${token}\n`), token);
    assert.equal(await parseGeneratedToken({ token }), token);
    assert.equal(await parseGeneratedToken({ authToken: token }), token);
    assert.equal(await parseGeneratedToken({ result: { status: "success", data: { token } } }), token);
  });

  test("a fetch Response: JSON or bare body, status on failure", async () => {
    assert.equal(await parseGeneratedToken(new Response(JSON.stringify({ token }))), token);
    assert.equal(await parseGeneratedToken(new Response(JSON.stringify(token))), token);
    assert.equal(await parseGeneratedToken(new Response(token)), token);
    await assert.rejects(parseGeneratedToken(new Response("{}", { status: 401 })), { code: "token_provider_failed", status: 401, source: "provider" });
    await assert.rejects(parseGeneratedToken(new Response("oops", { status: 503 })), { code: "token_provider_failed", status: 503 });
    await assert.rejects(parseGeneratedToken(new Response("{}")), { code: "token_missing" });
  });

  test("nothing, or a status object", async () => {
    await assert.rejects(parseGeneratedToken(undefined), { code: "token_missing" });
    await assert.rejects(parseGeneratedToken(""), { code: "token_missing" });
    await assert.rejects(parseGeneratedToken({}), { code: "token_missing" });
    await assert.rejects(parseGeneratedToken({ status: 403 }), { code: "token_provider_failed", status: 403 });
  });
});

test("IdmintError carries code, message, source, timestamp and serialises", () => {
  const cause = new IdmintError("token_provider_failed", "denied", { source: "provider", status: 401 });
  const error = new IdmintError("token_refresh_failed", "gave up", { source: "provider", attempts: 1, status: 401, cause });
  assert.ok(error instanceof Error);
  assert.equal(error.name, "IdmintError");
  assert.equal(error.code, "token_refresh_failed");
  assert.equal(error.source, "provider");
  assert.equal(typeof error.timestamp, "number");
  assert.equal(error.cause, cause);
  const json = JSON.parse(JSON.stringify(error));
  assert.equal(json.message, "gave up");
  assert.equal(json.attempts, 1);
  assert.equal(json.cause.code, "token_provider_failed");
  assert.equal(json.cause.status, 401);
  assert.equal(json.name, undefined);
});
