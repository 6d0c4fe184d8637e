// The client's behaviour on a fake clock, against a fake idmint, with fake Web Locks and
// BroadcastChannel for the multi-tab cases.  Nothing sleeps: time moves when a test says so.
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";

import { createClient } from "../idmint.js";

// ---- fakes ------------------------------------------------------------------------------------

async function flush() {
  for (let i = 0; i < 25; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** Monotonic and wall clocks that move only in advance(); timers run in order. */
class FakeClock {
  constructor({ wall = Date.UTC(2031, 0, 1) } = {}) {
    this.mono = 5_000;
    this.wall = wall;
    this.real = 5_000; // true time, for idmint's clock: it moves during sleep too
    this.timers = new Map();
    this.nextId = 1;
    this.now = () => this.mono;
    this.wallNow = () => this.wall;
    this.setTimeout = (fn, ms) => {
      const id = this.nextId++;
      this.timers.set(id, { fn, at: this.mono + Math.max(0, Number(ms) || 0) });
      return id;
    };
    this.clearTimeout = (id) => this.timers.delete(id);
  }

  async advance(ms) {
    const target = this.mono + ms;
    for (;;) {
      await flush();
      let next = null;
      for (const [id, timer] of this.timers) {
        if (timer.at <= target && (next === null || timer.at < next.timer.at)) next = { id, timer };
      }
      if (next === null) break;
      this.timers.delete(next.id);
      const step = Math.max(0, next.timer.at - this.mono);
      this.mono += step;
      this.wall += step;
      this.real += step;
      next.timer.fn();
    }
    const step = target - this.mono;
    this.mono += step;
    this.wall += step;
    this.real += step;
    await flush();
  }

  /** The machine sleeps: the wall clock moves, the monotonic clock and the timers do not. */
  sleep(ms) {
    this.wall += ms;
    this.real += ms;
  }
}

const b64url = (value) => Buffer.from(JSON.stringify(value), "utf8").toString("base64url");

/** A fake idmint and a fake application backend, with a correct server clock. */
class FakeIdmint {
  constructor(clock, { serverEpoch = 1_900_000_000 } = {}) {
    this.clock = clock;
    this.serverEpoch = serverEpoch;
    this.identifies = [];
    this.signOuts = [];
    this.sessions = 0;
    this.jti = 0;
    this.fetch = async (url, init) => {
      const body = JSON.parse(init.body);
      const path = new URL(url).pathname;
      await null;
      if (path === "/v1/identify") return this.#identify(body);
      if (path === "/v1/sign-out") {
        this.signOuts.push(body);
        return this.#answer(200, { signedOut: true });
      }
      return this.#answer(404, { error: { code: "not_found", status: "NOT_FOUND", message: "no route" } });
    };
  }

  serverNow() {
    return this.serverEpoch + this.clock.real / 1000;
  }

  mint(userId, lifetime = 4, { iatOffset = 0 } = {}) {
    const iat = Math.floor(this.serverNow()) + iatOffset;
    this.jti += 1;
    const claims = { iss: "https://idmint.test/w/pk", aud: "pk", sub: userId, iat, nbf: iat, exp: iat + lifetime, jti: `j${this.jti}`, organizationId: "org-1" };
    return `${b64url({ alg: "ES256", typ: "JWT", kid: "k" })}.${b64url(claims)}.c2ln`;
  }

  #answer(status, body) {
    return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
  }

  #identify(body) {
    this.identifies.push({ at: this.clock.mono, token: body.authToken, user: body.user });
    const claims = JSON.parse(Buffer.from(body.authToken.split(".")[1], "base64url").toString("utf8"));
    if (claims.exp <= this.serverNow()) {
      const expiredAt = new Date(claims.exp * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
      return this.#answer(401, { error: { message: "The token expired.", status: "UNAUTHENTICATED", code: "token_expired", expiredAt } });
    }
    if (claims.sub !== body.user.userId) {
      return this.#answer(403, { error: { message: "userId does not match the token.", status: "PERMISSION_DENIED", code: "user_mismatch", field: "userId" } });
    }
    this.sessions += 1;
    const expiresAt = new Date(claims.exp * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
    return this.#answer(200, {
      session: { id: `ses_${this.sessions}`, user: { ...body.user }, organizationId: claims.organizationId, isAdmin: false, expiresAt, verified: true, mode: "jwt" },
    });
  }
}

