// Shared by the demo and the docs page: the API key field and one fetch helper.
"use strict";

const keyInput = document.getElementById("api-key");
keyInput.value = sessionStorage.getItem("topics-api-key") || "";
keyInput.addEventListener("change", () => sessionStorage.setItem("topics-api-key", keyInput.value.trim()));

// Call the API; resolve to {status, body}. Problems (RFC 9457) come back as bodies too.
async function callApi(method, path, body, contentType = "application/json") {
  const headers = {};
  const key = keyInput.value.trim();
  if (key) headers["Authorization"] = "Bearer " + key;
  const init = {method, headers};
  if (body !== undefined && body !== null) {
    headers["Content-Type"] = contentType;
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let parsed = text;
  try { parsed = JSON.parse(text); } catch (e) { /* plain text, e.g. /metrics */ }
  return {status: response.status, body: parsed, headers: response.headers};
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value; else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}
