// The model card view: the card of the loaded model (from GET /v1/model) as headings, tables and lists.
"use strict";

// "0.912 (0.871–0.944)": a figure and its 95 % interval; a dash where it is undefined.
function figure(entry) {
  if (!entry || entry.value === null || entry.value === undefined) return "–";
  const interval = entry.low !== null && entry.high !== null
    ? ` (${entry.low.toFixed(3)}–${entry.high.toFixed(3)})` : "";
  return entry.value.toFixed(3) + interval;
}

function table(caption, headers, rows) {
  return el("table", {class: "card-table"}, el("caption", {}, caption),
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {scope: "col"}, h)))),
    el("tbody", {}, ...rows.map((row) => el("tr", {}, ...row.map((cell) => el("td", {}, String(cell)))))));
}

function bullets(items) {
  return el("ul", {}, ...(items && items.length ? items : ["–"]).map((item) => el("li", {}, item)));
}

function renderCard(box, card) {
  const {model = {}, data = {}, options = {}, quality = {}} = card;
  const interval = quality.interval || {};
  const why = options.why || {};
  box.replaceChildren(
    el("h2", {}, `Model ${model.version || "?"}`),
    el("p", {}, model.summary || ""),
    el("p", {class: "hint"}, `Created ${model.created_at || "?"}. ${model.kind || ""}.`),
    el("h3", {}, "Data"),
    el("p", {}, `${data.documents} documents from ${data.files} file(s): ${data.train_documents} for training, ` +
      `${data.test_documents} held out (${data.split}). Languages: ${(data.languages || ["not recorded"]).join(", ")}.`),
    table("Training documents per topic", ["topic", "documents"],
      [...Object.entries(data.documents_per_topic || {}), ["(none of these)", data.none_of_these]]),
    el("h4", {}, "Sources"),
    bullets((data.sources || []).map((s) => s.path + (s.documents !== undefined ? ` (${s.documents} documents)` : ""))),
    el("h3", {}, "Options"),
    table("Options and why", ["option", "value", "why"],
      Object.entries(options.hyperparameters || {}).map(([k, v]) => [k, JSON.stringify(v), why[k] || "–"])),
    el("h3", {}, "Quality on held-out documents"),
    el("p", {}, `Evaluated on ${quality.evaluated_on}. Micro-F1 ${figure(quality.micro_f1)}, macro-F1 ` +
      `${figure(quality.macro_f1)}. In brackets: the ${Math.round((interval.confidence || 0.95) * 100)} % interval ` +
      `(${interval.method || "?"}, ${interval.resamples} resamples).`),
    table("Per topic", ["topic", "held-out documents", "precision", "recall", "F1"],
      Object.entries(quality.per_topic || {}).map(([label, m]) =>
        [label, m.support, figure(m.precision), figure(m.recall), figure(m.f1)])),
    el("h3", {}, "Known limits"), bullets(card.limits),
    el("h3", {}, "Intended use"), bullets(card.intended_use),
    el("h3", {}, "Not intended for"), bullets(card.not_intended_use),
  );
  box.hidden = false;
}

async function showCard() {
  const box = document.getElementById("card");
  const error = document.getElementById("card-error");
  const {status, body} = await callApi("GET", "/v1/model");
  let problem = "";
  if (status !== 200) problem = body.detail || `The server answered ${status}.`;
  else if (!body.card) problem = `Model ${body.version} was trained before bundles carried a model card; retrain to get one.`;
  error.textContent = problem;
  error.hidden = !problem;
  if (problem) { box.hidden = true; return; }
  renderCard(box, body.card);
}
