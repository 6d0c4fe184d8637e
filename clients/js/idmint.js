/**
 * idmint browser SDK: one ES module, no build step, no dependencies.
 *
 *   import { createClient } from "https://idmint.example.com/sdk/idmint.js";
 *   const client = createClient({ apiKey: "pk_..." });
 *   client.on("error").subscribe((error) => { if (error.code === "token_expired") ... });
 *   const session = await client.identify(user, { authToken });
 *
 * Clock model: the SDK never compares the token's `exp` with the client's wall clock (which may
 * be wrong by hours).  A token lives `exp - iat` seconds from the moment the SDK receives it,
 * measured on the client's own elapsed time (`performance.now()`, and `Date.now()` differences
 * so that time asleep counts too).  See docs/sdk-browser.md.
 *
 * The pure logic (claims decoding, expiry and refresh timing, backoff, retry rules) is exported
 * so that it can be tested without a browser.
 */

export const VERSION = "0.1.0";

const EVENTS = Object.freeze(["error", "session"]);
const DEFAULT_REFRESH_AT = 0.8;
const DEFAULT_REFRESH_JITTER = 0.1;
const DEFAULT_RETRY_COUNT = 3;
const DEFAULT_RETRY_DELAY_MS = 1000;
const DEFAULT_MAX_RETRY_DELAY_MS = 30_000;
const MAX_RETRY_COUNT = 20;
const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;
const DEFAULT_TOKEN_TIMEOUT_MS = 30_000;
/** Longest single timer: expiry is re-checked at least this often (timers drift and sleep). */
const MAX_TIMER_MS = 30_000;
/** How long a tab keeps the refresh lock after sharing a token, so peers have received it. */
const LOCK_LINGER_MS = 150;
/** Without Web Locks: how long a peer's "I am refreshing" holds the other tabs back. */
const PEER_WAIT_MS = 10_000;
const MAX_LOCK_WAITS = 5;
const EXPIRED_MEMORY = 64;
const MAX_TOKEN_CHARS = 16_384;

const BUSY = Symbol("busy");
const SKIPPED = Symbol("skipped");

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

const RESERVED = new Set(["code", "message", "name", "stack", "source", "timestamp", "cause"]);

/**
 * Every error the SDK emits or rejects with.
 *
 * `code` (stable snake_case, the one to branch on), `message` (for people), `source`
 * (`"client"`: the SDK's own checks and clock; `"server"`: idmint's answer; `"provider"`: the
 * auth provider and token refresh; `"network"`: idmint could not be reached), `timestamp`
 * (`Date.now()` when it happened), and where known `status` (HTTP status number),
 * `grpcStatus` (idmint's envelope `status`), `field`, `expiredAt`, `cause`.
 */
export class IdmintError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {Record<string, unknown>} [details]
   */
  constructor(code, message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    Object.defineProperty(this, "name", { value: "IdmintError", configurable: true });
    this.code = code;
    this.source = typeof details.source === "string" ? details.source : "client";
    this.timestamp = typeof details.timestamp === "number" ? details.timestamp : Date.now();
    for (const [key, value] of Object.entries(details)) {
      if (!RESERVED.has(key) && value !== undefined) this[key] = value;
    }
  }

  /** A plain object (JSON has no place for an Error's message or cause otherwise). */
  toJSON() {
    const out = { code: this.code, message: this.message };
    for (const [key, value] of Object.entries(this)) {
      if (!(key in out)) out[key] = value;
    }
    if (this.cause !== undefined) {
      const cause = this.cause;
      out.cause =
        cause && typeof cause.toJSON === "function"
          ? cause.toJSON()
          : { message: String(cause && cause.message !== undefined ? cause.message : cause) };
    }
    return out;
  }
}

class Cancelled extends Error {}

function malformed(message) {
  return new IdmintError("token_malformed", message, { source: "client" });
}

// ---------------------------------------------------------------------------------------------
// Pure logic (exported for tests)
// ---------------------------------------------------------------------------------------------

