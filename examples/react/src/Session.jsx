// What the hooks show: the session and the user, every event, and a sign-out button.
import { useIdmintClient, useIdmintEventCallback, useIdmintUser } from "idmint/react";
import { useEffect, useState } from "react";

export function SessionStatus() {
  const session = useIdmintEventCallback("session");
  const user = useIdmintUser();
  return (
    <>
      <p id="status">
        {session
          ? `Identified as ${session.user.userId} (verified: ${session.verified}, mode: ${session.mode}).`
          : "No idmint session."}
      </p>
      <dl>
        <dt>User</dt>
        <dd id="user">{user ? `${user.userId} (${user.email}, ${user.organizationId})` : "–"}</dd>
        <dt>idmint session</dt>
        <dd id="session">{session ? session.id : "–"}</dd>
        <dt>Expires</dt>
        <dd id="expires">{session ? session.expiresAt : "–"}</dd>
      </dl>
    </>
  );
}

/** Every error and session event, as the hooks deliver them. */
export function EventLog() {
  const errorEvent = useIdmintEventCallback("error");
  const session = useIdmintEventCallback("session");
  const [events, setEvents] = useState([]);
  const add = (kind, text, code) =>
    setEvents((list) => [...list, { key: list.length, kind, code, text: `${new Date().toLocaleTimeString()} ${kind}: ${text}` }]);

  useEffect(() => {
    if (errorEvent) add("error", `${errorEvent.code}: ${errorEvent.message}`, errorEvent.code);
  }, [errorEvent]);
  useEffect(() => {
    // null before the first session too: log only a change
    if (session) add("session", `${session.id} for ${session.user.userId}`);
    else if (events.some((event) => event.kind === "session")) add("session", "ended");
  }, [session]);

  return (
    <>
      <h2>Events</h2>
      <ol id="events">
        {events.map((event) => (
          <li key={event.key} className={event.kind} data-code={event.code}>
            {event.text}
          </li>
        ))}
      </ol>
    </>
  );
}

export function SignOut() {
  const { client } = useIdmintClient();
  const user = useIdmintUser();
  if (!client || !user) return null;
  return (
    <p id="logout">
      <button
        type="button"
        onClick={async () => {
          await client.signOut().catch(console.error);
          location.href = "/logout";
        }}
      >
        Sign out
      </button>
    </p>
  );
}
