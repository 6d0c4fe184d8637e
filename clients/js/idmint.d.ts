/**
 * Types of the idmint browser SDK (`idmint.js` beside this file; the module served at
 * `GET /sdk/idmint.js`).  The guide is docs/sdk-browser.md in the idmint repository.
 *
 * The module has no build step: these declarations are written by hand and checked against the
 * guide's examples (clients/js/typecheck/usage.ts, run by `tsc --noEmit` in the tests).
 * They need no `DOM` lib: where the SDK takes a browser object it asks only for what it uses.
 */

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/**
 * Where an error comes from: `"client"` (the SDK's own checks and clock), `"server"` (idmint's
 * answer), `"provider"` (your `generateToken` and the token refresh), `"network"` (idmint could
 * not be reached).
 */
export type ErrorSource = "client" | "server" | "provider" | "network";

/** The third argument of `new IdmintError(code, message, details)`: members of the error. */
export interface IdmintErrorDetails {
  /** Defaults to `"client"`. */
  source?: ErrorSource;
  /** Defaults to `Date.now()`. */
  timestamp?: number;
  cause?: unknown;
  /** Any other member is set on the error as it is (`undefined` ones are left out). */
  [member: string]: unknown;
}

/** `error.toJSON()`: the error as a plain object, with `message` and (a plain) `cause`. */
export interface IdmintErrorJSON {
  code: string;
  message: string;
  [member: string]: unknown;
}

/**
 * Every error the SDK emits on `error` or rejects with.  Branch on `code`; `message` is for
 * people and may change.
 *
 * Server errors also carry the other members of idmint's error envelope (`kid`, `claim`,
 * `limit`, ...; see docs/errors.md): they are on the object, and in `toJSON()`.
 */
export declare class IdmintError extends Error {
  constructor(code: string, message: string, details?: IdmintErrorDetails);
  name: "IdmintError";
  /**
   * Stable snake_case code: idmint's codes (docs/errors.md: `user_mismatch`, `token_revoked`,
   * `origin_not_allowed`, ...) and the SDK's own: `token_expired`, `token_already_expired`,
   * `token_refresh_failed`, `network_error`, `http_error`, `invalid_argument`, `cancelled`, and
   * as a `token_refresh_failed`'s cause `token_provider_failed`, `token_missing`,
   * `token_provider_timeout`, `token_stale`; `token_malformed` from `decodeClaims`.
   */
  code: string;
  /** Where it comes from. */
  source: ErrorSource;
  /** `Date.now()` when it happened. */
  timestamp: number;
  /** The HTTP status, where there was one (idmint's, or your token endpoint's). */
  status?: number;
  /** idmint's envelope `status` (`UNAUTHENTICATED`, `PERMISSION_DENIED`, ...). */
  grpcStatus?: string;
  /** The request member at fault (`invalid_argument`). */
  field?: string;
  /** When the token expired, ISO 8601 UTC (`token_expired`, `token_already_expired`). */
  expiredAt?: string;
  /** `token_refresh_failed`: signing in (the first token) or refreshing. */
  phase?: "sign-in" | "refresh";
  /** `token_refresh_failed`: how many times `generateToken` was called (0 when another tab failed). */
  attempts?: number;
  /** `token_refresh_failed`: retrying cannot help (a 401/403 or another refusal); the provider stopped. */
  permanent?: boolean;
  /** `token_refresh_failed`: another tab of the origin failed for good. */
  remote?: boolean;
  /** Whether a failed attempt is worth retrying, when the error says so itself. */
  retryable?: boolean;
  /** The underlying error (for `token_refresh_failed`: the last attempt's). */
  cause?: unknown;
  /** A plain object, for logging and JSON. */
  toJSON(): IdmintErrorJSON;
}

// ---------------------------------------------------------------------------------------------
// Users and sessions
// ---------------------------------------------------------------------------------------------

/** A JSON value, as a user's profile members must be. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [member: string]: JsonValue };

/**
 * Who to identify.  `organizationId` and `email` are checked against the token's; `name`,
 * `photoUrl` and any other JSON member are stored as the user's untrusted profile (never in a
 * token).  `isAdmin` is ignored: only a minted token makes a user admin.
 */
export interface User {
  /** The token's subject: required, non-empty. */
  userId: string;
  organizationId?: string | null;
  email?: string | null;
  name?: string | null;
  photoUrl?: string | null;
  /**
   * Other profile members: JSON values.  Typed `any` so that an application's own `interface`
   * for its users is accepted as it is (TypeScript gives interfaces no implicit index signature).
   */
  [member: string]: any;
}

/**
 * The identified user as idmint answered it: `userId`, the token's `organizationId` and
 * `email` (where it carries them), then the profile members.
 */
export interface SessionUser {
  userId: string;
  organizationId?: string;
  email?: string;
  name?: string;
  photoUrl?: string;
  [member: string]: JsonValue | undefined;
}

