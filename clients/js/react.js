"use client";
/**
 * idmint's React bindings (`import { IdmintProvider, useIdmintClient } from "idmint/react"`):
 * one ES module on top of the browser SDK (`./idmint.js`), no build step, no JSX.  React is a
 * peer dependency (17 or newer); `import "idmint"` alone never loads this file, nor React.
 *
 *   <IdmintProvider apiKey="pk_..." baseUrl="https://idmint.example.com">
 *     <App />
 *   </IdmintProvider>
 *
 *   const { client } = useIdmintClient();          // null on the server and until hydrated
 *   const errorEvent = useIdmintEventCallback("error");
 *   useEffect(() => { if (errorEvent?.code === "token_expired") ... }, [errorEvent]);
 *   const user = useIdmintUser();
 *
 * React's rules, and how this file keeps them (docs/sdk-react.md says more):
 * - Rendering has no side effects.  The provider's render only makes a small, inert `Binding`
 *   (in a `useState` initializer, which React may call twice or throw away); the SDK's client
 *   is created in an effect, so server rendering creates nothing, touches no browser API and
 *   identifies nobody, and the client starts on hydration.
 * - StrictMode mounts effects, cleans them up and mounts them again.  The cleanup does not
 *   destroy the client at once: it schedules that for a microtask later, and the second mount,
 *   which React runs before then, cancels it.  So the tree keeps one client, one session and
 *   one refresh loop; a real unmount destroys the client.
 * - The hooks read the client's state through `useSyncExternalStore` (a small equivalent on
 *   React 17, which has none), so concurrent rendering never shows torn values.
 */

import * as React from "react";

import { createClient } from "./idmint.js";

const { createContext, createElement, useCallback, useContext, useEffect, useMemo, useReducer, useRef, useState } = React;

const EVENTS = Object.freeze(["error", "session"]);
/** The provider's props that are not `createClient` options. */
const OWN_PROPS = new Set(["authProvider", "children"]);

const IdmintContext = createContext(null);
IdmintContext.displayName = "IdmintContext";

function sameJson(a, b) {
  if (a === b) return true;
  try {
    return JSON.stringify(a) === JSON.stringify(b);
  } catch {
    return false;
  }
}

/** What identifies a provider to apply: its user and retry rules (its generateToken may be new on every render). */
function providerKey(provider) {
  try {
    return JSON.stringify([provider.user, provider.retryConfig ?? null]);
  } catch {
    return provider; // not JSON: compare the object itself
  }
}

/**
 * One provider's client and what the hooks read from it.  Creating a Binding does nothing else
 * (React may create one and throw it away); `acquire()` starts the client, from an effect.
 */
class Binding {
  #client = null;
  #key = null;
  #holds = 0;
  #listeners = new Set();
  #unsubscribe = [];
  #latest = { error: null, session: null };
  #user = null;
  /** The auth provider applied to the current client: its key, or null for none. */
  #appliedKey = null;
  #appliedTo = null;
  /** The latest `authProvider` prop: its generateToken is the one called. */
  #provider = null;

  /** For useSyncExternalStore: stable, so React subscribes once. */
  subscribe = (listener) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  getClient = () => this.#client;

  getUser = () => this.#user;

  latest(name) {
    return this.#latest[name];
  }