/** navigator.locks, enough of it: exclusive locks, ifAvailable, queueing, abort signals. */
class FakeLocks {
  constructor() {
    this.held = new Map();
    this.requests = [];
  }

  async request(name, options, callback) {
    this.requests.push({ name, ifAvailable: Boolean(options.ifAvailable) });
    if (this.held.has(name)) {
      if (options.ifAvailable) return callback(null);
      await new Promise((resolve, reject) => {
        const waiter = { resolve };
        this.held.get(name).push(waiter);
        options.signal?.addEventListener("abort", () => {
          const queue = this.held.get(name);
          const index = queue ? queue.indexOf(waiter) : -1;
          if (index >= 0) queue.splice(index, 1);
          reject(new DOMException("aborted", "AbortError"));
        });
      });
    } else {
      this.held.set(name, []);
    }
    try {
      return await callback({ name, mode: "exclusive" });
    } finally {
      const next = this.held.get(name).shift();
      if (next) next.resolve();
      else this.held.delete(name);
    }
  }
}

/** BroadcastChannel between the "tabs" of one test: async delivery to the other instances. */
function fakeChannelClass() {
  const open = new Set();
  return class FakeBroadcastChannel {
    constructor(name) {
      this.name = name;
      this.onmessage = null;
      open.add(this);
    }

    postMessage(data) {
      for (const other of open) {
        if (other !== this && other.name === this.name) {
          const copy = structuredClone(data);
          setImmediate(() => other.onmessage?.({ data: copy }));
        }
      }
    }

    close() {
      open.delete(this);
    }
  };
}

// ---- harness ----------------------------------------------------------------------------------

const ANN = { userId: "user-1", organizationId: "org-1", email: "ann@example.com", name: "Ann" };
const YEAR_MS = 365 * 24 * 3600 * 1000;
const clients = [];

afterEach(() => {
  while (clients.length) clients.pop().destroy();
  delete globalThis.window;
  delete globalThis.document;
});

function setup({ wallSkew = 0, random = () => 0.5, ...options } = {}) {
  const clock = new FakeClock();
  const idmint = new FakeIdmint(clock);
  // the client's wall clock is off by wallSkew; idmint's (serverNow) is right
  clock.wall = (idmint.serverNow() * 1000) + wallSkew;
  const client = make(clock, idmint, { random, ...options });
  return { clock, idmint, client };
}

function make(clock, idmint, options = {}) {
  const client = createClient({
    apiKey: "pk",
    baseUrl: "https://idmint.test/",
    fetch: idmint.fetch,
    clock,
    tabSync: false,
    pageEvents: false,
    ...options,
  });
  clients.push(client);
  const log = { errors: [], sessions: [] };
  client.on("error").subscribe((error) => log.errors.push({ error, at: clock.mono }));
  client.on("session").subscribe((session) => log.sessions.push({ session, at: clock.mono }));
  return Object.assign(client, { log });
}

function codes(client) {
  return client.log.errors.map(({ error }) => error.code);
}

/** generateToken backed by the fake backend; `plan` may script failures per call. */
function provider(clock, idmint, { lifetime = 4, delay = 0, plan = () => null } = {}) {
  const calls = [];
  const generateToken = async (info) => {
    const call = calls.length + 1;
    calls.push({ at: clock.mono, info });
    if (delay) await new Promise((resolve) => clock.setTimeout(resolve, delay));
    const scripted = plan(call);
    if (scripted instanceof Error) throw scripted;
    if (scripted !== null && scripted !== undefined) return scripted;
    return idmint.mint("user-1", lifetime);
  };
  return { calls, generateToken };
}

// ---- identify ---------------------------------------------------------------------------------