/** A session that identify started, as idmint answered it. */
export interface Session {
  /** `ses_...`. */
  id: string;
  user: SessionUser;
  /** The token's organization, or `null`. */
  organizationId: string | null;
  /** Only a token minted with `isAdmin` makes a session admin. */
  isAdmin: boolean;
  /** When the session's token expires, ISO 8601 UTC. */
  expiresAt: string;
  /** Seconds left by idmint's clock when it answered. */
  expiresIn: number;
  /** `false` only in development mode (identify without a token, "Require JWT Token" off). */
  verified: boolean;
  mode: "jwt" | "development";
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/**
 * The `fetch` the SDK may be given: the environment's own type of `fetch` where it has one
 * (the `DOM` lib, `@types/node`).
 */
export type FetchFunction = typeof globalThis extends { fetch: infer F }
  ? F
  : (input: string, init?: object) => Promise<unknown>;

/** `createClient(options)`.  Out-of-range numbers make `createClient` throw a `TypeError`. */
export interface ClientOptions {
  /** The workspace's API key (public). */
  apiKey: string;
  /**
   * idmint's URL, e.g. `https://idmint.example.com`.  Defaults to the server the module was
   * loaded from; required when it was not loaded from `.../sdk/idmint.js`.
   */
  baseUrl?: string;
  /** The fetch to use; defaults to `globalThis.fetch`. */
  fetch?: FetchFunction;
  /** When the auth provider refreshes, as a fraction of the token's lifetime: 0.05-0.95, default 0.8. */
  refreshAt?: number;
  /** A random extra fraction so tabs and users spread out: default 0.1 (refresh at 80-90 %). */
  refreshJitter?: number;
  /** Milliseconds to wait for idmint before `network_error`: default 15000. */
  requestTimeout?: number;
  /** Milliseconds to wait for `generateToken()` before `token_provider_timeout`: default 30000. */
  tokenTimeout?: number;
  /** Share refreshes between the tabs of the origin (Web Locks, BroadcastChannel): default true. */
  tabSync?: boolean;
  /** Re-check expiry on `online`, `visibilitychange`, `pageshow` and `focus`: default true. */
  pageEvents?: boolean;
}

/** The second argument of `identify`. */
export interface IdentifyOptions {
  /** The token your backend minted for the user (`POST /v1/auth/token/get`). */
  authToken?: string | null;
}

/** What `generateToken` is told: whose token, and whether it is the first one or a refresh. */
export interface TokenRequest {
  userId: string;
  reason: "sign-in" | "refresh";
}

/** A fetch `Response`, as far as the SDK reads one. */
export interface ResponseLike {
  readonly status: number;
  text(): Promise<string>;
}

/**
 * What `generateToken` may resolve with: the token; an object holding it as `token`,
 * `authToken`, `access_token` or idmint's `result.data.token`; or a fetch `Response` (2xx: its
 * JSON body as above, or the bare token as text; otherwise a failure with that `status`).
 */
export type GeneratedToken =
  | string
  | ResponseLike
  | { token: string; [member: string]: unknown }
  | { authToken: string; [member: string]: unknown }
  | { access_token: string; [member: string]: unknown }
  | { result: { data: { token: string } }; [member: string]: unknown };

/** How the auth provider retries a failed sign-in or refresh (a 401/403 never is). */
export interface RetryConfig {
  /** Retries after the first attempt: 0-20, default 3. */
  retryCount?: number;
  /** Milliseconds before the first retry, doubling for each next one: default 1000. */
  retryDelay?: number;
  /** The longest wait between attempts, in ms: default 30000 (at least `retryDelay`). */
  maxRetryDelay?: number;
}

/** `setAuthProvider(provider)`: the SDK gets tokens itself and refreshes them before they expire. */
export interface AuthProvider {
  /** Who to identify; its `userId` names the token's subject. */
  user: User;
  /**
   * Ask your backend for a token for `userId`.  Throwing (or rejecting) with an error whose
   * `status` (or `statusCode`, or `response.status`) is 401 or 403 stops the provider; other
   * failures are retried as `retryConfig` says.
   */
  generateToken: (request: TokenRequest) => GeneratedToken | PromiseLike<GeneratedToken>;
  retryConfig?: RetryConfig;
}

/** What each event's subscribers receive. */
export interface ClientEvents {
  /** Every failure of identify, sign-out and the auth provider, and `token_expired` (once per token). */
  error: IdmintError;
  /** The session after every successful identify; `null` when it ends (expiry, sign-out). */
  session: Session | null;
}

/** An observer object, as `subscribe` also takes one. */
export interface Observer<T> {
  next(value: T): void;
}

/** What `subscribe` returns. */
export interface Subscription {
  /** Stop receiving the event. */
  unsubscribe(): void;
  /** Whether `unsubscribe()` was called. */
  readonly closed: boolean;
}

/** `client.on(event)`. */
export interface EventSource<T> {
  /** Call `observer` with every value; a subscriber that throws does not stop the others. */
  subscribe(observer: ((value: T) => void) | Observer<T>): Subscription;
}

/** A client of one workspace (`createClient`). */
export interface IdmintClient {
  /**
   * Start a session for `user`, proven by `authToken`.  Resolves with the session once idmint
   * has committed it; rejects with an `IdmintError` (also emitted on `error`).  The latest call
   * wins.
   */
  identify(user: User, options?: IdentifyOptions): Promise<Session>;
  /** The identified user, or `null` before identify and after `signOut()` (kept when the token expires). */
  getUser(): SessionUser | null;
  /** The current session, or `null` before identify, after sign-out and once its token expired. */
  getSession(): Session | null;
  /**
   * End the session at idmint and here, and stop the auth provider.  Resolves with `true` when
   * idmint ended an open session, `false` when there was none.
   */
  signOut(): Promise<boolean>;
  /** `client.on("error").subscribe(fn)`; an unknown event name throws a `TypeError`. */
  on<E extends keyof ClientEvents>(event: E): EventSource<ClientEvents[E]>;
  /** `setAuthProvider(null)` removes the auth provider (the session stays until its token expires). */
  setAuthProvider(provider: null | undefined): Promise<null>;
  /**
   * Hand token fetching to the SDK: `generateToken()` now (sign-in) and again ahead of every
   * expiry, once for all tabs.  Resolves with the first session; rejects with the final
   * `token_refresh_failed` (also emitted), or `cancelled` when `signOut()` or another
   * `setAuthProvider()` came first.  Throws a `TypeError` for a malformed provider.
   */
  setAuthProvider(provider: AuthProvider): Promise<Session>;
  /** Stop timers, page listeners and the provider, without calling idmint. */
  destroy(): void;
}

/** A client for the workspace `options.apiKey`; throws a `TypeError` for unusable options. */
export declare function createClient(options: ClientOptions): IdmintClient;

/** The SDK's version (the idmint release it comes with). */
export declare const VERSION: string;

// ---------------------------------------------------------------------------------------------
// Pure helpers (the SDK's logic, exported for tests and your own use)
// ---------------------------------------------------------------------------------------------

/** The time claims the helpers read; other values than finite numbers count as absent. */
export interface TimeClaims {
  /** Issued at, seconds since the epoch. */
  iat?: unknown;
  /** Expires at, seconds since the epoch. */
  exp?: unknown;
}

/** Milliseconds on the client's monotonic clock (`performance.now()` where there is one). */
export declare function monotonicNow(): number;

/**
 * The bytes of one base64url segment (padding optional).
 * @throws {IdmintError} `token_malformed`
 */
export declare function base64UrlDecode(segment: string): Uint8Array;

/**
 * The claims of a compact JWT, decoded WITHOUT verifying anything (idmint verifies).
 * @throws {IdmintError} `token_malformed`
 */
export declare function decodeClaims(token: string): Record<string, unknown>;

/**
 * How long a token lives from the moment it is received, in ms: `exp - iat`, and no more
 * than `exp - serverNow` given an estimate of idmint's clock (`serverNow`, seconds).  `null`
 * when the claims say nothing usable.
 */
export declare function tokenLifetime(claims: TimeClaims, serverNow?: number | null): number | null;

/** When a token received at `receivedAt` (client clock, ms) expires, on the same clock. */
export declare function expiryDeadline(claims: TimeClaims, receivedAt: number): number | null;

/** Milliseconds from `now` (default `monotonicNow()`) until the token expires; 0 once it has. */
export declare function expiryDelay(claims: TimeClaims, receivedAt: number, now?: number): number | null;

/** `refreshDelay`'s options: refresh at `at + jitter * random()` of the lifetime. */
export interface RefreshDelayOptions {
  /** Default 0.8. */
  at?: number;
  /** Default 0.1. */
  jitter?: number;
  /** Default `Math.random`. */
  random?: () => number;
}

/** When to refresh a token that lives `lifetimeMs`, in ms from its receipt (80-90 % by default). */
export declare function refreshDelay(lifetimeMs: number, options?: RefreshDelayOptions): number;

/**
 * The wait before retry number `attempt` (1 = the first retry): `baseDelay * 2^(attempt-1)`
 * (default 1000 ms), at most `cap` (default 30000 ms).
 */
export declare function backoffDelay(attempt: number, baseDelay?: number, cap?: number): number;

/**
 * Whether a token is expired without the client's wall clock: no lifetime (`exp <= iat`), or
 * `exp` not after `serverNow` (seconds, an estimate of idmint's clock).
 */
export declare function isExpired(claims: TimeClaims, options?: { serverNow?: number | null }): boolean;

/**
 * Whether a failed sign-in or refresh attempt is worth retrying: never a 401 or 403; idmint's
 * refusals only when `token_expired`, 408, 429 or 5xx; an error's own boolean `retryable` wins.
 */
export declare function isRetryable(error: unknown): boolean;

/**
 * The token in what `generateToken()` resolved with (see `GeneratedToken`).
 * @throws {IdmintError} `token_provider_failed` (with `status`) or `token_missing`
 */
export declare function parseGeneratedToken(value: unknown): Promise<string>;
