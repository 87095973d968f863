// The docs page: render /openapi.json and let each operation be tried.
"use strict";

function exampleOf(operation) {
  const content = operation.requestBody && operation.requestBody.content;
  if (!content) return null;
  const json = content["application/json"];
  if (json) return {type: "application/json", text: JSON.stringify(json.example || {}, null, 2)};
  const plain = content["text/plain"];
  return {type: "text/plain", text: plain.example || ""};
}

function schemaName(ref) { return ref ? ref.split("/").pop() : ""; }

function renderOperation(path, method, operation) {
  const id = `${method}-${path.replace(/\W+/g, "-")}`;
  const section = el("section", {class: "panel operation", id});
  section.append(el("h2", {}, el("span", {class: "method " + method}, method.toUpperCase()), " ", el("code", {}, path)));
  section.append(el("p", {}, el("strong", {}, operation.summary || "")), el("p", {}, operation.description || ""));
  if (operation.parameters) {
    const list = el("ul");
    for (const p of operation.parameters) list.append(el("li", {}, el("code", {}, p.name), ` (${p.in}): ${p.description || ""}`));
    section.append(el("h3", {}, "Query options"), list);
  }
  const responses = el("ul");
  for (const [code, response] of Object.entries(operation.responses)) {
    const media = Object.values(response.content || {})[0];
    const ref = media && media.schema && media.schema.$ref;
    responses.append(el("li", {}, el("code", {}, code), " " + response.description + (ref ? ` (${schemaName(ref)})` : "")));
  }
  section.append(el("h3", {}, "Responses"), responses);
  const example = exampleOf(operation);
  const body = el("textarea", {rows: "8", "aria-label": `request body for ${method} ${path}`});
  if (example) { body.value = example.text; section.append(el("h3", {}, `Request body (${example.type})`), body); }
  const query = el("input", {type: "text", placeholder: "query string, e.g. top_k=3", "aria-label": "query string"});
  if (operation.parameters) section.append(query);
  const output = el("pre", {class: "output", hidden: ""});
  const button = el("button", {type: "button"}, "Try it");
  button.addEventListener("click", async () => {
    const url = path + (query.value.trim() ? "?" + query.value.trim().replace(/^\?/, "") : "");
    try {
      const {status, body: answer} = await callApi(method.toUpperCase(), url, example ? body.value : null,
                                                   example ? example.type : undefined);
      output.textContent = `${status}\n` + (typeof answer === "string" ? answer : JSON.stringify(answer, null, 2));
    } catch (e) {
      output.textContent = "request failed: " + e.message;
    }
    output.hidden = false;
  });
  section.append(button, output);
  return section;
}

async function main() {
  const {body: spec} = await callApi("GET", "/openapi.json");
  document.getElementById("api-title").textContent = `${spec.info.title} API ${spec.info.version} (OpenAPI ${spec.openapi})`;
  document.getElementById("api-description").textContent = spec.info.description;
  const container = document.getElementById("operations");
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, operation] of Object.entries(methods)) container.append(renderOperation(path, method, operation));
  }
  const schemas = el("section", {class: "panel"}, el("h2", {}, "Schemas"));
  for (const [name, schema] of Object.entries(spec.components.schemas)) {
    schemas.append(el("h3", {id: "schema-" + name}, name), el("pre", {class: "output"}, JSON.stringify(schema, null, 2)));
  }
  container.append(schemas);
}

main();