function finite(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** Milliseconds on the client's monotonic clock (`performance.now()` where there is one). */
export function monotonicNow() {
  const perf = globalThis.performance;
  return perf && typeof perf.now === "function" ? perf.now() : Date.now();
}

/**
 * The bytes of one base64url segment; missing padding is fine, so is correct padding.
 * @param {string} segment
 * @returns {Uint8Array}
 */
export function base64UrlDecode(segment) {
  if (typeof segment !== "string" || !/^[A-Za-z0-9_-]*={0,2}$/.test(segment)) {
    throw malformed("Not base64url.");
  }
  const body = segment.replace(/=+$/, "");
  if (body.length % 4 === 1) throw malformed("Not base64url: impossible length.");
  const padded = body.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((body.length + 3) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * The claims of a compact JWT, decoded WITHOUT verifying anything (idmint verifies; the SDK
 * only reads `iat`, `exp`, `sub` and `jti` to schedule expiry and refresh).
 * @param {string} token
 * @returns {Record<string, unknown>}
 * @throws {IdmintError} `token_malformed`
 */
export function decodeClaims(token) {
  if (typeof token !== "string" || token.length === 0) throw malformed("The token is not a string.");
  if (token.length > MAX_TOKEN_CHARS) throw malformed("The token is too large.");
  const parts = token.split(".");
  if (parts.length !== 3 || parts[1] === "") {
    throw malformed("A JWT has three dot-separated parts.");
  }
  let claims;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(base64UrlDecode(parts[1]));
    claims = JSON.parse(text);
  } catch (error) {
    if (error instanceof IdmintError) throw error;
    throw malformed("The token's payload is not UTF-8 JSON.");
  }
  if (claims === null || typeof claims !== "object" || Array.isArray(claims)) {
    throw malformed("The token's payload is not a JSON object.");
  }
  return claims;
}

function tryDecode(token) {
  try {
    return decodeClaims(token);
  } catch {
    return null;
  }
}

/**
 * How long a token lives from the moment it is received, in ms: `exp - iat`.  Given an
 * estimate of the server's clock (`serverNow`, seconds), never more than `exp - serverNow`.
 * `null` when the token says nothing usable (no `exp`, or neither `iat` nor `serverNow`).
 * @param {{iat?: number, exp?: number}} claims
 * @param {number | null} [serverNow]
 * @returns {number | null}
 */
export function tokenLifetime(claims, serverNow = null) {
  const exp = finite(claims && claims.exp);
  if (exp === null) return null;
  const iat = finite(claims.iat);
  const now = finite(serverNow);
  let seconds = iat === null ? null : exp - iat;
  if (now !== null) seconds = seconds === null ? exp - now : Math.min(seconds, exp - now);
  return seconds === null ? null : Math.max(0, seconds * 1000);
}

/**
 * When a token received at `receivedAt` expires: `receivedAt + (exp - iat)`, on the same
 * (client, monotonic) clock as `receivedAt`.  The client's wall clock is not consulted, so it
 * may be skewed by any amount.
 * @returns {number | null}
 */
export function expiryDeadline(claims, receivedAt) {
  const lifetime = tokenLifetime(claims);
  return lifetime === null ? null : receivedAt + lifetime;
}

/**
 * Milliseconds from `now` until the token received at `receivedAt` expires (0 once it has).
 * @param {{iat?: number, exp?: number}} claims
 * @param {number} receivedAt  client clock reading (ms) when the token was received
 * @param {number} [now]  the same clock now; defaults to `monotonicNow()`
 * @returns {number | null}
 */
export function expiryDelay(claims, receivedAt, now = monotonicNow()) {
  const deadline = expiryDeadline(claims, receivedAt);
  return deadline === null ? null : Math.max(0, deadline - now);
}

/**
 * When to refresh a token that lives `lifetimeMs`: at `at + jitter * random()` of its lifetime
 * (by default 80 % to 90 %), so that tabs and clients spread out.
 * @param {number} lifetimeMs
 * @param {{at?: number, jitter?: number, random?: () => number}} [options]
 */
export function refreshDelay(lifetimeMs, { at = DEFAULT_REFRESH_AT, jitter = DEFAULT_REFRESH_JITTER, random = Math.random } = {}) {
  if (!(lifetimeMs > 0)) return 0;
  let r = Number(random());
  if (!(r >= 0)) r = 0;
  if (r > 1) r = 1;
  const fraction = Math.min(1, Math.max(0, at + jitter * r));
  return lifetimeMs * fraction;
}

/**
 * Wait before retry number `attempt` (1 = the first retry): `baseDelay * 2^(attempt-1)`, at
 * most `cap`.
 */
export function backoffDelay(attempt, baseDelay = DEFAULT_RETRY_DELAY_MS, cap = DEFAULT_MAX_RETRY_DELAY_MS) {
  if (!(attempt >= 1) || !(baseDelay > 0)) return 0;
  return Math.max(0, Math.min(cap, baseDelay * 2 ** Math.min(attempt - 1, 1023)));
}

/**
 * Whether a token is expired without trusting the client's wall clock: it has no lifetime
 * (`exp <= iat`), or `exp` is not after `serverNow` (seconds; the SDK's estimate of the server
 * clock, learned from the `iat` of the tokens it has received).
 */
export function isExpired(claims, { serverNow = null } = {}) {
  const exp = finite(claims && claims.exp);
  if (exp === null) return false;
  const iat = finite(claims.iat);
  if (iat !== null && exp <= iat) return true;
  const now = finite(serverNow);
  return now !== null && exp <= now;
}

/**
 * Whether a failed sign-in or refresh attempt is worth retrying.  Never a 401 or 403 from the
 * token endpoint; idmint's refusals only when they are `token_expired` (a new token may do),
 * 408, 429 or 5xx; an error's own boolean `retryable` wins.
 */
export function isRetryable(error) {
  if (!error || typeof error !== "object") return true;
  if (typeof error.retryable === "boolean") return error.retryable;
  const status = typeof error.status === "number" ? error.status : null;
  if (error.source === "server") {
    return error.code === "token_expired" || status === 408 || status === 429 || (status !== null && status >= 500);
  }
  return status !== 401 && status !== 403;
}

function isResponseLike(value) {
  return value !== null && typeof value === "object" && typeof value.status === "number" && typeof value.text === "function";
}

function tokenFrom(value) {
  if (typeof value === "string") return value.trim() || null;
  if (value === null || typeof value !== "object") return null;
  const result = value.result && typeof value.result === "object" ? value.result : null;
  const candidates = [value.token, value.authToken, value.access_token, result && result.data && result.data.token];
  for (const candidate of candidates) {
    if (typeof candidate === "string" && candidate.trim()) return candidate.trim();
  }
  return null;
}

/**
 * The token in what `generateToken()` resolved with: a string; an object with `token`
 * (or `authToken`, `access_token`, or idmint's `result.data.token`); or a fetch `Response`
 * (a non-2xx status is a failure carrying that `status`; a 2xx body is JSON of one of the above,
 * or the bare token).
 * @throws {IdmintError} `token_provider_failed` (with `status`) or `token_missing`
 */
export async function parseGeneratedToken(value) {
  if (isResponseLike(value)) {
    const status = value.status;
    if (status < 200 || status > 299) {
      throw new IdmintError("token_provider_failed", `The token endpoint answered HTTP ${status}.`, { source: "provider", status });
    }
    const text = await value.text();
    let body = text;
    try {
      body = JSON.parse(text);
    } catch {
      // the bare token
    }
    const token = tokenFrom(body);
    if (token === null) {
      throw new IdmintError("token_missing", "The token endpoint's answer holds no token.", { source: "provider", status });
    }
    return token;
  }
  const token = tokenFrom(value);
  if (token !== null) return token;
  const status = value && typeof value === "object" ? finite(value.status) : null;
  if (status !== null && status >= 400) {
    throw new IdmintError("token_provider_failed", `generateToken reported HTTP ${status}.`, { source: "provider", status });
  }
  throw new IdmintError("token_missing", "generateToken resolved without a token.", { source: "provider" });
}

function providerFailure(error) {
  if (error instanceof IdmintError) return error;
  const status =
    finite(error && error.status) ??
    finite(error && error.statusCode) ??
    finite(error && error.response && error.response.status);
  const message = error && typeof error.message === "string" ? error.message : String(error);
  return new IdmintError("token_provider_failed", `generateToken failed: ${message}`, {
    source: "provider",
    status: status === null ? undefined : status,
    retryable: error && typeof error.retryable === "boolean" ? error.retryable : undefined,
    cause: error,
  });
}

function errorFromAnswer(httpStatus, data) {
  const envelope = data && typeof data === "object" ? data.error : null;
  if (envelope && typeof envelope === "object" && typeof envelope.code === "string") {
    const extra = {};
    for (const [key, value] of Object.entries(envelope)) {
      if (!RESERVED.has(key) && key !== "status" && key !== "grpcStatus" && key !== "retryable") extra[key] = value;
    }
    const message = typeof envelope.message === "string" && envelope.message ? envelope.message : envelope.code;
    return new IdmintError(envelope.code, message, {
      ...extra,
      source: "server",
      status: httpStatus,
      grpcStatus: typeof envelope.status === "string" ? envelope.status : undefined,
    });
  }
  return new IdmintError("http_error", `idmint answered HTTP ${httpStatus} without an error envelope.`, {
    source: "server",
    status: httpStatus,
  });
}

function isoFromSeconds(seconds) {
  const value = finite(seconds);
  if (value === null) return undefined;
  try {
    return new Date(value * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  } catch {
    return undefined;
  }
}

function checkUser(user) {
  if (user === null || typeof user !== "object" || Array.isArray(user)) {
    throw new IdmintError("invalid_argument", "identify needs a user object.", { source: "client", field: "user" });
  }
  if (typeof user.userId !== "string" || user.userId === "") {
    throw new IdmintError("invalid_argument", "user.userId must be a non-empty string.", { source: "client", field: "user.userId" });
  }
  return { ...user };
}

function number(value, fallback, min, max, name) {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    throw new TypeError(`idmint: ${name} must be a number from ${min} to ${max}.`);
  }
  return value;
}

function randomId() {
  const crypto = globalThis.crypto;
  if (crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

function systemClock() {
  return {
    now: monotonicNow,
    wallNow: () => Date.now(),
    setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimeout: (id) => globalThis.clearTimeout(id),
  };
}

function defaultBaseUrl() {
  try {
    const here = new URL(import.meta.url);
    if ((here.protocol === "http:" || here.protocol === "https:") && /\/sdk\/idmint\.js$/.test(here.pathname)) {
      return here.origin + here.pathname.replace(/\/sdk\/idmint\.js$/, "");
    }
  } catch {
    // not loaded from a URL
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/**
 * @typedef {object} ClientOptions
 * @property {string} apiKey  the workspace's (public) API key
 * @property {string} [baseUrl]  idmint's URL; defaults to the server this module was loaded from
 * @property {typeof fetch} [fetch]
 * @property {number} [refreshAt]  fraction of the lifetime at which to refresh (0.8)
 * @property {number} [refreshJitter]  random extra fraction (0.1): refresh at 80-90 %
 * @property {number} [requestTimeout]  ms per request to idmint (15000)
 * @property {number} [tokenTimeout]  ms to wait for generateToken() (30000)
 * @property {boolean} [tabSync]  share refreshes between tabs (Web Locks + BroadcastChannel)
 * @property {boolean} [pageEvents]  re-check expiry on online / visibilitychange / pageshow / focus
 */

/** @param {ClientOptions} options */
export function createClient(options) {
  return new IdmintClient(options);
}

class IdmintClient {
  #apiKey;
  #baseUrl;
  #fetch;
  #clock;
  #random;
  #locks;
  #Channel;
  #refreshAt;
  #refreshJitter;
  #requestTimeout;
  #tokenTimeout;
  #tabId = randomId();
  #listeners = new Map(EVENTS.map((name) => [name, new Set()]));
  #epoch = 0;
  #abort = new AbortController();
  #seq = 0;
  #applied = 0;
  /** The identified session and its token: {token, claims, mark, lifetimeMs, refreshAtMs, session, userId, expired, refreshAttempted} */
  #state = null;
  #user = null;
  /** Maps the server's clock onto ours: the latest `iat` seen and when (our clock). */
  #clockRef = null;
  #provider = null;
  #channel = null;
  #refreshing = null;
  #pendingAdoption = null;
  #peerRefreshingUntil = 0;
  #timer = null;
  /** Cut a backoff wait short (back online, work cancelled). */
  #wakers = new Set();
  /** Cut a wait for a peer's token short (a session, a failure, an adoption, work cancelled). */
  #changeWaiters = new Set();
  #expired = new Set();
  #detach = null;

  constructor(options) {
    if (options === null || typeof options !== "object") throw new TypeError("idmint: createClient({apiKey, baseUrl}) needs options.");
    const { apiKey } = options;
    if (typeof apiKey !== "string" || apiKey === "") throw new TypeError("idmint: apiKey must be a non-empty string.");
    const baseUrl = options.baseUrl ?? defaultBaseUrl();
    if (typeof baseUrl !== "string" || !/^https?:\/\//i.test(baseUrl)) {
      throw new TypeError("idmint: baseUrl must be idmint's http(s) URL.");
    }
    const doFetch = options.fetch ?? globalThis.fetch;
    if (typeof doFetch !== "function") throw new TypeError("idmint: no fetch available; pass options.fetch.");
    this.#apiKey = apiKey;
    this.#baseUrl = baseUrl.replace(/\/+$/, "");
    this.#fetch = options.fetch ? doFetch : (...args) => globalThis.fetch(...args);
    this.#clock = { ...systemClock(), ...(options.clock ?? {}) };
    this.#random = typeof options.random === "function" ? options.random : Math.random;
    this.#refreshAt = number(options.refreshAt, DEFAULT_REFRESH_AT, 0.05, 0.95, "refreshAt");
    this.#refreshJitter = number(options.refreshJitter, DEFAULT_REFRESH_JITTER, 0, 0.95 - this.#refreshAt, "refreshJitter");
    this.#requestTimeout = number(options.requestTimeout, DEFAULT_REQUEST_TIMEOUT_MS, 1, 600_000, "requestTimeout");
    this.#tokenTimeout = number(options.tokenTimeout, DEFAULT_TOKEN_TIMEOUT_MS, 1, 600_000, "tokenTimeout");
    const tabSync = options.tabSync !== false;
    const navigatorLocks = globalThis.navigator && globalThis.navigator.locks;
    const locks = "locks" in options ? options.locks : navigatorLocks;
    this.#locks = tabSync && locks && typeof locks.request === "function" ? locks : null;
    const Channel = "BroadcastChannel" in options ? options.BroadcastChannel : globalThis.BroadcastChannel;
    this.#Channel = tabSync && typeof Channel === "function" ? Channel : null;
    if (options.pageEvents !== false) this.#detach = this.#attachPageEvents();
  }

  // ---- public API ----------------------------------------------------------------------------

  /**
   * Start a session for `user`, proven by `authToken` (the JWT your backend minted).
   * Resolves with the session; rejects with an IdmintError (also emitted on `error`).
   * @param {{userId: string, organizationId?: string, email?: string, name?: string, photoUrl?: string}} user
   * @param {{authToken?: string}} [options]
   */
  identify(user, options = {}) {
    let checked;
    let token = null;
    try {
      checked = checkUser(user);
      if (options === null || typeof options !== "object") {
        throw new IdmintError("invalid_argument", "identify's second argument is {authToken}.", { source: "client", field: "options" });
      }
      if (options.authToken !== undefined && options.authToken !== null) {
        if (typeof options.authToken !== "string" || options.authToken === "") {
          throw new IdmintError("invalid_argument", "authToken must be a non-empty string.", { source: "client", field: "authToken" });
        }
        token = options.authToken;
      }
    } catch (error) {
      this.#emit(error);
      return Promise.reject(error);
    }
    if (this.#provider && this.#provider.user.userId !== checked.userId) this.#dropProvider();
    return this.#identifyWith(checked, token, { origin: "client", epoch: this.#epoch });
  }

  /** The identified user (as idmint stored it), or null. */
  getUser() {
    return this.#user ? { ...this.#user } : null;
  }

  /** The current session, or null (before identify, after sign-out, once its token expired). */
  getSession() {
    const state = this.#state;
    return state && !state.expired ? { ...state.session } : null;
  }

  /**
   * End the session (here and at idmint) and stop any auth provider.  Resolves with whether
   * idmint ended an open session.
   */
  async signOut() {
    const session = this.#state ? this.#state.session : null;
    this.#stopProvider();
    this.#forgetSession();
    if (!session) return false;
    this.#emitEvent("session", null);
    try {
      const answer = await this.#post("/v1/sign-out", { apiKey: this.#apiKey, sessionId: session.id });
      return answer.signedOut === true;
    } catch (error) {
      this.#emit(error);
      throw error;
    }
  }

  /**
   * `client.on("error").subscribe(fn)` -> `{unsubscribe()}`.  Events: `error` (an IdmintError)
   * and `session` (the session after every successful identify; null when it ends).
   */
  on(name) {
    const subscribers = this.#listeners.get(name);
    if (!subscribers) throw new TypeError(`idmint: unknown event "${name}" (events: ${EVENTS.join(", ")}).`);
    return Object.freeze({
      subscribe: (observer) => {
        const fn = typeof observer === "function" ? observer : observer && typeof observer.next === "function" ? (value) => observer.next(value) : null;
        if (!fn) throw new TypeError("idmint: subscribe(fn) needs a function.");
        const subscription = { fn, active: true };
        subscribers.add(subscription);
        return Object.freeze({
          unsubscribe() {
            subscription.active = false;
            subscribers.delete(subscription);
          },
          get closed() {
            return !subscription.active;
          },
        });
      },
    });
  }

  /**
   * Let the SDK get tokens itself: `generateToken()` now (sign-in) and again ahead of every
   * expiry.  Resolves with the first session; rejects (and emits `token_refresh_failed`) when
   * sign-in fails for good.  `setAuthProvider(null)` removes the provider.
   * @param {{user: object, generateToken: (info: {userId: string, reason: string}) => Promise<unknown>, retryConfig?: {retryCount?: number, retryDelay?: number, maxRetryDelay?: number}} | null} config
   */
  setAuthProvider(config) {
    if (config === null || config === undefined) {
      this.#dropProvider();
      return Promise.resolve(null);
    }
    if (typeof config !== "object") throw new TypeError("idmint: setAuthProvider({user, generateToken, retryConfig}).");
    const user = checkUser(config.user);
    if (typeof config.generateToken !== "function") throw new TypeError("idmint: generateToken must be a function.");
    const retry = config.retryConfig ?? {};
    if (typeof retry !== "object") throw new TypeError("idmint: retryConfig must be an object.");
    const retryCount = Math.floor(number(retry.retryCount, DEFAULT_RETRY_COUNT, 0, MAX_RETRY_COUNT, "retryConfig.retryCount"));
    const retryDelay = number(retry.retryDelay, DEFAULT_RETRY_DELAY_MS, 0, 3_600_000, "retryConfig.retryDelay");
    const maxRetryDelay = number(retry.maxRetryDelay, Math.max(DEFAULT_MAX_RETRY_DELAY_MS, retryDelay), retryDelay, 3_600_000, "retryConfig.maxRetryDelay");
    this.#cancelWork();
    this.#closeChannel();
    if (this.#state && this.#state.userId !== user.userId) {
      // another user's session is over for this client (idmint ends it at its token's exp)
      this.#forgetSession();
      this.#emitEvent("session", null);
    }
    this.#provider = {
      user,
      generateToken: config.generateToken,
      retry: { retryCount, retryDelay, maxRetryDelay },
      stopped: false,
      transient: false,
    };
    this.#openChannel(user.userId);
    return this.#startSignIn();
  }

  /** Stop timers and listeners for good (a client you no longer use). */
  destroy() {
    this.#stopProvider();
    this.#forgetSession();
    if (this.#detach) this.#detach();
    this.#detach = null;
  }

  // ---- identify ------------------------------------------------------------------------------

  #mark() {
    return { mono: this.#clock.now(), wall: this.#clock.wallNow() };
  }

  /** Time since `mark`: the larger of the monotonic and wall-clock differences (sleep counts). */
  #elapsed(mark) {
    return Math.max(0, this.#clock.now() - mark.mono, this.#clock.wallNow() - mark.wall);
  }

  /** The server's clock (seconds) as seen from ours, or null before the first token. */
  #serverNow(mark = this.#mark()) {
    const ref = this.#clockRef;
    if (!ref) return null;
    // Monotonic only: a wall-clock jump must not make fresh tokens look expired.
    return ref.iat + Math.max(0, mark.mono - ref.mark.mono) / 1000;
  }

  async #identifyWith(user, token, { origin, epoch }) {
    const seq = ++this.#seq;
    const mark = this.#mark();
    let claims = null;
    if (token !== null) {
      claims = tryDecode(token); // an undecodable token goes to idmint, which names the fault
      if (claims && isExpired(claims, { serverNow: this.#serverNow(mark) })) {
        const error = new IdmintError("token_already_expired", "The token had already expired when it was received; it was not used.", {
          source: origin === "client" ? "client" : "provider",
          expiredAt: isoFromSeconds(claims.exp),
        });
        this.#emit(error);
        throw error;
      }
    }
    const body = { apiKey: this.#apiKey, user };
    if (token !== null) body.authToken = token;
    let answer;
    try {
      answer = await this.#post("/v1/identify", body);
    } catch (error) {
      if (epoch === this.#epoch) {
        if (error.code === "token_expired" && token !== null) this.#reportExpired(token, claims, error);
        else this.#emit(error);
      }
      throw error;
    }
    const session = answer.session;
    if (!session || typeof session !== "object" || typeof session.id !== "string") {
      const error = new IdmintError("http_error", "idmint answered identify without a session.", { source: "server" });
      this.#emit(error);
      throw error;
    }
    if (epoch === this.#epoch && seq > this.#applied) {
      this.#applied = seq;
      this.#apply(user, token, claims, mark, session, origin);
    }
    return { ...session };
  }

  #apply(user, token, claims, mark, session, origin) {
    let lifetimeMs = null;
    let refreshAtMs = null;
    if (token !== null) {
      const serverNow = this.#serverNow(mark);
      lifetimeMs = claims ? tokenLifetime(claims, serverNow) : null;
      const remaining = finite(session.expiresIn);
      const remainingMs = remaining !== null && remaining >= 0 ? remaining * 1000 : null;
      // token_expired: exp - iat from receipt. idmint's own count of the seconds left takes
      // over only when the token clearly waited before it reached identify (iat is in whole
      // seconds, so up to ~1 s less is just that rounding, not a late token).
      if (remainingMs !== null && (lifetimeMs === null || remainingMs < lifetimeMs - 1500)) lifetimeMs = remainingMs;
      if (lifetimeMs === null) {
        // No usable iat/exp: the only way left is the client's wall clock.
        const until = Date.parse(session.expiresAt);
        if (Number.isFinite(until)) lifetimeMs = Math.max(0, until - this.#clock.wallNow());
      }
      // Refreshing is timed on the earlier of the two, so it never comes too late.
      const refreshBasisMs = remainingMs === null ? lifetimeMs : Math.min(lifetimeMs, remainingMs);
      if (refreshBasisMs !== null) {
        refreshAtMs = refreshDelay(refreshBasisMs, { at: this.#refreshAt, jitter: this.#refreshJitter, random: this.#random });
      }
      const iat = claims ? finite(claims.iat) : null;
      if (iat !== null && (serverNow === null || iat >= serverNow)) this.#clockRef = { iat, mark };
    }
    this.#state = {
      token,
      claims,
      mark,
      lifetimeMs,
      refreshAtMs,
      session: { ...session },
      userId: user.userId,
      expired: false,
      refreshAttempted: false,
    };
    this.#user = session.user && typeof session.user === "object" ? { ...session.user } : { ...user };
    const provider = this.#provider;
    if (provider && provider.user.userId === user.userId && (origin === "provider" || origin === "peer")) {
      provider.stopped = false;
      provider.transient = false;
    }
    this.#notifyChange();
    this.#emitEvent("session", { ...session });
    this.#schedule();
  }

  /** Drop the session and its timer (callers emit the `session` event where one is due). */
  #forgetSession() {
    this.#clearTimer();
    this.#state = null;
    this.#user = null;
  }

  #reportExpired(token, claims, serverError) {
    const state = this.#state;
    if (state && state.token === token) state.expired = true;
    const key = claims && typeof claims.jti === "string" && claims.jti ? `jti:${claims.jti}` : `token:${token}`;
    if (this.#expired.has(key)) return;
    this.#expired.add(key);
    if (this.#expired.size > EXPIRED_MEMORY) this.#expired.delete(this.#expired.values().next().value);
    this.#emit(
      serverError ??
        new IdmintError("token_expired", "The token expired: get a fresh one and identify again.", {
          source: "client",
          expiredAt: claims ? isoFromSeconds(claims.exp) : undefined,
        }),
    );
  }

  // ---- timers --------------------------------------------------------------------------------

  #clearTimer() {
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #canRefresh() {
    const provider = this.#provider;
    const state = this.#state;
    return Boolean(
      provider &&
        !provider.stopped &&
        state &&
        state.lifetimeMs !== null &&
        state.userId === provider.user.userId &&
        !state.refreshAttempted &&
        !this.#refreshing,
    );
  }

  #schedule() {
    this.#clearTimer();
    const state = this.#state;
    if (!state || state.lifetimeMs === null) return;
    const elapsed = this.#elapsed(state.mark);
    let next = Infinity;
    if (!state.expired) next = state.lifetimeMs - elapsed;
    if (this.#canRefresh()) next = Math.min(next, state.refreshAtMs - elapsed);
    if (next === Infinity) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(next)));
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      this.#check();
    }, delay);
  }

  /** Compare the token's age with its lifetime: refresh when due, report expiry once. */
  #check() {
    const state = this.#state;
    if (!state || state.lifetimeMs === null) return;
    const elapsed = this.#elapsed(state.mark);
    if (this.#canRefresh() && elapsed >= state.refreshAtMs) this.#startRefresh();
    if (!state.expired && elapsed >= state.lifetimeMs) {
      this.#reportExpired(state.token, state.claims, null);
      state.expired = true;
      if (this.#state === state) this.#emitEvent("session", null);
    }
    this.#schedule();
  }

  #attachPageEvents() {
    const win = globalThis.window;
    if (!win || typeof win.addEventListener !== "function") return null;
    const doc = globalThis.document;
    const onCheck = () => this.#check();
    const onVisible = () => {
      if (!doc || doc.visibilityState !== "hidden") this.#check();
    };
    const onOnline = () => this.#onOnline();
    win.addEventListener("online", onOnline);
    win.addEventListener("focus", onCheck);
    win.addEventListener("pageshow", onCheck);
    if (doc && typeof doc.addEventListener === "function") doc.addEventListener("visibilitychange", onVisible);
    return () => {
      win.removeEventListener("online", onOnline);
      win.removeEventListener("focus", onCheck);
      win.removeEventListener("pageshow", onCheck);
      if (doc && typeof doc.removeEventListener === "function") doc.removeEventListener("visibilitychange", onVisible);
    };
  }

  /** Back online: cut backoff waits short and give a transiently failed refresh one more round. */
  #onOnline() {
    for (const wake of [...this.#wakers]) wake();
    const provider = this.#provider;
    if (provider && !provider.stopped && provider.transient && !this.#refreshing) {
      provider.transient = false;
      const state = this.#state;
      if (state && state.userId === provider.user.userId) {
        state.refreshAttempted = false;
      } else {
        this.#startSignIn().catch(() => {});
        return;
      }
    }
    this.#check();
  }

  // ---- auth provider -------------------------------------------------------------------------

  #cancelWork() {
    this.#epoch += 1;
    this.#abort.abort();
    this.#abort = new AbortController();
    this.#refreshing = null;
    this.#pendingAdoption = null;
    this.#peerRefreshingUntil = 0;
    for (const wake of [...this.#wakers]) wake();
    this.#notifyChange();
  }

  /** Cancel all work under way and forget the auth provider and its channel. */
  #stopProvider() {
    this.#cancelWork();
    this.#provider = null;
    this.#closeChannel();
  }

  #dropProvider() {
    if (!this.#provider) return;
    this.#stopProvider();
    this.#schedule();
  }

  #track(run) {
    const tracked = run.then(
      () => undefined,
      () => undefined,
    );
    this.#refreshing = tracked;
    tracked.then(() => {
      if (this.#refreshing === tracked) {
        this.#refreshing = null;
        this.#schedule();
      }
    });
  }

  #startSignIn() {
    const epoch = this.#epoch;
    const run = this.#refreshRound(epoch, "sign-in").catch((error) => {
      if (error instanceof Cancelled) {
        throw new IdmintError("cancelled", "Sign-in was cancelled by signOut() or another setAuthProvider().", { source: "client" });
      }
      throw error;
    });
    this.#track(run);
    run.catch(() => {}); // failures are emitted; callers may still await the rejection
    return run;
  }

  #startRefresh() {
    const state = this.#state;
    state.refreshAttempted = true;
    this.#track(this.#coordinatedRefresh(state.token, this.#epoch));
  }

  #superseded(tokenAtStart, epoch) {
    return (
      epoch !== this.#epoch ||
      !this.#provider ||
      this.#provider.stopped ||
      !this.#state ||
      this.#state.token !== tokenAtStart ||
      this.#pendingAdoption !== null
    );
  }

  /** One refresh across all tabs: whoever holds the Web Lock refreshes and shares the token. */
  async #coordinatedRefresh(tokenAtStart, epoch) {
    const locks = this.#locks;
    if (!locks || !this.#provider) return this.#fallbackRefresh(tokenAtStart, epoch);
    const name = this.#syncName("refresh", this.#provider.user.userId);
    const signal = this.#abort.signal;
    try {
      for (let waits = 0; waits < MAX_LOCK_WAITS; waits += 1) {
        const outcome = await locks.request(name, { ifAvailable: true }, async (lock) => {
          if (!lock) return BUSY;
          if (this.#superseded(tokenAtStart, epoch)) return SKIPPED;
          try {
            return await this.#refreshRound(epoch, "refresh");
          } finally {
            if (this.#channel) await this.#pause(LOCK_LINGER_MS);
          }
        });
        if (outcome !== BUSY) return outcome;
        // Another tab is refreshing: wait for it to finish, then see whether its token came.
        await locks.request(name, { signal }, () => undefined);
        if (this.#superseded(tokenAtStart, epoch)) return SKIPPED;
      }
    } catch (error) {
      if (error instanceof IdmintError || error instanceof Cancelled) throw error;
      if (signal.aborted || (error && error.name === "AbortError")) throw new Cancelled();
      this.#locks = null; // e.g. SecurityError in an opaque origin: do without
      return this.#fallbackRefresh(tokenAtStart, epoch);
    }
    return this.#refreshRound(epoch, "refresh");
  }

  /** Without Web Locks: announce the refresh on the channel and hold back while a peer does. */
  async #fallbackRefresh(tokenAtStart, epoch) {
    if (this.#channel) {
      const wait = this.#peerRefreshingUntil - this.#clock.now();
      if (wait > 0) {
        await this.#sleep(wait, this.#changeWaiters);
        if (this.#superseded(tokenAtStart, epoch)) return SKIPPED;
      }
      this.#broadcast({ type: "refreshing", ms: PEER_WAIT_MS });
    }
    return this.#refreshRound(epoch, "refresh");
  }

  #checkLive(epoch, provider) {
    if (epoch !== this.#epoch || this.#provider !== provider) throw new Cancelled();
  }

  /** generateToken + identify, retried with capped exponential backoff; one final error. */
  async #refreshRound(epoch, phase) {
    const provider = this.#provider;
    if (!provider) throw new Cancelled();
    this.#checkLive(epoch, provider);
    const { retryCount, retryDelay, maxRetryDelay } = provider.retry;
    let last = null;
    let attempts = 0;
    for (let attempt = 0; attempt <= retryCount; attempt += 1) {
      if (attempt > 0) await this.#sleep(backoffDelay(attempt, retryDelay, maxRetryDelay), this.#wakers);
      this.#checkLive(epoch, provider);
      attempts += 1;
      try {
        const token = await this.#obtainToken(provider, phase);
        this.#checkLive(epoch, provider);
        if (phase === "refresh") this.#checkFresher(token, provider);
        const session = await this.#identifyWith(provider.user, token, { origin: "provider", epoch });
        this.#checkLive(epoch, provider);
        this.#broadcast({ type: "token", token });
        return session;
      } catch (error) {
        if (error instanceof Cancelled) throw error;
        last = error;
        if (!isRetryable(error)) break;
      }
    }
    this.#checkLive(epoch, provider);
    const permanent = !isRetryable(last);
    const what = phase === "sign-in" ? "sign in" : "refresh the token";
    const final = new IdmintError(
      "token_refresh_failed",
      `Could not ${what} after ${attempts} attempt${attempts === 1 ? "" : "s"}: ${last && last.message ? last.message : last}`,
      {
        source: "provider",
        phase,
        attempts,
        permanent,
        status: last && typeof last.status === "number" ? last.status : undefined,
        cause: last,
      },
    );
    if (permanent) {
      provider.stopped = true;
      this.#broadcast({ type: "failed", code: last && last.code, status: last && last.status, message: last && last.message });
    } else {
      provider.transient = true;
    }
    this.#notifyChange();
    this.#emit(final);
    throw final;
  }

  /** A refresh must bring a token that expires later than the one it replaces. */
  #checkFresher(token, provider) {
    const state = this.#state;
    if (!state || state.userId !== provider.user.userId || !state.claims) return;
    const claims = tryDecode(token);
    const exp = claims ? finite(claims.exp) : null;
    const currentExp = finite(state.claims.exp);
    if (exp === null || currentExp === null || exp > currentExp) return;
    if (isExpired(claims, { serverNow: this.#serverNow() })) return; // reported as already expired
    throw new IdmintError("token_stale", "generateToken returned a token that expires no later than the current one.", {
      source: "provider",
    });
  }

  async #obtainToken(provider, reason) {
    let value;
    try {
      value = await this.#withTimeout(
        Promise.resolve().then(() => provider.generateToken({ userId: provider.user.userId, reason })),
        this.#tokenTimeout,
      );
    } catch (error) {
      throw providerFailure(error);
    }
    return parseGeneratedToken(value);
  }

  #withTimeout(promise, ms) {
    return new Promise((resolve, reject) => {
      const id = this.#clock.setTimeout(() => {
        reject(new IdmintError("token_provider_timeout", `generateToken did not settle within ${ms} ms.`, { source: "provider" }));
      }, ms);
      promise.then(
        (value) => {
          this.#clock.clearTimeout(id);
          resolve(value);
        },
        (error) => {
          this.#clock.clearTimeout(id);
          reject(error);
        },
      );
    });
  }

  /** Wait `ms`, or less: until one of `waiters` (`#wakers`, `#changeWaiters`) is called. */
  #sleep(ms, waiters) {
    return new Promise((resolve) => {
      const done = () => {
        this.#clock.clearTimeout(id);
        waiters.delete(done);
        resolve();
      };
      const id = this.#clock.setTimeout(done, ms);
      waiters.add(done);
    });
  }

  #pause(ms) {
    return new Promise((resolve) => this.#clock.setTimeout(resolve, ms));
  }

  #notifyChange() {
    for (const done of [...this.#changeWaiters]) done();
  }

  // ---- other tabs ----------------------------------------------------------------------------

  #syncName(kind, userId) {
    return `idmint:${kind}:${this.#baseUrl}:${this.#apiKey}:${userId}`;
  }

  #openChannel(userId) {
    if (!this.#Channel) return;
    try {
      const channel = new this.#Channel(this.#syncName("tokens", userId));
      channel.onmessage = (event) => this.#onPeerMessage(event && event.data);
      if (typeof channel.unref === "function") channel.unref(); // node: do not hold the process
      this.#channel = channel;
    } catch {
      this.#channel = null;
    }
  }

  #closeChannel() {
    if (!this.#channel) return;
    try {
      this.#channel.onmessage = null;
      this.#channel.close();
    } catch {
      // already closed
    }
    this.#channel = null;
  }

  #broadcast(message) {
    if (!this.#channel) return;
    try {
      this.#channel.postMessage({ v: 1, tab: this.#tabId, ...message });
    } catch {
      // a closed channel: the other tabs refresh for themselves
    }
  }

  #onPeerMessage(message) {
    const provider = this.#provider;
    if (!provider || !message || typeof message !== "object" || message.v !== 1 || message.tab === this.#tabId) return;
    if (message.type === "refreshing") {
      const ms = Math.min(PEER_WAIT_MS, Math.max(0, Number(message.ms) || 0));
      this.#peerRefreshingUntil = this.#clock.now() + ms;
      return;
    }
    this.#peerRefreshingUntil = 0;
    if (message.type === "token" && typeof message.token === "string") {
      this.#adopt(provider, message.token);
    } else if (message.type === "failed" && !provider.stopped) {
      provider.stopped = true;
      const status = finite(message.status) ?? undefined;
      const cause = new IdmintError(
        typeof message.code === "string" ? message.code : "token_provider_failed",
        typeof message.message === "string" ? message.message : "The token endpoint refused.",
        { source: "provider", status },
      );
      this.#notifyChange();
      this.#emit(
        new IdmintError("token_refresh_failed", `Another tab could not refresh the token: ${cause.message}`, {
          source: "provider",
          phase: "refresh",
          attempts: 0,
          permanent: true,
          remote: true,
          status,
          cause,
        }),
      );
      this.#schedule();
    }
  }

  /** Identify with the fresher token another tab just got, instead of asking for one. */
  async #adopt(provider, token) {
    const claims = tryDecode(token);
    if (!claims || claims.sub !== provider.user.userId) return;
    const exp = finite(claims.exp);
    if (exp === null) return;
    const current = this.#state && this.#state.userId === provider.user.userId ? this.#state : null;
    if (!current && this.#refreshing) return; // this tab's own sign-in is under way
    const currentExp = current && current.claims ? finite(current.claims.exp) : null;
    if (currentExp !== null && !(exp > currentExp)) return;
    if (this.#pendingAdoption && !(exp > this.#pendingAdoption.exp)) return;
    if (isExpired(claims, { serverNow: this.#serverNow() })) return;
    const epoch = this.#epoch;
    const pending = { token, exp };
    this.#pendingAdoption = pending;
    this.#notifyChange();
    let adopted = false;
    try {
      await this.#identifyWith(provider.user, token, { origin: "peer", epoch });
      adopted = true;
    } catch {
      // emitted; this tab refreshes for itself when its time comes
    } finally {
      if (this.#pendingAdoption === pending) {
        this.#pendingAdoption = null;
        if (!adopted && this.#state && this.#state === current) this.#state.refreshAttempted = false;
        this.#notifyChange();
        if (epoch === this.#epoch) this.#check();
      }
    }
  }

  // ---- transport and events ------------------------------------------------------------------

  async #post(path, body) {
    const url = `${this.#baseUrl}${path}`;
    const controller = new AbortController();
    const timer = this.#clock.setTimeout(() => controller.abort(), this.#requestTimeout);
    try {
      let response;
      try {
        response = await this.#fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
          credentials: "omit",
          signal: controller.signal,
        });
      } catch (error) {
        const reason = controller.signal.aborted ? `no answer within ${this.#requestTimeout} ms` : error && error.message ? error.message : String(error);
        throw new IdmintError("network_error", `Could not reach idmint at ${url}: ${reason}`, { source: "network", cause: error });
      }
      let data = null;
      try {
        data = await response.json();
      } catch {
        // not JSON: the error names the HTTP status
      }
      if (!response.ok || data === null || typeof data !== "object" || data.error) throw errorFromAnswer(response.status, data);
      return data;
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  #emit(error) {
    this.#emitEvent("error", error);
  }

  #emitEvent(name, value) {
    for (const subscription of [...this.#listeners.get(name)]) {
      if (!subscription.active) continue;
      try {
        subscription.fn(value);
      } catch (error) {
        if (typeof globalThis.reportError === "function") globalThis.reportError(error);
        else console.error("idmint: an event subscriber threw", error);
      }
    }
  }
}
