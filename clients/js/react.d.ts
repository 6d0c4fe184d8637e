/**
 * Types of idmint's React bindings (`react.js` beside this file, the package's `idmint/react`
 * entry point).  The guide is docs/sdk-react.md in the idmint repository.
 *
 * Written by hand like idmint.d.ts, and checked against the guide's React example
 * (clients/js/typecheck/react.tsx, run by `tsc --noEmit` in the tests).  They need React's
 * types (`@types/react`, 17 or newer) where they are used.
 */

import type { ReactElement, ReactNode } from "react";

import type { AuthProvider, ClientEvents, ClientOptions, IdmintClient, SessionUser } from "./idmint.js";

/**
 * `<IdmintProvider>`'s props: `createClient`'s options (read when the client is created; a
 * new `apiKey` or `baseUrl` makes a new client), `authProvider`, and `children`.
 */
export interface IdmintProviderProps extends ClientOptions {
  /**
   * Let the SDK get tokens itself and refresh them before they expire (`setAuthProvider`).
   * Applied again only when its `user` or `retryConfig` changes (compared by value), so an
   * object literal is fine; the latest `generateToken` is the one called.  `null` or absent:
   * none (removing it stops refreshing; the session lasts until its token expires).
   */
  authProvider?: AuthProvider | null | undefined;
  children?: ReactNode;
}

/**
 * One idmint client for the tree below: created once mounted on the client (never while
 * rendering, never on the server), destroyed on unmount; one under StrictMode too.
 */
export declare function IdmintProvider(props: IdmintProviderProps): ReactElement;

/** What `useIdmintClient()` returns. */
export interface IdmintClientHandle {
  /** The provider's client; `null` on the server and until the provider has mounted. */
  client: IdmintClient | null;
}

/** `{ client }`, the provider's client.  Throws outside an `<IdmintProvider>`. */
export declare function useIdmintClient(): IdmintClientHandle;

/**
 * The latest event of the provider's client: for `"error"` an `IdmintError`, for `"session"`
 * the session (`null` when it ended); `null` before the first.  The component re-renders on
 * each new one (events of the same tick come as the last of them).
 */
export declare function useIdmintEventCallback<E extends keyof ClientEvents>(event: E): ClientEvents[E] | null;

/** The identified user (`client.getUser()`), or `null` before identify and after sign-out. */
export declare function useIdmintUser(): SessionUser | null;