describe("identify", () => {
  test("resolves with the session, remembers the user, emits it", async () => {
    const { idmint, client } = setup();
    const session = await client.identify(ANN, { authToken: idmint.mint("user-1", 3) });
    assert.equal(session.id, "ses_1");
    assert.equal(session.verified, true);
    assert.deepEqual(client.getUser(), ANN);
    assert.equal(client.getSession().id, "ses_1");
    assert.equal(client.log.sessions.length, 1);
    assert.deepEqual(client.log.errors, []);
    assert.deepEqual(idmint.identifies[0].user, ANN);
  });

  test("rejects with idmint's code (and emits it)", async () => {
    const { idmint, client } = setup();
    const error = await client.identify(ANN, { authToken: idmint.mint("user-2", 3) }).then(
      () => assert.fail("identify resolved"),
      (e) => e,
    );
    assert.equal(error.code, "user_mismatch");
    assert.equal(error.status, 403);
    assert.equal(error.grpcStatus, "PERMISSION_DENIED");
    assert.equal(error.field, "userId");
    assert.equal(error.source, "server");
    assert.equal(typeof error.message, "string");
    assert.deepEqual(codes(client), ["user_mismatch"]);
    assert.equal(client.getUser(), null);
  });

  test("checks its arguments before calling idmint", async () => {
    const { idmint, client } = setup();
    await assert.rejects(client.identify(null), { code: "invalid_argument", field: "user" });
    await assert.rejects(client.identify({ name: "x" }), { code: "invalid_argument", field: "user.userId" });
    await assert.rejects(client.identify(ANN, { authToken: 42 }), { code: "invalid_argument", field: "authToken" });
    assert.equal(idmint.identifies.length, 0);
  });

  test("a network failure is a network_error", async () => {
    const { idmint, client } = setup({
      fetch: async () => {
        throw new TypeError("Failed to fetch");
      },
    });
    await assert.rejects(client.identify(ANN, { authToken: idmint.mint("user-1") }), { code: "network_error", source: "network" });
  });

  test("an answer without the envelope is an http_error with its status", async () => {
    const { idmint, client } = setup({ fetch: async () => new Response("<html>bad gateway</html>", { status: 502 }) });
    await assert.rejects(client.identify(ANN, { authToken: idmint.mint("user-1") }), { code: "http_error", status: 502 });
  });

  test("needs an apiKey and a baseUrl", () => {
    assert.throws(() => createClient({ baseUrl: "https://x.test" }), TypeError);
    assert.throws(() => createClient({ apiKey: "pk" }), TypeError); // not loaded from /sdk/idmint.js
    assert.throws(() => createClient({ apiKey: "pk", baseUrl: "ftp://x" }), TypeError);
    assert.throws(() => createClient({ apiKey: "pk", baseUrl: "https://x.test", refreshAt: 1.5 }), TypeError);
  });
});

// ---- token_expired ----------------------------------------------------------------------------

