// idmint/react (react.js) in a DOM (happy-dom) with @testing-library/react: the provider's
// lifecycle, StrictMode's double effects, the hooks, hydration.  The SDK runs on a fake clock
// against a fake idmint and a fake application backend (the `fetch`, `clock` and `random`
// options pass through the provider's props), so nothing sleeps and every call is counted.
// Server rendering without a DOM is react-ssr.test.mjs (a process of its own, no happy-dom).
import "@happy-dom/global-registrator/register.js";

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";

import { act, cleanup, render } from "@testing-library/react";
import { StrictMode, createElement as h, useEffect, useState } from "react";
import { hydrateRoot } from "react-dom/client";
import { renderToString } from "react-dom/server";

import { IdmintProvider, useIdmintClient, useIdmintEventCallback, useIdmintUser } from "../react.js";

globalThis.IS_REACT_ACT_ENVIRONMENT = true;

// ---- fakes ------------------------------------------------------------------------------------

async function flush() {
  for (let i = 0; i < 25; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** The SDK's clock: time moves only in advance(), timers run in order. */
class FakeClock {
  constructor() {
    this.mono = 10_000;
    this.wall = 1_900_000_000_000;
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
      next.timer.fn();
    }
    this.wall += target - this.mono;
    this.mono = target;
    await flush();
  }
}

const b64url = (value) => Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** idmint's /v1/identify and /v1/sign-out, and the application's token endpoint. */
class FakeServers {
  constructor(clock, { lifetime = 10 } = {}) {
    this.clock = clock;
    this.lifetime = lifetime;
    this.identifies = [];
    this.signOuts = [];
    this.minted = [];
    this.sessions = 0;
    this.fetch = async (url, init) => {
      await null;
      const path = new URL(url).pathname;
      const body = JSON.parse(init.body);
      if (path === "/v1/identify") return this.#identify(body);
      if (path === "/v1/sign-out") {
        this.signOuts.push(body.sessionId);
        return json(200, { signedOut: true });
      }
      return json(404, { error: { code: "not_found", status: "NOT_FOUND", message: "no route" } });
    };
  }

  serverNow() {
    return this.clock.wall / 1000;
  }

  /** The application backend: a token for `userId` (what /generate-jwt-token answers). */
  mint(userId) {
    const iat = Math.floor(this.serverNow());
    const claims = { sub: userId, iat, exp: iat + this.lifetime, jti: `j${this.minted.length + 1}`, organizationId: "org-1" };
    const token = `${b64url({ alg: "ES256", typ: "JWT" })}.${b64url(claims)}.c2ln`;
    this.minted.push(token);
    return token;
  }

  #identify(body) {
    this.identifies.push({ token: body.authToken, user: body.user });
    const claims = JSON.parse(Buffer.from(body.authToken.split(".")[1], "base64url").toString("utf8"));
    if (claims.exp <= this.serverNow()) {
      return json(401, { error: { code: "token_expired", status: "UNAUTHENTICATED", message: "The token expired." } });
    }
    if (claims.sub !== body.user.userId) {
      return json(403, { error: { code: "user_mismatch", status: "PERMISSION_DENIED", message: "Not this user's token." } });
    }
    this.sessions += 1;
    const expiresAt = new Date(claims.exp * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
    return json(200, {
      session: {
        id: `ses_${this.sessions}`,
        user: { ...body.user },
        organizationId: "org-1",
        isAdmin: false,
        expiresAt,
        expiresIn: claims.exp - this.serverNow(),
        verified: true,
        mode: "jwt",
      },
    });
  }
}

/**
 * How many clients exist: each client listens to the window's `online` event from creation
 * until destroy(), so the listeners added and removed count the clients created and destroyed.
 */
class ClientCounter {
  constructor() {
    this.created = 0;
    this.destroyed = 0;
    this.add = window.addEventListener;
    this.remove = window.removeEventListener;
    const counter = this;
    window.addEventListener = function (type, ...rest) {
      if (type === "online") counter.created += 1;
      return counter.add.call(this, type, ...rest);
    };
    window.removeEventListener = function (type, ...rest) {
      if (type === "online") counter.destroyed += 1;
      return counter.remove.call(this, type, ...rest);
    };
  }

  get alive() {
    return this.created - this.destroyed;
  }

  restore() {
    window.addEventListener = this.add;
    window.removeEventListener = this.remove;
  }
}

// ---- harness ----------------------------------------------------------------------------------

const ANN = { userId: "ann", organizationId: "org-1", email: "ann@example.com", name: "Ann" };
const BOB = { userId: "bob", organizationId: "org-1", email: "bob@example.com", name: "Bob" };
let clock;
let servers;
let counter;
let consoleErrors;
let originalConsoleError;

beforeEach(() => {
  clock = new FakeClock();
  servers = new FakeServers(clock);
  counter = new ClientCounter();
  consoleErrors = [];
  originalConsoleError = console.error;
  console.error = (...args) => consoleErrors.push(args.map(String).join(" "));
});

afterEach(async () => {
  cleanup();
  await flush();
  counter.restore();
  console.error = originalConsoleError;
  assert.deepEqual(consoleErrors, [], "React logged no error or act() warning");
});

/** The provider with the fakes wired in (tabSync off: no other tabs in a test). */
function provider(props, ...children) {
  return h(
    IdmintProvider,
    { apiKey: "pk_test", baseUrl: "https://idmint.test", fetch: servers.fetch, clock, random: () => 0, tabSync: false, ...props },
    ...children,
  );
}

/** Let the SDK's requests and React's updates settle, inside act(). */
async function settle(ms = 0) {
  await act(async () => {
    if (ms > 0) await clock.advance(ms);
    else await flush();
  });
}

/** A component that records what the hooks return on every render. */
function Probe({ seen }) {
  const { client } = useIdmintClient();
  const user = useIdmintUser();
  const error = useIdmintEventCallback("error");
  const session = useIdmintEventCallback("session");
  seen.push({ client, user, error, session });
  return h("p", null, client ? `client; user ${user ? user.userId : "none"}` : "no client");
}

// ---- the provider's lifecycle -----------------------------------------------------------------

describe("IdmintProvider", () => {
  test("creates one client once mounted, and destroys it on unmount", async () => {
    const seen = [];
    const view = render(provider({}, h(Probe, { seen })));
    await settle();
    assert.equal(seen[0].client, null, "the first render has no client: it is made by an effect");
    const client = seen.at(-1).client;
    assert.ok(client && typeof client.identify === "function");
    assert.equal(view.container.textContent, "client; user none");
    assert.equal(new Set(seen.map((s) => s.client).filter(Boolean)).size, 1);
    assert.deepEqual([counter.created, counter.alive], [1, 1]);
    view.unmount();
    await settle();
    assert.deepEqual([counter.created, counter.alive], [1, 0], "destroyed on unmount");
  });

  test("under StrictMode: one client, one sign-in, one session, one refresh loop", async () => {
    let calls = 0;
    const generateToken = async ({ userId, reason }) => {
      calls += 1;
      await null;
      assert.ok(reason === "sign-in" || reason === "refresh");
      return servers.mint(userId);
    };
    const seen = [];
    const view = render(h(StrictMode, null, provider({ authProvider: { user: ANN, generateToken } }, h(Probe, { seen }))));
    await settle();
    assert.deepEqual([counter.created, counter.alive], [1, 1], "StrictMode's second mount kept the client");
    assert.equal(calls, 1, "one sign-in");
    assert.equal(servers.identifies.length, 1);
    assert.equal(servers.sessions, 1);
    assert.equal(seen.at(-1).user.userId, "ann");
    // 10-second tokens, refreshed at 80 % (random 0): 8 s, 16 s, 24 s.
    await settle(7_900);
    assert.equal(calls, 1);
    await settle(200);
    assert.equal(calls, 2, "one refresh, not one per effect run");
    await settle(8_000);
    await settle(8_000);
    assert.equal(calls, 4);
    assert.equal(servers.identifies.length, 4);
    assert.equal(seen.at(-1).error, null, "no token_expired: refreshed ahead of expiry");
    assert.equal(seen.at(-1).session.id, "ses_4");
    view.unmount();
    await settle();
    assert.equal(counter.alive, 0);
    await settle(60_000);
    assert.equal(calls, 4, "no refresh after unmount");
  });

  test("a new apiKey makes a new client; the old one is destroyed", async () => {
    const seen = [];
    const view = render(provider({}, h(Probe, { seen })));
    await settle();
    const first = seen.at(-1).client;
    view.rerender(provider({ apiKey: "pk_other" }, h(Probe, { seen })));
    await settle();
    const second = seen.at(-1).client;
    assert.ok(second && second !== first);
    assert.deepEqual([counter.created, counter.alive], [2, 1]);
    view.rerender(provider({ apiKey: "pk_other", requestTimeout: 5_000 }, h(Probe, { seen })));
    await settle();
    assert.equal(seen.at(-1).client, second, "other options are read when the client is created");
    view.unmount();
    await settle();
    assert.equal(counter.alive, 0);
  });

  test("the authProvider prop: applied once per user, the latest generateToken called, removable", async () => {
    const calls = [];
    const tokenFor = (tag) => async ({ userId }) => {
      calls.push(tag);
      return servers.mint(userId);
    };
    const seen = [];
    // an object literal on every render, as JSX makes it
    const view = render(provider({ authProvider: { user: { ...ANN }, generateToken: tokenFor("a") } }, h(Probe, { seen })));
    await settle();
    view.rerender(provider({ authProvider: { user: { ...ANN }, generateToken: tokenFor("b") } }, h(Probe, { seen })));
    await settle();
    assert.deepEqual(calls, ["a"], "the same user: not signed in again");
    await settle(8_000);
    assert.deepEqual(calls, ["a", "b"], "the refresh calls the latest generateToken");
    view.rerender(provider({ authProvider: { user: BOB, generateToken: tokenFor("c") } }, h(Probe, { seen })));
    await settle();
    assert.deepEqual(calls, ["a", "b", "c"]);
    assert.equal(seen.at(-1).user.userId, "bob");
    view.rerender(provider({ authProvider: null }, h(Probe, { seen })));
    await settle(30_000);
    assert.deepEqual(calls, ["a", "b", "c"], "removed: no more refreshes");
    assert.equal(seen.at(-1).error.code, "token_expired", "and the token expires");
    assert.equal(seen.at(-1).user.userId, "bob", "the user is kept once the token expired");
  });

  test("the hooks need a provider", () => {
    function Lonely() {
      useIdmintClient();
      return null;
    }
    // React reports the thrown error on console.error too: expected here.
    const quiet = console.error;
    console.error = () => {};
    try {
      assert.throws(() => render(h(Lonely)), /useIdmintClient\(\) must be called inside <IdmintProvider>/);
    } finally {
      console.error = quiet;
    }
  });

  test("an unknown event name is refused", () => {
    function Wrong() {
      useIdmintEventCallback("expired");
      return null;
    }
    const quiet = console.error;
    console.error = () => {};
    try {
      assert.throws(() => render(provider({}, h(Wrong))), /unknown event "expired"/);
    } finally {
      console.error = quiet;
    }
  });
});

// ---- the guide's component ----------------------------------------------------------------------

/**
 * The setup guide's client code with idmint's names: identify with a token from the backend
 * once there is a client, and on `token_expired` fetch a fresh token and identify again.
 */
function GuideAuth({ who, fired }) {
  const [user, setUser] = useState(null);
  const { client } = useIdmintClient();
  const errorEvent = useIdmintEventCallback("error");

  async function callToYourServerToGetJWTToken(userId) {
    await null;
    return servers.mint(userId);
  }

  useEffect(() => {
    const initIdmint = async () => {
      if (client && who) {
        const token = await callToYourServerToGetJWTToken(who.userId);
        await client.identify(who, { authToken: token });
        setUser(who);
      }
    };
    initIdmint().catch(() => {});
  }, [client]);

  useEffect(() => {
    if (errorEvent?.code === "token_expired") {
      fired.push(errorEvent);
      (async () => {
        const token = await callToYourServerToGetJWTToken(who.userId);
        await client.identify(who, { authToken: token });
      })().catch(() => {});
    }
  }, [errorEvent]);

  return h("div", null, `User: ${user?.userId ?? ""}`);
}

describe("the guide's useEffect on token_expired", () => {
  test("fires once per expired token and the session goes on with a fresh one (StrictMode)", async () => {
    const fired = [];
    const seen = [];
    const view = render(h(StrictMode, null, provider({}, h(GuideAuth, { who: ANN, fired }), h(Probe, { seen }))));
    await settle();
    assert.equal(view.container.textContent.startsWith("User: ann"), true);
    assert.equal(servers.identifies.length, 1, "one identify under StrictMode");
    assert.equal(seen.at(-1).session.id, "ses_1");
    await settle(9_900);
    assert.equal(fired.length, 0);
    await settle(200);
    assert.equal(fired.length, 1, "token_expired reached the effect, once");
    assert.equal(fired[0].code, "token_expired");
    assert.equal(fired[0].source, "client");
    assert.equal(servers.identifies.length, 2, "identified again with a fresh token");
    assert.equal(servers.identifies[1].token, servers.minted[1]);
    assert.equal(seen.at(-1).session.id, "ses_2");
    assert.equal(seen.at(-1).user.userId, "ann");
    await settle(10_000);
    assert.equal(fired.length, 2, "the fresh token expires once too");
    assert.equal(servers.sessions, 3);
    view.unmount();
    await settle();
  });

  test("each error event re-renders with the new one", async () => {
    const seen = [];
    render(provider({}, h(Probe, { seen })));
    await settle();
    const { client } = seen.at(-1);
    await act(async () => {
      await client.identify(ANN, { authToken: servers.mint("bob") }).catch(() => {});
    });
    const first = seen.at(-1).error;
    assert.equal(first.code, "user_mismatch");
    await act(async () => {
      await client.identify({ userId: "" }).catch(() => {});
    });
    const second = seen.at(-1).error;
    assert.equal(second.code, "invalid_argument");
    assert.notEqual(second, first);
  });
});

// ---- useIdmintUser ----------------------------------------------------------------------------

describe("useIdmintUser", () => {
  test("the identified user after identify, null after sign-out", async () => {
    const seen = [];
    const view = render(provider({}, h(Probe, { seen })));
    await settle();
    assert.equal(seen.at(-1).user, null);
    const { client } = seen.at(-1);
    await act(async () => {
      await client.identify(ANN, { authToken: servers.mint("ann") });
    });
    assert.deepEqual(seen.at(-1).user, ANN);
    assert.equal(view.container.textContent, "client; user ann");
    const renders = seen.length;
    await settle(1_000);
    assert.equal(seen.length, renders, "nothing changed: no re-render");
    await act(async () => {
      assert.equal(await client.signOut(), true);
    });
    assert.equal(seen.at(-1).user, null);
    assert.equal(seen.at(-1).session, null);
    assert.deepEqual(servers.signOuts, ["ses_1"]);
    assert.equal(view.container.textContent, "client; user none");
  });
});

// ---- hydration --------------------------------------------------------------------------------

describe("server rendering, then hydration", () => {
  test("the server's HTML hydrates without a mismatch; the client starts on hydration", async () => {
    const seen = [];
    const tree = () => h(StrictMode, null, provider({ authProvider: { user: ANN, generateToken: ({ userId }) => servers.mint(userId) } }, h(Probe, { seen })));
    const html = renderToString(tree());
    assert.equal(html, "<p>no client</p>");
    assert.equal(counter.created, 0, "server rendering made no client");
    assert.equal(servers.identifies.length, 0);
    const container = document.createElement("div");
    container.innerHTML = html;
    document.body.append(container);
    let root;
    await act(async () => {
      root = hydrateRoot(container, tree(), { onRecoverableError: (error) => consoleErrors.push(String(error)) });
    });
    await settle();
    assert.deepEqual([counter.created, counter.alive], [1, 1]);
    assert.equal(servers.identifies.length, 1);
    assert.equal(container.textContent, "client; user ann");
    await act(async () => root.unmount());
    await settle();
    assert.equal(counter.alive, 0);
    container.remove();
  });
});