  /** The provider's effect mounted: start the client, or keep the one a StrictMode cleanup was about to destroy. */
  acquire(options) {
    this.#holds += 1;
    const key = `${options.apiKey}\u0000${options.baseUrl ?? ""}`;
    if (this.#client && this.#key !== key) this.#stop();
    if (!this.#client) this.#start(options, key);
  }

  /** The provider's effect was cleaned up: destroy the client, unless it is mounted again at once. */
  release() {
    this.#holds -= 1;
    Promise.resolve().then(() => {
      if (this.#holds === 0 && this.#client) this.#stop();
    });
  }

  /** Apply the `authProvider` prop: again only when its user or retryConfig changes. */
  provide(provider) {
    this.#provider = provider || null;
    const client = this.#client;
    if (!client) return;
    const key = provider ? providerKey(provider) : null;
    if (this.#appliedTo === client && this.#appliedKey === key) return;
    const hadOne = this.#appliedTo === client && this.#appliedKey !== null;
    this.#appliedTo = client;
    this.#appliedKey = key;
    if (!provider) {
      if (hadOne) client.setAuthProvider(null).catch(() => {});
      return;
    }
    const config = {
      user: provider.user,
      generateToken: (request) => {
        const latest = this.#provider ?? provider;
        return latest.generateToken(request);
      },
    };
    if (provider.retryConfig !== undefined) config.retryConfig = provider.retryConfig;
    // Failures are also `error` events (token_refresh_failed): useIdmintEventCallback sees them.
    client.setAuthProvider(config).catch(() => {});
  }

  #start(options, key) {
    const client = createClient(options);
    this.#client = client;
    this.#key = key;
    this.#latest = { error: null, session: null };
    this.#user = null;
    this.#unsubscribe = [
      client.on("error").subscribe((error) => {
        this.#latest = { ...this.#latest, error };
        this.#notify();
      }),
      client.on("session").subscribe((session) => {
        this.#latest = { ...this.#latest, session };
        const user = client.getUser();
        if (!sameJson(user, this.#user)) this.#user = user;
        this.#notify();
      }),
    ];
    this.#notify();
  }

  #stop() {
    const client = this.#client;
    for (const subscription of this.#unsubscribe) subscription.unsubscribe();
    this.#unsubscribe = [];
    this.#client = null;
    this.#key = null;
    this.#appliedTo = null;
    this.#appliedKey = null;
    this.#latest = { error: null, session: null };
    this.#user = null;
    client.destroy();
    this.#notify();
  }

  #notify() {
    for (const listener of [...this.#listeners]) listener();
  }
}

const nothing = () => null;

/** React 18+: useSyncExternalStore.  React 17: the same contract with state and an effect. */
const useStore =
  typeof React.useSyncExternalStore === "function"
    ? (subscribe, getSnapshot) => React.useSyncExternalStore(subscribe, getSnapshot, nothing)
    : function useStoreWithoutSyncExternalStore(subscribe, getSnapshot) {
        const value = getSnapshot();
        const [, rerender] = useReducer((n) => n + 1, 0);
        const seen = useRef({ value, getSnapshot });
        useEffect(() => {
          seen.current = { value, getSnapshot };
        });
        useEffect(() => {
          const check = () => {
            if (!Object.is(seen.current.getSnapshot(), seen.current.value)) rerender();
          };
          const unsubscribe = subscribe(check);
          check(); // a change between render and subscription
          return unsubscribe;
        }, [subscribe]);
        return value;
      };

function useBinding(hook) {
  const binding = useContext(IdmintContext);
  if (binding === null) throw new Error(`idmint: ${hook}() must be called inside <IdmintProvider>.`);
  return binding;
}

/**
 * `<IdmintProvider apiKey baseUrl authProvider?>`: one client for the tree below, created on
 * the client once mounted (never while rendering, never on the server) and destroyed on
 * unmount.  Every other prop but `children` is a `createClient` option, read when the client
 * is created; a new `apiKey` or `baseUrl` makes a new client.
 */
export function IdmintProvider(props) {
  const [binding] = useState(() => new Binding());
  const { apiKey, baseUrl, authProvider, children } = props;
  useEffect(() => {
    const options = {};
    for (const [name, value] of Object.entries(props)) {
      if (!OWN_PROPS.has(name) && value !== undefined) options[name] = value;
    }
    binding.acquire(options);
    return () => binding.release();
    // The other options are read when the client is created: only these two make a new one.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [binding, apiKey, baseUrl]);
  // After every render: cheap when nothing changed (the key compares user and retryConfig).
  useEffect(() => {
    binding.provide(authProvider);
  });
  return createElement(IdmintContext.Provider, { value: binding }, children);
}

/** `{ client }`: the provider's client; `null` on the server and until the provider has mounted. */
export function useIdmintClient() {
  const binding = useBinding("useIdmintClient");
  const client = useStore(binding.subscribe, binding.getClient);
  return useMemo(() => ({ client }), [client]);
}

/**
 * The latest `error` event (an `IdmintError`) or `session` event (a session, or `null` when it
 * ended), `null` before the first; the component re-renders on each new one.
 */
export function useIdmintEventCallback(name) {
  if (!EVENTS.includes(name)) throw new TypeError(`idmint: unknown event "${name}" (events: ${EVENTS.join(", ")}).`);
  const binding = useBinding("useIdmintEventCallback");
  const getSnapshot = useCallback(() => binding.latest(name), [binding, name]);
  return useStore(binding.subscribe, getSnapshot);
}

/** The identified user (`client.getUser()`), or `null` before identify and after sign-out. */
export function useIdmintUser() {
  const binding = useBinding("useIdmintUser");
  return useStore(binding.subscribe, binding.getUser);
}
