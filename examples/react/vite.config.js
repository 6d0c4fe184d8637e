// Vite builds the example into dist/ (`npm run build`), which examples/fastapi_app serves at
// /react/.  `npm run dev` serves it from Vite instead, with the backend's routes proxied to the
// FastAPI example (IDMINT_EXAMPLE_BACKEND, default http://127.0.0.1:8001).
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const backend = process.env.IDMINT_EXAMPLE_BACKEND ?? "http://127.0.0.1:8001";

export default defineConfig({
  base: "/react/",
  plugins: [react()],
  resolve: {
    // idmint is installed from ../../clients/js (a link): its `import "react"` must get this
    // app's React, not the copy in clients/js/node_modules (the SDK's own tests use that one).
    dedupe: ["react", "react-dom"],
  },
  server: {
    proxy: Object.fromEntries(["/config", "/generate-jwt-token", "/login", "/logout"].map((path) => [path, backend])),
  },
});
