// The example's entry: ask our own backend who is logged in and where idmint is, then render
// the guide's component under <IdmintProvider> (or, with ?refresh=provider, the authProvider
// variant).  StrictMode on purpose: the bindings keep one client and one session under it.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import App from "./App.jsx";

const config = await (await fetch("/config")).json();
const variant = new URLSearchParams(location.search).get("refresh") === "provider" ? "provider" : "guide";

createRoot(document.getElementById("root")).render(
  <StrictMode>
    <App config={config} variant={variant} />
  </StrictMode>,
);
