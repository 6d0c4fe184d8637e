// Starts Swagger UI on /docs: a file of its own, not an inline script, so that the page can
// be served under a Content-Security-Policy without 'unsafe-inline'.
window.addEventListener("DOMContentLoaded", () => {
  window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