describe("token_expired", () => {
  for (const skew of [-YEAR_MS, 0, YEAR_MS]) {
    test(`fires once, exp - iat after receipt, with the client clock off by ${skew / YEAR_MS} years`, async () => {
      const { clock, idmint, client } = setup({ wallSkew: skew });
      const receivedAt = clock.mono;
      await client.identify(ANN, { authToken: idmint.mint("user-1", 3) });
      await clock.advance(2_999 - (clock.mono - receivedAt));
      assert.deepEqual(codes(client), []);
      assert.ok(client.getSession());
      await clock.advance(1);
      assert.deepEqual(codes(client), ["token_expired"]);
      const [{ error, at }] = client.log.errors;
      assert.equal(at - receivedAt, 3000);
      assert.equal(error.source, "client");
      assert.match(error.expiredAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(typeof error.timestamp, "number");
      assert.equal(client.getSession(), null);
      assert.deepEqual(client.getUser(), ANN); // who it was is still known
      assert.equal(client.log.sessions.at(-1).session, null);
      await clock.advance(120_000);
      assert.deepEqual(codes(client), ["token_expired"]); // once
    });
  }

  test("also when idmint answers token_expired, still once per token", async () => {
    const { clock, idmint, client } = setup();
    const token = idmint.mint("user-1", 2);
    await clock.advance(2_500); // expired by idmint's clock before it was ever used
    const error = await client.identify(ANN, { authToken: token }).catch((e) => e);
    assert.equal(error.code, "token_expired");
    assert.equal(error.source, "server");
    assert.equal(error.status, 401);
    assert.match(error.expiredAt, /Z$/);
    await assert.rejects(client.identify(ANN, { authToken: token }), { code: "token_expired" });
    assert.deepEqual(codes(client), ["token_expired"]);
  });

  test("once the SDK saw a token expire, it refuses it without asking idmint", async () => {
    const { clock, idmint, client } = setup();
    const token = idmint.mint("user-1", 2);
    await client.identify(ANN, { authToken: token });
    await clock.advance(2_000);
    assert.deepEqual(codes(client), ["token_expired"]);
    await assert.rejects(client.identify(ANN, { authToken: token }), { code: "token_already_expired" });
    assert.equal(idmint.identifies.length, 1);
    assert.deepEqual(codes(client), ["token_expired", "token_already_expired"]); // token_expired once
  });

  test("if idmint reports the seconds left (session.expiresIn), it never waits longer", async () => {
    const clock = new FakeClock();
    const idmint = new FakeIdmint(clock);
    const fetch = async (url, init) => {
      const answer = await idmint.fetch(url, init);
      const body = await answer.json();
      if (body.session) body.session.expiresIn = 1; // e.g. a token handed out late
      return new Response(JSON.stringify(body), { status: answer.status });
    };
    const client = make(clock, idmint, { fetch });
    await client.identify(ANN, { authToken: idmint.mint("user-1", 30) });
    await clock.advance(999);
    assert.deepEqual(codes(client), []);
    await clock.advance(1);
    assert.deepEqual(codes(client), ["token_expired"]);
  });

  test("a token with no lifetime is refused without asking idmint", async () => {
    const { idmint, client } = setup();
    const dead = idmint.mint("user-1", 0);
    await assert.rejects(client.identify(ANN, { authToken: dead }), { code: "token_already_expired", source: "client" });
    assert.equal(idmint.identifies.length, 0);
  });

  test("sleep counts: a wall-clock jump past expiry is noticed at the next check", async () => {
    globalThis.window = new EventTarget();
    globalThis.document = Object.assign(new EventTarget(), { visibilityState: "visible" });
    const { clock, idmint, client } = setup({ pageEvents: true });
    await client.identify(ANN, { authToken: idmint.mint("user-1", 60) });
    clock.sleep(61_000); // monotonic clock and timers stood still
    globalThis.document.dispatchEvent(new Event("visibilitychange"));
    assert.deepEqual(codes(client), ["token_expired"]);
  });

  test("unsubscribe stops delivery; a throwing subscriber does not stop the others", async () => {
    const { clock, idmint, client } = setup();
    const seen = [];
    const originalError = console.error;
    console.error = () => {};
    try {
      client.on("error").subscribe(() => {
        throw new Error("subscriber bug");
      });
      const subscription = client.on("error").subscribe((e) => seen.push(e.code));
      await client.identify(ANN, { authToken: idmint.mint("user-1", 1) });
      await clock.advance(1_000);
      assert.deepEqual(seen, ["token_expired"]);
      subscription.unsubscribe();
      assert.equal(subscription.closed, true);
      await assert.rejects(client.identify({ userId: "" }));
      assert.deepEqual(seen, ["token_expired"]);
    } finally {
      console.error = originalError;
    }
    assert.throws(() => client.on("nope"), TypeError);
  });
});

// ---- auth provider ----------------------------------------------------------------------------

describe("setAuthProvider", () => {
  test("signs in, then refreshes at 80-90 % of each lifetime with no gap and no error", async () => {
    const { clock, idmint, client } = setup({ random: () => 0.5 });
    const source = provider(clock, idmint, { lifetime: 4 });
    const start = clock.mono;
    const session = await client.setAuthProvider({ user: ANN, generateToken: source.generateToken });
    assert.equal(session.id, "ses_1");
    assert.equal(source.calls.length, 1);
    assert.deepEqual(source.calls[0].info, { userId: "user-1", reason: "sign-in" });
    await clock.advance(3_390 - (clock.mono - start)); // 85 % of 4 s is 3.4 s
    assert.equal(source.calls.length, 1);
    await clock.advance(20);
    assert.equal(source.calls.length, 2);
    assert.equal(source.calls[1].info.reason, "refresh");
    await clock.advance(60_000); // 15 lifetimes
    assert.deepEqual(codes(client), []);
    const refreshes = source.calls.length - 1;
    // 85 % of what is left of each token: 3.4 s at most, less by the part of a second that
    // idmint's whole-second iat hides (learned from the previous token)
    assert.ok(refreshes >= 17 && refreshes <= 22, `${refreshes} refreshes`);
    assert.equal(idmint.identifies.length, source.calls.length); // no duplicate identify
    assert.ok(client.getSession());
    // every refresh came before the previous token expired
    const gaps = source.calls.slice(1).map((call, i) => call.at - source.calls[i].at);
    assert.ok(gaps.every((gap) => gap < 4_000), String(gaps));
  });

  test("a refresh that fails once is retried before the token expires", async () => {
    const { clock, idmint, client } = setup({ random: () => 0 });
    const source = provider(clock, idmint, { lifetime: 10, plan: (n) => (n === 2 ? new Error("blip") : null) });
    await client.setAuthProvider({ user: ANN, generateToken: source.generateToken, retryConfig: { retryCount: 3, retryDelay: 500 } });
    await clock.advance(8_600);
    assert.equal(source.calls.length, 3);
    assert.equal(source.calls[2].at - source.calls[1].at, 500);
    await clock.advance(5_000);
    assert.deepEqual(codes(client), []);
  });

  test("a 401 from the token endpoint is never retried: one call, one final error", async () => {
    const { clock, idmint, client } = setup();
    const source = provider(clock, idmint, { plan: () => new Response('{"error":"logged out"}', { status: 401 }) });
    const error = await client
      .setAuthProvider({ user: ANN, generateToken: source.generateToken, retryConfig: { retryCount: 5, retryDelay: 10 } })
      .catch((e) => e);
    assert.equal(error.code, "token_refresh_failed");
    assert.equal(error.status, 401);
    assert.equal(error.attempts, 1);
    assert.equal(error.permanent, true);
    assert.equal(error.cause.code, "token_provider_failed");
    await clock.advance(600_000);
    assert.equal(source.calls.length, 1);
    assert.deepEqual(codes(client), ["token_refresh_failed"]);
    assert.equal(idmint.identifies.length, 0);
  });

  test("generateToken may reject with {status: 403} (or a thrown Response)", async () => {
    for (const failure of [Object.assign(new Error("forbidden"), { status: 403 }), new Response("", { status: 403 })]) {
      const { clock, idmint, client } = setup();
      const generateToken = async () => {
        throw failure;
      };
      await assert.rejects(client.setAuthProvider({ user: ANN, generateToken, retryConfig: { retryDelay: 1 } }), { code: "token_refresh_failed", status: 403 });
      await clock.advance(10_000);
      assert.equal(idmint.identifies.length, 0);
      assert.deepEqual(codes(client), ["token_refresh_failed"]);
    }
  });

  test("transient failures back off exponentially, capped, then one final error", async () => {
    const { clock, idmint, client } = setup();
    const source = provider(clock, idmint, { plan: () => new Response("down", { status: 503 }) });
    const outcome = client
      .setAuthProvider({ user: ANN, generateToken: source.generateToken, retryConfig: { retryCount: 4, retryDelay: 100, maxRetryDelay: 300 } })
      .catch((e) => e);
    await clock.advance(10_000);
    const error = await outcome;
    const waits = source.calls.slice(1).map((call, i) => call.at - source.calls[i].at);
    assert.deepEqual(waits, [100, 200, 300, 300]);
    assert.equal(error.code, "token_refresh_failed");
    assert.equal(error.attempts, 5);
    assert.equal(error.permanent, false);
    assert.equal(error.status, 503);
    await clock.advance(600_000);
    assert.equal(source.calls.length, 5); // no loop
    assert.deepEqual(codes(client), ["token_refresh_failed"]);
  });

  test("a new token that is already expired is refused (emitted) and not used", async () => {
    const { clock, idmint, client } = setup();
    const source = provider(clock, idmint, { plan: (n) => (n === 1 ? idmint.mint("user-1", 0) : null) });
    const signIn = client.setAuthProvider({ user: ANN, generateToken: source.generateToken, retryConfig: { retryDelay: 50 } });
    await clock.advance(50);
    assert.ok(await signIn);
    assert.deepEqual(codes(client), ["token_already_expired"]);
    assert.equal(client.log.errors[0].error.source, "provider");
    assert.equal(source.calls.length, 2);
    assert.equal(idmint.identifies.length, 1); // only the good token went to idmint
    assert.equal(clock.mono - source.calls[0].at, 50);
  });

  test("at refresh, a token older than the clock learned from the last one is refused", async () => {
    const { clock, idmint, client } = setup({ random: () => 0 });
    const old = idmint.mint("user-1", 3); // minted now, handed out 3.2 s later: already expired
    const source = provider(clock, idmint, { lifetime: 4, plan: (n) => (n === 2 ? old : null) });
    await client.setAuthProvider({ user: ANN, generateToken: source.generateToken, retryConfig: { retryCount: 1, retryDelay: 100 } });
    await clock.advance(3_300);
    assert.deepEqual(codes(client), ["token_already_expired"]);
    assert.equal(idmint.identifies.some((i) => i.token === old), false);
    assert.equal(source.calls.length, 3); // refused, retried once, fine
    await clock.advance(2_000);
    assert.deepEqual(codes(client), ["token_already_expired"]);
  });

  test("at refresh, the same token again is not a refresh", async () => {
    const { clock, idmint, client } = setup({ random: () => 0 });
    let first = null;
    const generateToken = async () => {
      first ??= idmint.mint("user-1", 10);
      return first; // a backend that caches its token
    };
    await client.setAuthProvider({ user: ANN, generateToken, retryConfig: { retryCount: 2, retryDelay: 100 } });
    await clock.advance(8_400);
    assert.deepEqual(codes(client), ["token_refresh_failed"]);
    assert.equal(client.log.errors[0].error.cause.code, "token_stale");
    assert.equal(idmint.identifies.length, 1);
    await clock.advance(2_000);
    assert.deepEqual(codes(client), ["token_refresh_failed", "token_expired"]);
  });

  test("if the provider keeps failing, the token expires (once) and then it gives up", async () => {
    const { clock, idmint, client } = setup({ random: () => 0 });
    const source = provider(clock, idmint, { lifetime: 4, plan: (n) => (n > 1 ? new Error("down") : null) });
    await client.setAuthProvider({ user: ANN, generateToken: source.generateToken, retryConfig: { retryCount: 3, retryDelay: 400 } });
    await clock.advance(20_000);
    assert.deepEqual(codes(client), ["token_expired", "token_refresh_failed"]);
    assert.equal(source.calls.length, 1 + 4);
  });

  test("back online: a cut-short backoff and one more round after a transient failure", async () => {
    globalThis.window = new EventTarget();
    const { clock, idmint, client } = setup({ pageEvents: true });
    let down = true;
    const source = provider(clock, idmint, { plan: () => (down ? new TypeError("Failed to fetch") : null) });
    const first = client.setAuthProvider({ user: ANN, generateToken: source.generateToken, retryConfig: { retryCount: 1, retryDelay: 5_000 } }).catch((e) => e);
    await clock.advance(10);
    assert.equal(source.calls.length, 1);
    globalThis.window.dispatchEvent(new Event("online")); // wakes the 5 s backoff
    await clock.advance(10);
    assert.equal(source.calls.length, 2);
    assert.equal((await first).code, "token_refresh_failed");
    await clock.advance(600_000);
    assert.equal(source.calls.length, 2);
    down = false;
    globalThis.window.dispatchEvent(new Event("online"));
    await clock.advance(10);
    assert.equal(source.calls.length, 3);
    assert.ok(client.getSession());
  });

  test("after a sleep past the refresh point it refreshes at once and does not reuse the stale token", async () => {
    globalThis.window = new EventTarget();
    const { clock, idmint, client } = setup({ pageEvents: true });
    const source = provider(clock, idmint, { lifetime: 60 });
    await client.setAuthProvider({ user: ANN, generateToken: source.generateToken });
    const staleToken = idmint.identifies[0].token;
    clock.sleep(55_000);
    globalThis.window.dispatchEvent(new Event("online"));
    await clock.advance(1);
    assert.equal(source.calls.length, 2);
    assert.notEqual(idmint.identifies.at(-1).token, staleToken);
    assert.deepEqual(codes(client), []);
  });

  test("signOut ends the session at idmint and stops refreshing", async () => {
    const { clock, idmint, client } = setup();
    const source = provider(clock, idmint);
    await client.setAuthProvider({ user: ANN, generateToken: source.generateToken });
    assert.equal(await client.signOut(), true);
    assert.deepEqual(idmint.signOuts, [{ apiKey: "pk", sessionId: "ses_1" }]);
    assert.equal(client.getUser(), null);
    assert.equal(client.getSession(), null);
    await clock.advance(60_000);
    assert.equal(source.calls.length, 1);
    assert.deepEqual(codes(client), []);
    assert.equal(await client.signOut(), false);
  });

  test("a provider for another user ends the previous user's session here", async () => {
    const { clock, idmint, client } = setup();
    await client.identify(ANN, { authToken: idmint.mint("user-1", 5) });
    const bob = { userId: "user-2", organizationId: "org-1" };
    const generateToken = async () => idmint.mint("user-2", 60);
    const signIn = client.setAuthProvider({ user: bob, generateToken });
    assert.equal(client.getUser(), null);
    assert.equal(client.log.sessions.at(-1).session, null);
    await signIn;
    assert.equal(client.getUser().userId, "user-2");
    await clock.advance(10_000);
    assert.deepEqual(codes(client), []); // ann's token expiring is no longer this client's business
  });

  test("rejects a bad config at once", () => {
    const { client } = setup();
    assert.throws(() => client.setAuthProvider({ user: ANN }), TypeError);
    assert.throws(() => client.setAuthProvider({ user: {}, generateToken() {} }), { code: "invalid_argument" });
    assert.throws(() => client.setAuthProvider({ user: ANN, generateToken() {}, retryConfig: { retryCount: -1 } }), TypeError);
  });
});

// ---- several tabs -----------------------------------------------------------------------------

describe("tabs", () => {
  function tabs({ locks = new FakeLocks(), delay = 300, plan = () => null, randoms = [0, 0.5] } = {}) {
    const clock = new FakeClock();
    const idmint = new FakeIdmint(clock);
    const Channel = fakeChannelClass();
    const source = provider(clock, idmint, { lifetime: 4, delay, plan });
    const made = randoms.map((r) => make(clock, idmint, { tabSync: true, locks, BroadcastChannel: Channel, random: () => r }));
    return { clock, idmint, source, tabs: made, locks };
  }

  async function signIn(clock, all, source) {
    const signedIn = Promise.all(all.map((tab) => tab.setAuthProvider({ user: ANN, generateToken: source.generateToken })));
    await clock.advance(1_000);
    return signedIn;
  }

  for (const [name, locks] of [
    ["with Web Locks", () => new FakeLocks()],
    ["with BroadcastChannel only", () => null],
  ]) {
    test(`${name}: one refresh for all tabs, which all move to the fresh token`, async () => {
      const { clock, idmint, source, tabs: [a, b] } = tabs({ locks: locks() });
      await signIn(clock, [a, b], source);
      assert.equal(source.calls.length, 2); // each tab signs in
      // a refreshes at 80 %, b would at 85 % while a's (slow) refresh is still running
      await clock.advance(4_000);
      assert.equal(source.calls.length, 3);
      const fresh = idmint.identifies.at(-1).token;
      assert.equal(idmint.identifies.filter((i) => i.token === fresh).length, 2); // a, and b adopting
      assert.deepEqual([...codes(a), ...codes(b)], []);
      await clock.advance(40_000);
      assert.deepEqual([...codes(a), ...codes(b)], []);
      // one call per round: rounds are a lifetime apart, never two calls close together
      const gaps = source.calls.slice(2).map((call, i) => call.at - source.calls[i + 1].at);
      assert.ok(gaps.length >= 10, String(gaps));
      assert.ok(gaps.slice(1).every((gap) => gap >= 2_000), String(gaps));
      assert.equal(a.log.sessions.filter((s) => s.session).length, source.calls.length - 1);
      assert.equal(b.log.sessions.filter((s) => s.session).length, source.calls.length - 1);
    });
  }

  test("a tab that finds the lock taken waits for the token instead of asking for one", async () => {
    const { clock, source, tabs: [a, b], locks } = tabs({ delay: 500, randoms: [0, 0.02] });
    await signIn(clock, [a, b], source);
    await clock.advance(3_500);
    assert.ok(locks.requests.some((r) => r.ifAvailable) && locks.requests.some((r) => !r.ifAvailable), JSON.stringify(locks.requests));
    await clock.advance(1_000);
    assert.equal(source.calls.length, 3);
    assert.equal(a.log.sessions.filter((s) => s.session).length, 2);
    assert.equal(b.log.sessions.filter((s) => s.session).length, 2);
    assert.deepEqual([...codes(a), ...codes(b)], []);
  });

  test("a 401 in one tab stops the others too: one call in all", async () => {
    const { clock, source, tabs: [a, b] } = tabs({ delay: 0, plan: (n) => (n > 2 ? new Response("", { status: 401 }) : null) });
    await signIn(clock, [a, b], source);
    await clock.advance(60_000);
    assert.equal(source.calls.length, 3);
    assert.deepEqual(codes(a), ["token_refresh_failed", "token_expired"]);
    assert.deepEqual(codes(b), ["token_refresh_failed", "token_expired"]);
    assert.equal(b.log.errors[0].error.remote, true);
  });
});
