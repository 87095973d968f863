// The docs page: Swagger UI renders /openapi.json; requests carry the API key typed in the header bar.
"use strict";

window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.spec,
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: true,
    requestInterceptor: (request) => {
      const key = document.getElementById("api-key").value.trim();
      if (key) request.headers.Authorization = `Bearer ${key}`;
      return request;
    },
  });
});
