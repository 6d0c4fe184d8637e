// The JWT guide's client code, with idmint's names: get the client from the hook, fetch a token
// for the logged-in user from your server, identify with it; and the guide's hook for
// token_expired, which fetches a fresh token and identifies again.
import { useIdmintClient, useIdmintEventCallback } from "idmint/react";
import { useEffect, useState } from "react";

// Call to your server to get a token.  It mints for the user its own session cookie names,
// never for a userId the request sends (examples/fastapi_app: POST /generate-jwt-token).
export async function callToYourServerToGetJWTToken() {
  const result = await fetch("/generate-jwt-token", { method: "POST" });
  if (!result.ok) throw new Error(`/generate-jwt-token answered ${result.status}`);
  const data = await result.json();
  return data.token;
}

export default function YourAuthComponent({ yourAuthenticatedUser }) {
  let [user, setUser] = useState(null);
  // How often the token_expired effect below ran (the tests count it).
  let [refreshes, setRefreshes] = useState(0);

  // Get the idmint client
  const { client } = useIdmintClient();

  useEffect(() => {
    const initIdmint = async () => {
      if (client && yourAuthenticatedUser) {
        const { userId, name, email, organizationId } = yourAuthenticatedUser;

        // Create the idmint user object
        const user = { userId, name, email, organizationId };

        // Get the token from your server
        const yourJWTToken = await callToYourServerToGetJWTToken();

        // Identify the user with the idmint client, with the token
        await client.identify(user, {
          authToken: yourJWTToken,
        });

        setUser(user);
      }
    };
    initIdmint().catch(console.error);
  }, [client]);

  // Refresh the token: the guide's hook, unchanged
  const errorEvent = useIdmintEventCallback("error");

  useEffect(() => {
    if (errorEvent?.code === "token_expired") {
      setRefreshes((n) => n + 1);
      // Generate a new token, and call identify with it
      const refresh = async () => {
        const yourJWTToken = await callToYourServerToGetJWTToken();
        await client.identify(user ?? yourAuthenticatedUser, { authToken: yourJWTToken });
      };
      refresh().catch(console.error);
    }
  }, [errorEvent]);

  return (
    <div>
      <p id="guide-user">User: {user?.userId}</p>
      <p id="refreshes" data-count={refreshes}>
        token_expired handled {refreshes} time{refreshes === 1 ? "" : "s"}.
      </p>
    </div>
  );
}
