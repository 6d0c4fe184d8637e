// idmint/react on the server: no DOM here (a process of its own, without happy-dom).  Importing
// the entry point and rendering the provider and every hook with react-dom/server touches no
// browser global and identifies nobody.  Hydration is in react.test.mjs.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createElement as h } from "react";
import { renderToString } from "react-dom/server";

/** Globals a browser client would use: each read (or call) is recorded. */
const BROWSER_GLOBALS = [
  "window",
  "document",
  "navigator",
  "location",
  "localStorage",
  "sessionStorage",
  "BroadcastChannel",
  "fetch",
  "addEventListener",
  "crypto",
  "performance",
];

function trapBrowserGlobals() {
  const touched = [];
  const saved = new Map();
  for (const name of BROWSER_GLOBALS) {
    saved.set(name, Object.getOwnPropertyDescriptor(globalThis, name));
    Object.defineProperty(globalThis, name, {
      configurable: true,
      get() {
        touched.push(name);
        return undefined;
      },
    });
  }
  const restore = () => {
    for (const [name, descriptor] of saved) {
      if (descriptor) Object.defineProperty(globalThis, name, descriptor);
      else delete globalThis[name];
    }
  };
  return { touched, restore };
}

test("importing idmint/react and rendering it on the server touch no browser global", async () => {
  assert.equal(typeof globalThis.window, "undefined", "no DOM in this process");
  const { touched, restore } = trapBrowserGlobals();
  let html;
  let fetched = 0;
  let tokens = 0;
  try {
    const { IdmintProvider, useIdmintClient, useIdmintEventCallback, useIdmintUser } = await import("../react.js");

    function Page() {
      const { client } = useIdmintClient();
      const errorEvent = useIdmintEventCallback("error");
      const session = useIdmintEventCallback("session");
      const user = useIdmintUser();
      return h("p", null, `client: ${client ? "yes" : "none"}; error: ${errorEvent?.code ?? "none"}; session: ${session?.id ?? "none"}; user: ${user?.userId ?? "none"}`);
    }

    html = renderToString(
      h(
        IdmintProvider,
        {
          apiKey: "pk_test",
          baseUrl: "https://idmint.test",
          fetch: () => {
            fetched += 1;
            throw new Error("the server must not call idmint");
          },
          authProvider: {
            user: { userId: "ann" },
            generateToken: () => {
              tokens += 1;
              return "never";
            },
          },
        },
        h(Page),
      ),
    );
    await new Promise((resolve) => setImmediate(resolve)); // anything scheduled would run now
  } finally {
    restore();
  }
  assert.equal(html, "<p>client: none; error: none; session: none; user: none</p>");
  assert.deepEqual(touched, []);
  assert.equal(fetched, 0, "identified nobody");
  assert.equal(tokens, 0, "asked for no token");
});

test("importing the SDK alone does not load React", async () => {
  // A fresh process whose module resolution refuses react: `import "idmint"` still works.
  const { spawnSync } = await import("node:child_process");
  const hooks = `
    export async function resolve(specifier, context, next) {
      if (specifier === "react" || specifier.startsWith("react/") || specifier.startsWith("react-dom")) {
        throw new Error("idmint.js imported " + specifier);
      }
      return next(specifier, context);
    }`;
  const register = `
    import { register } from "node:module";
    register("data:text/javascript," + encodeURIComponent(${JSON.stringify(hooks)}));`;
  const sdk = new URL("../idmint.js", import.meta.url).href;
  const entry = new URL("../react.js", import.meta.url).href;
  const run = (target) =>
    spawnSync(process.execPath, ["--import", `data:text/javascript,${encodeURIComponent(register)}`, "--input-type=module", "-e", `await import(${JSON.stringify(target)}); console.log("loaded");`], {
      encoding: "utf8",
    });
  const alone = run(sdk);
  assert.equal(alone.status, 0, alone.stderr);
  assert.equal(alone.stdout.trim(), "loaded");
  const react = run(entry);
  assert.notEqual(react.status, 0, "the React entry does import react (so the check can fail)");
  assert.match(react.stderr, /imported react/);
});
