// The examples of docs/sdk-browser.md and clients/js/README.md, type-checked against idmint.d.ts.
// `tsc --noEmit -p clients/js/typecheck`: never run, only compiled.  Each `@ts-expect-error`
// line is a misuse the declarations must refuse (tsc fails if one of them compiles).

import {
  IdmintError,
  VERSION,
  backoffDelay,
  createClient,
  decodeClaims,
  expiryDelay,
  isExpired,
  isRetryable,
  parseGeneratedToken,
  refreshDelay,
  tokenLifetime,
  type AuthProvider,
  type IdmintClient,
  type Session,
  type SessionUser,
  type User,
} from "idmint";

const version: string = VERSION;

const client: IdmintClient = createClient({ apiKey: "pk_..." });
createClient({ apiKey: "pk_...", baseUrl: "https://idmint.example.com" });
createClient({
  apiKey: "pk_...",
  baseUrl: "https://idmint.example.com",
  fetch: (input, init) => fetch(input, init),
  refreshAt: 0.8,
  refreshJitter: 0.1,
  requestTimeout: 15_000,
  tokenTimeout: 30_000,
  tabSync: false,
  pageEvents: false,
});
createClient({ apiKey: "pk_...", fetch: globalThis.fetch });

// Events
const errors = client.on("error").subscribe((error) => {
  const code: string = error.code;
  const status: number | undefined = error.status;
  if (error.code === "token_expired") console.warn(error.expiredAt, error.source, status, code);
  if (error.code === "token_refresh_failed") console.warn(error.phase, error.attempts, error.permanent, error.cause);
  console.warn(error.message, error.timestamp, error.grpcStatus, error.toJSON().code);
});
errors.unsubscribe();
const closed: boolean = errors.closed;
client.on("session").subscribe((session) => {
  if (session !== null) console.log(session.id, session.user.userId, session.expiresAt, session.mode);
});
client.on("session").subscribe({ next: (session: Session | null) => console.log(session?.isAdmin) });

async function getIdmintToken(): Promise<string> {
  const response = await fetch("/idmint-token", { method: "POST" });
  if (!response.ok) throw Object.assign(new Error("no token"), { status: response.status });
  return (await response.json()).token;
}

const user = {
  userId: "user-1",
  name: "User 1",
  email: "user1@example.com",
  photoUrl: "https://example.com/u1.png",
  organizationId: "org-1",
};

async function guide(): Promise<void> {
  const session: Session = await client.identify(user, { authToken: await getIdmintToken() });
  console.log(session.organizationId, session.verified, session.expiresIn);
  await client.identify({ userId: "user-1", organizationId: "org-1", email: "ann@example.com", name: "Ann" }, { authToken: "eyJ..." });
  await client.identify({ userId: "user-1", plan: "pro", seats: 3, tags: ["a"], settings: { dark: true } });

  client.on("error").subscribe(async (error) => {
    if (error.code === "token_expired") {
      await client.identify(user, { authToken: await getIdmintToken() });
    }
  });

  const first: Session = await client.setAuthProvider({
    user,
    generateToken: getIdmintToken,
    retryConfig: { retryCount: 3, retryDelay: 1000 },
  });
  console.log(first.id);
  await client.setAuthProvider({
    user: { userId: "user-1", organizationId: "org-1", email: "ann@example.com" },
    generateToken: () => fetch("/idmint-token", { method: "POST" }),
    retryConfig: { retryCount: 3, retryDelay: 1000, maxRetryDelay: 30_000 },
  });
  const provider: AuthProvider = {
    user,
    generateToken: async ({ userId, reason }) => {
      const answer = await fetch(`/idmint-token?user=${userId}&reason=${reason}`, { method: "POST" });
      return { token: (await answer.json()).token as string, expiresIn: 3600 };
    },
  };
  await client.setAuthProvider(provider);
  await client.setAuthProvider({ user, generateToken: () => ({ result: { data: { token: "eyJ..." } } }) });
  const removed: null = await client.setAuthProvider(null);

  const who: SessionUser | null = client.getUser();
  const current: Session | null = client.getSession();
  const ended: boolean = await client.signOut();
  client.destroy();
  console.log(who?.email, current, ended, removed, closed, version);
}

// An interface-typed user of the application works as it is.
interface AppUser {
  userId: string;
  email: string;
  name: string;
}
const appUser: AppUser = { userId: "user-2", email: "b@example.com", name: "Bea" };
void client.identify(appUser);
const asUser: User = { userId: "user-3", isAdmin: false };

// Errors and the pure helpers
const error = new IdmintError("token_expired", "The token expired.", { source: "client", expiredAt: "2026-01-01T00:00:00Z" });
if (error instanceof Error && error.name === "IdmintError" && error.source === "client") console.log(error.toJSON());
const claims = decodeClaims("a.b.c");
const lifetime: number | null = tokenLifetime(claims, null);
const left: number | null = expiryDelay({ iat: 1, exp: 2 }, 0);
const refreshAt: number = refreshDelay(60_000, { at: 0.8, jitter: 0.1, random: Math.random });
const wait: number = backoffDelay(2, 1000, 30_000);
const expired: boolean = isExpired(claims, { serverNow: 1_700_000_000 });
const retry: boolean = isRetryable(error);
const token: Promise<string> = parseGeneratedToken(new Response("eyJ..."));
console.log(lifetime, left, refreshAt, wait, expired, retry, token, asUser, guide);

// Misuse the declarations refuse

// @ts-expect-error createClient takes an options object
createClient("pk_...");
// @ts-expect-error apiKey is required
createClient({ baseUrl: "https://idmint.example.com" });
// @ts-expect-error refreshAt is a number
createClient({ apiKey: "pk_...", refreshAt: "80%" });
// @ts-expect-error not an option
createClient({ apiKey: "pk_...", apikey: "pk_..." });
// @ts-expect-error identify needs a userId
void client.identify({ email: "ann@example.com" });
// @ts-expect-error the token goes in {authToken}
void client.identify(user, "eyJ...");
// @ts-expect-error userId is a string
void client.identify({ userId: 1 });
// @ts-expect-error so is email, where there is one
void client.identify({ userId: "user-1", email: true });
// @ts-expect-error the events are "error" and "session"
client.on("expired");
// @ts-expect-error an error subscriber receives an IdmintError
client.on("error").subscribe((error: string) => error);
// @ts-expect-error a session may be null
client.on("session").subscribe((session) => session.id);
// @ts-expect-error setAuthProvider needs generateToken
void client.setAuthProvider({ user });
// @ts-expect-error generateToken resolves with a token, not a number
void client.setAuthProvider({ user, generateToken: () => 42 });
// @ts-expect-error retryCount is a number
void client.setAuthProvider({ user, generateToken: getIdmintToken, retryConfig: { retryCount: "3" } });
// @ts-expect-error signOut resolves with a boolean
const notAString: Promise<string> = client.signOut();
// @ts-expect-error VERSION is a string
const notANumber: number = VERSION;
// @ts-expect-error there is no client.refresh()
client.refresh();
// @ts-expect-error the source is one of four
const source: IdmintError["source"] = "browser";
console.log(notAString, notANumber, source);
