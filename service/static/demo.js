// The demo page: classify pasted text, show topics, score bars, and the words that explain each topic.
"use strict";

// Short examples written for this demo.
const EXAMPLES = [
  {name: "Summit: security and trade", title: "Leaders meet as arms shipments and export curbs strain ties",
   text: "The two presidents met for three hours on the sidelines of the regional summit in Lima on Saturday. " +
     "Washington pressed Beijing to use its influence to stop Pyongyang sending artillery shells and troops to " +
     "support Moscow's war, officials said. The talks also covered new export controls on advanced chips and " +
     "threatened tariffs on imports, which business groups fear could disrupt supply chains."},
  {name: "Central bank", title: "Central bank raises rates for a third time as prices climb",
   text: "The central bank lifted its benchmark interest rate by half a point to 5.25 percent on Thursday, " +
     "saying consumer prices were rising faster than expected and wage growth remained strong. The currency " +
     "firmed and bond yields rose after the decision."},
  {name: "Outbreak", title: "Cholera spreads in flooded districts as clinics run short of supplies",
   text: "Health workers reported more than 2,000 suspected cholera cases in three flooded districts this " +
     "week. The health ministry said vaccination teams would start on Monday, and aid agencies appealed for " +
     "clean water for families displaced by the floods."},
  {name: "Football (no topic)", title: "Late header sends the home side into the cup final",
   text: "A stoppage-time header from the young striker sent the home side into the cup final on Sunday, " +
     "after the visitors had led for most of a tense semi-final in front of a sell-out crowd."},
];

const form = document.getElementById("classify-form");
const picker = document.getElementById("example");
const errorBox = document.getElementById("error");
let labelInfo = {};

EXAMPLES.forEach((example, i) => picker.append(el("option", {value: String(i)}, example.name)));
picker.addEventListener("change", () => {
  const example = EXAMPLES[Number(picker.value)];
  if (!example) return;
  document.getElementById("title").value = example.title;
  document.getElementById("text").value = example.text;
});

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

async function loadLabels() {
  const {status, body} = await callApi("GET", "/v1/labels");
  const list = document.getElementById("labels");
  list.replaceChildren();
  if (status !== 200) {
    list.append(el("dd", {}, body.detail || "The label list is not available."));
    return;
  }
  labelInfo = Object.fromEntries(body.labels.map((entry) => [entry.label, entry]));
  for (const entry of body.labels) {
    list.append(el("dt", {}, entry.label), el("dd", {}, entry.description || "(no scope note)", codeList(entry.codes)));
  }
}

// IPTC Media Topics codes (or a custom taxonomy's own) as links to their URIs.
function codeList(codes) {
  const span = el("span", {class: "codes"});
  for (const c of codes || []) {
    span.append(" ", el("a", {href: c.uri || "#", class: "code", title: c.scheme || ""}, `${c.code} ${c.label || ""}`.trim()));
  }
  return span;
}

// Wrap every occurrence of the explaining terms (single words or n-grams) in <mark>.
function highlight(text, terms) {
  const container = el("p", {class: "article"});
  if (!terms.length) { container.textContent = text; return container; }
  const escaped = terms.map((t) => t.split(" ").map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("\\W+"));
  const pattern = new RegExp("\\b(" + escaped.sort((a, b) => b.length - a.length).join("|") + ")\\b", "giu");
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    container.append(text.slice(last, match.index), el("mark", {}, match[0]));
    last = match.index + match[0].length;
  }
  container.append(text.slice(last));
  return container;
}

function render(result, title, text) {
  document.getElementById("result").hidden = false;
  document.getElementById("model-version").textContent = result.model.version;
  const chips = document.getElementById("topics");
  chips.replaceChildren(...result.topics.map((t) => el("li", {class: "chip"},
    `${t.label} ${(t.score * 100).toFixed(0)}%`, codeList(t.codes))));
  const unreadable = result.language_supported === false;
  document.getElementById("verdict").textContent = unreadable
    ? `This model does not read this article's language (${result.language}): no topics.`
    : result.topics.length
      ? `This article is about ${result.topics.map((t) => t.label).join(", ")}.`
      : "None of the topics applies clearly to this article.";
  document.getElementById("language").textContent = result.language
    ? `Language: ${result.language}${unreadable ? " (not supported)" : ""}` : "";
  const extracted = document.getElementById("extracted");
  extracted.hidden = !result.extracted;
  if (result.extracted) {
    extracted.textContent = `Extracted ${result.extracted.characters} characters; title: ${result.extracted.title || "(none)"}`;
  }
  const chosen = new Set(result.topics.map((t) => t.label));
  const scores = document.getElementById("scores");
  scores.replaceChildren();
  for (const [label, score] of Object.entries(result.scores)) {
    const threshold = labelInfo[label] ? labelInfo[label].threshold : null;
    const bar = el("div", {class: "bar-track"}, el("div", {class: "bar-fill" + (chosen.has(label) ? " on" : ""),
      style: `width:${(score * 100).toFixed(1)}%`}));
    if (threshold !== null) bar.append(el("div", {class: "bar-mark", style: `left:${(threshold * 100).toFixed(1)}%`,
      title: `threshold ${threshold}`}));
    scores.append(el("div", {class: "score-row", "data-label": label}, el("span", {class: "score-label"}, label),
      bar, el("span", {class: "score-value"}, (score * 100).toFixed(1) + "%")));
  }
  const why = document.getElementById("why");
  why.replaceChildren();
  const full = (title ? title + "\n\n" : "") + text;
  for (const topic of result.topics) {
    const terms = (result.explanation[topic.label] || []).map((t) => t.term);
    why.append(el("h4", {}, topic.label), el("p", {class: "hint"}, "Words that raised it most: " +
      (terms.join(", ") || "none")), highlight(full, terms));
  }
  if (!result.topics.length) why.append(el("p", {class: "hint"}, "No topic cleared its threshold."));
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("");
  const title = document.getElementById("title").value.trim();
  const pasted = document.getElementById("text").value;
  const isHtml = document.getElementById("is-html").checked;
  if (!pasted.trim()) { showError("Paste an article first."); return; }
  const button = document.getElementById("submit");
  button.disabled = true;
  try {
    const request = isHtml ? {html: pasted, return_text: true} : {text: pasted};
    const {status, body} = await callApi("POST", "/v1/classify",
      {...request, title: title || null, explain: true, codes: true});
    if (status !== 200) { showError(body.detail || `The server answered ${status}.`); return; }
    if (!Object.keys(labelInfo).length) await loadLabels();
    render(body, title || (body.extracted && body.extracted.title), isHtml ? body.extracted.text : pasted);
  } catch (e) {
    showError("The server could not be reached: " + e.message);
  } finally {
    button.disabled = false;
  }
});

keyInput.addEventListener("change", loadLabels);
loadLabels();
