// The review view: the labeling queue (GET /v1/queue) one article at a time. A person confirms or corrects the
// model's proposed topics, by keyboard or mouse, and each answer is sent to POST /v1/feedback like any
// correction, so it lands in the feedback file and in the next training run.
"use strict";

const QUEUE_PAGE = 50;
const reviewState = {items: [], index: 0, labels: [], loaded: false, busy: false};

function reviewStatus(message) { document.getElementById("review-status").textContent = message; }

function reviewError(message) {
  const box = document.getElementById("review-error");
  box.textContent = message;
  box.hidden = !message;
}

// Keys 1–9 tick topics 1–9 and 0 ticks the tenth; later topics are ticked with the mouse or Tab and Space.
function keyOf(i) { return i < 9 ? String(i + 1) : i === 9 ? "0" : ""; }

async function loadQueue() {
  reviewState.loaded = true;
  reviewError("");
  reviewStatus("Loading the queue…");
  document.getElementById("review-item").hidden = true;
  const labels = await callApi("GET", "/v1/labels");
  if (labels.status !== 200) {
    reviewStatus("");
    reviewError(labels.body.detail || `The server answered ${labels.status}.`);
    return;
  }
  reviewState.labels = labels.body.labels.map((entry) => entry.label);
  const {status, body} = await callApi("GET", `/v1/queue?limit=${QUEUE_PAGE}`);
  if (status !== 200) {
    reviewStatus("");
    reviewError(body.detail || `The server answered ${status}.`);
    return;
  }
  reviewState.items = body.items.map((item) => ({...item, state: "open",
                                                  chosen: new Set(item.topics.map((t) => t.label))}));
  reviewState.index = 0;
  const more = body.total > reviewState.items.length ? ` (showing the first ${reviewState.items.length})` : "";
  const bad = body.read.bad_lines ? ` ${body.read.bad_lines} bad line(s) in the source were skipped.` : "";
  const done = body.read.reviewed ? ` ${body.read.reviewed} already reviewed.` : "";
  reviewStatus(`${body.total} article(s) to review${more}.${done}${bad}`);
  showItem();
}

function currentItem() { return reviewState.items[reviewState.index]; }

function showItem() {
  const item = currentItem();
  const box = document.getElementById("review-item");
  box.hidden = !item;
  if (!item) return;
  const states = {open: "", saved: " · saved", skipped: " · skipped"};
  document.getElementById("review-position").textContent =
    `Article ${reviewState.index + 1} of ${reviewState.items.length}${states[item.state]}` +
    (item.id !== null && item.id !== undefined ? ` · id ${item.id}` : "");
  document.getElementById("review-title").textContent = item.title || "(no headline)";
  document.getElementById("review-reasons").replaceChildren(...item.reasons.map((r) => el("li", {}, r)));
  document.getElementById("review-text").textContent = item.text;
  const fieldset = document.getElementById("review-topics");
  fieldset.replaceChildren(fieldset.querySelector("legend"));
  reviewState.labels.forEach((label, i) => {
    const tick = el("input", {type: "checkbox", id: `review-topic-${i}`, "data-label": label});
    tick.checked = item.chosen.has(label);
    tick.addEventListener("change", () => {
      if (tick.checked) item.chosen.add(label); else item.chosen.delete(label);
    });
    const key = keyOf(i);
    const score = item.scores[label];
    fieldset.append(el("label", {class: "inline topic", for: tick.id, "data-key": key}, tick,
      key ? el("kbd", {"aria-hidden": "true"}, key) : "", ` ${label}`,
      score !== undefined ? el("span", {class: "hint"}, ` ${(score * 100).toFixed(0)}%`) : ""));
  });
  box.focus();
}

function toggle(i) {
  const box = document.getElementById(`review-topic-${i}`);
  if (!box) return;
  box.checked = !box.checked;
  box.dispatchEvent(new Event("change"));
}

function move(step) {
  const next = reviewState.index + step;
  if (next < 0 || next >= reviewState.items.length) return;
  reviewState.index = next;
  showItem();
}

const ALL_DONE = " Every article on this page is answered or skipped; press R to load the queue again.";

// After an answer: show the next article not yet answered, after this one, else before it; false if none is left.
function nextOpen() {
  const items = reviewState.items;
  const order = [...items.keys()].slice(reviewState.index + 1).concat([...items.keys()].slice(0, reviewState.index));
  const found = order.find((k) => items[k].state === "open");
  if (found !== undefined) reviewState.index = found;
  showItem();
  return found !== undefined;
}

function skip() {
  const item = currentItem();
  if (!item) return;
  if (item.state === "open") item.state = "skipped";
  reviewStatus("Skipped." + (nextOpen() ? "" : ALL_DONE));
}

async function confirmItem() {
  const item = currentItem();
  if (!item || reviewState.busy) return;
  const labels = reviewState.labels.filter((label) => item.chosen.has(label));
  const answer = {text: item.text, labels};
  if (item.title) answer.title = item.title;
  if (item.id !== null && item.id !== undefined) answer.id = item.id;
  reviewState.busy = true;
  reviewError("");
  try {
    const {status, body} = await callApi("POST", "/v1/feedback", answer);
    if (status !== 201) { reviewError(body.detail || `The server answered ${status}.`); return; }
    item.state = "saved";
    const more = nextOpen();
    reviewStatus(`Saved: ${labels.join(", ") || "none of these"}.` + (more ? "" : ALL_DONE));
  } catch (e) {
    reviewError("The server could not be reached: " + e.message);
  } finally {
    reviewState.busy = false;
  }
}

function openReview() {
  if (!reviewState.loaded) loadQueue(); else showItem();
}

const TYPING = new Set(["text", "password", "search", "email", "number", "url"]);

document.addEventListener("keydown", (event) => {
  if (document.getElementById("view-review").hidden || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  const tag = target.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && TYPING.has(target.type))) return;
  const key = event.key;
  if (key === "Enter" && (tag === "BUTTON" || tag === "A")) return;  // the focused control's own action
  let handled = true;
  if (/^[0-9]$/.test(key)) toggle(key === "0" ? 9 : Number(key) - 1);
  else if (key === "Enter") confirmItem();
  else if (key === "s" || key === "S") skip();
  else if (key === "j" || key === "J" || key === "ArrowRight") move(1);
  else if (key === "k" || key === "K" || key === "ArrowLeft") move(-1);
  else if (key === "r" || key === "R") loadQueue();
  else handled = false;
  if (handled) event.preventDefault();
});

document.getElementById("review-confirm").addEventListener("click", confirmItem);
document.getElementById("review-skip").addEventListener("click", skip);
document.getElementById("review-prev").addEventListener("click", () => move(-1));
document.getElementById("review-next").addEventListener("click", () => move(1));
document.getElementById("review-reload").addEventListener("click", loadQueue);
keyInput.addEventListener("change", () => { if (!document.getElementById("view-review").hidden) loadQueue(); });
