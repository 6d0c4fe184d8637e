// The React example of docs/sdk-react.md (the setup guide's client code with idmint's names),
// type-checked against react.d.ts.  `tsc --noEmit -p clients/js/typecheck/tsconfig.react.json`:
// never run, only compiled.  Each `@ts-expect-error` line is a misuse the declarations refuse.

import { StrictMode, useEffect, useState } from "react";

import type { IdmintClient, IdmintError, Session, SessionUser, User } from "idmint";
import {
  IdmintProvider,
  useIdmintClient,
  useIdmintEventCallback,
  useIdmintUser,
  type IdmintClientHandle,
  type IdmintProviderProps,
} from "idmint/react";

// Call to your server to get a token for the logged-in user (it knows who from its session).
async function callToYourServerToGetJWTToken(): Promise<string> {
  const result = await fetch("/generate-jwt-token", { method: "POST" });
  const data: { token: string } = await result.json();
  return data.token;
}

// Your own user service's record of the logged-in user.
interface AppUser {
  uid: string;
  displayName: string;
  email: string;
  photoURL: string;
}

export function YourAuthComponent({ yourAuthenticatedUser }: { yourAuthenticatedUser: AppUser | null }) {
  const [user, setUser] = useState<User | null>(null);

  // Get the idmint client
  const { client } = useIdmintClient();

  useEffect(() => {
    const initIdmint = async () => {
      if (client && yourAuthenticatedUser) {
        const { uid, displayName, email, photoURL } = yourAuthenticatedUser;
        // Create the idmint user object
        const user: User = { userId: uid, name: displayName, email, photoUrl: photoURL, organizationId: "org-1" };
        // Get the token from your server, then identify with it
        const yourJWTToken = await callToYourServerToGetJWTToken();
        const session: Session = await client.identify(user, { authToken: yourJWTToken });
        console.log(session.id);
        setUser(user);
      }
    };
    initIdmint().catch(console.error);
  }, [client]);

  // Refresh the token: the guide's hook
  const errorEvent = useIdmintEventCallback("error");
  useEffect(() => {
    if (errorEvent?.code === "token_expired" && client && user) {
      // Generate a new token, and identify with it
      callToYourServerToGetJWTToken()
        .then((authToken) => client.identify(user, { authToken }))
        .catch(console.error);
    }
  }, [errorEvent]);

  const identified: SessionUser | null = useIdmintUser();
  const session = useIdmintEventCallback("session");
  const expiresAt: string | undefined = session?.expiresAt;
  const error: IdmintError | null = errorEvent;
  return (
    <div>
      User: {user?.userId} {identified?.email} {expiresAt} {error?.message}
    </div>
  );
}

export function App() {
  const user: AppUser = { uid: "user-1", displayName: "Ann", email: "ann@example.com", photoURL: "https://example.com/ann.png" };
  return (
    <StrictMode>
      <IdmintProvider apiKey="pk_..." baseUrl="https://idmint.example.com">
        <YourAuthComponent yourAuthenticatedUser={user} />
      </IdmintProvider>
    </StrictMode>
  );
}

// The authProvider variant: the SDK fetches tokens and refreshes them ahead of expiry.
export function WithAuthProvider({ user }: { user: User }) {
  return (
    <IdmintProvider
      apiKey="pk_..."
      baseUrl="https://idmint.example.com"
      authProvider={{
        user,
        generateToken: () => fetch("/generate-jwt-token", { method: "POST" }),
        retryConfig: { retryCount: 3, retryDelay: 1000 },
      }}
      refreshAt={0.8}
      tabSync
    >
      <YourAuthComponent yourAuthenticatedUser={null} />
    </IdmintProvider>
  );
}

export function NoProvider() {
  return <IdmintProvider apiKey="pk_..." baseUrl="https://idmint.example.com" authProvider={null} />;
}

const handle: IdmintClientHandle = { client: null };
const maybe: IdmintClient | null = handle.client;
const props: IdmintProviderProps = { apiKey: "pk_...", children: "text" };
console.log(maybe, props);

// Misuse the declarations refuse

export function Misuse() {
  // @ts-expect-error the events are "error" and "session"
  useIdmintEventCallback("token_expired");
  const errorEvent = useIdmintEventCallback("error");
  // @ts-expect-error there may be no error event yet
  console.log(errorEvent.code);
  const { client } = useIdmintClient();
  // @ts-expect-error the client is null on the server and until the provider has mounted
  void client.identify({ userId: "user-1" });
  // @ts-expect-error useIdmintClient returns { client }, not the client
  void useIdmintClient().identify({ userId: "user-1" });
  return (
    <>
      {/* @ts-expect-error apiKey is required */}
      <IdmintProvider baseUrl="https://idmint.example.com" />
      {/* @ts-expect-error the provider needs generateToken */}
      <IdmintProvider apiKey="pk_..." authProvider={{ user: { userId: "u" } }} />
      {/* @ts-expect-error refreshAt is a number */}
      <IdmintProvider apiKey="pk_..." refreshAt="80%" />
    </>
  );
}
