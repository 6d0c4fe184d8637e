import { IdmintProvider } from "idmint/react";

import { EventLog, SessionStatus, SignOut } from "./Session.jsx";
import YourAuthComponent, { callToYourServerToGetJWTToken } from "./YourAuthComponent.jsx";

export default function App({ config, variant }) {
  const { idmintUrl, apiKey, user } = config;
  if (!user) {
    return (
      <>
        <h1>idmint React example</h1>
        <p id="status">Not logged in.</p>
        <p id="login">
          Log in as <a href="/login?user=ann&next=/react/">ann</a> or <a href="/login?user=bob&next=/react/">bob</a>.
        </p>
      </>
    );
  }

  // The guide's way: the component identifies, and identifies again on token_expired.
  // The authProvider way: the SDK gets the tokens and refreshes them before they expire; the
  // components only show what happens (no code of their own for tokens).
  const authProvider =
    variant === "provider"
      ? {
          user,
          // A fetch Response is fine: a 401 (logged out) stops the provider.
          generateToken: () => fetch("/generate-jwt-token", { method: "POST" }),
          retryConfig: { retryCount: 3, retryDelay: 1000 },
        }
      : null;

  return (
    <IdmintProvider apiKey={apiKey} baseUrl={idmintUrl} authProvider={authProvider}>
      <h1>idmint React example ({variant === "provider" ? "authProvider" : "the guide's token_expired effect"})</h1>
      {variant === "guide" && <YourAuthComponent yourAuthenticatedUser={user} getToken={callToYourServerToGetJWTToken} />}
      <SessionStatus />
      <SignOut />
      <EventLog />
    </IdmintProvider>
  );
}
