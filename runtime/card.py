"""A bundle's model card: read it, and render it as Markdown.

The trainer writes the card (``training/card.py`` builds it) as
``model_card.json`` into the bundle before the manifest, so the card is
checksummed like the model: a card that was edited after training makes the
bundle refuse to load. It lives here, below training and the service,
because both render it: the trainer writes ``model_card.md`` beside the
JSON, and the service answers ``GET /v1/model/card``. A bundle trained
before cards existed has none; :func:`read_card` then gives None and the
model serves as before.
"""

from __future__ import annotations

import json
from pathlib import Path

from runtime.bundle import BundleError

CARD_FILE = "model_card.json"
CARD_MARKDOWN = "model_card.md"
CARD_FORMAT = 1


def read_card(folder: Path, manifest: dict) -> dict | None:
    """Return the card of a verified bundle, or None when its manifest lists none."""
    if CARD_FILE not in manifest.get("files", {}):
        return None  # an unlisted card file is not trusted: it was not checksummed
    try:
        card = json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{folder / CARD_FILE}: cannot be read ({exc})") from None
    if not isinstance(card, dict):
        raise BundleError(f"{folder / CARD_FILE}: not a JSON object")
    return card


def _figure(entry: dict | None) -> str:
    """``0.912 (0.871–0.944)``: a point estimate and its interval; a dash where a figure is undefined."""
    if not entry or entry.get("value") is None:
        return "–"
    low, high = entry.get("low"), entry.get("high")
    interval = f" ({low:.3f}–{high:.3f})" if low is not None and high is not None else ""
    return f"{entry['value']:.3f}{interval}"


def _cell(value: object) -> str:
    return str(value).replace("|", "/").replace("\n", " ")


def render_markdown(card: dict) -> str:
    """Render a model card as Markdown: data, options, quality with intervals, limits and use."""
    model, data, options, quality = (card.get(k, {}) for k in ("model", "data", "options", "quality"))
    lines = [f"# Model card: {model.get('version', '?')}", ""]
    if model.get("summary"):
        lines += [model["summary"], ""]
    lines += [f"- **created**: {model.get('created_at', '?')}",
              f"- **kind**: {model.get('kind', '?')}",
              f"- **labels**: {len(model.get('labels', []))} "
              f"({'several per article' if model.get('multilabel') else 'one per article'})", ""]
    lines += ["## Data", "",
              f"{data.get('documents', '?')} documents from {data.get('files', '?')} file(s): "
              f"{data.get('train_documents', '?')} for training, {data.get('test_documents', '?')} held out "
              f"({data.get('split', '?')}). Languages: {', '.join(data.get('languages') or ['not recorded'])}.", "",
              "| topic | training documents |", "| --- | ---: |"]
    for label, count in (data.get("documents_per_topic") or {}).items():
        lines.append(f"| {_cell(label)} | {count} |")
    lines.append(f"| (none of these) | {data.get('none_of_these', '?')} |")
    lines += ["", "Sources:", ""]
    lines += [f"- `{_cell(s.get('path', '?'))}`" + (f" ({s['documents']} documents)" if "documents" in s else "")
              for s in data.get("sources", [])] or ["- not recorded"]
    lines += ["", "## Options", "", "| option | value | why |", "| --- | --- | --- |"]
    why = options.get("why") or {}
    for name, value in (options.get("hyperparameters") or {}).items():
        lines.append(f"| {_cell(name)} | {_cell(json.dumps(value))} | {_cell(why.get(name, '–'))} |")
    interval = quality.get("interval") or {}
    lines += ["", "## Quality on held-out documents", "",
              f"Evaluated on {quality.get('evaluated_on', '?')}. In brackets: the "
              f"{interval.get('confidence') or 0.95:.0%} interval, {interval.get('method', '?')}, "
              f"{interval.get('resamples', '?')} resamples, seed {interval.get('seed', '?')}.", "",
              f"- **micro-F1**: {_figure(quality.get('micro_f1'))}",
              f"- **macro-F1**: {_figure(quality.get('macro_f1'))}", "",
              "| topic | held-out documents | precision | recall | F1 | threshold |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for label, m in (quality.get("per_topic") or {}).items():
        threshold = m.get("threshold")
        lines.append(f"| {_cell(label)} | {m.get('support', '?')} | {_figure(m.get('precision'))} | "
                     f"{_figure(m.get('recall'))} | {_figure(m.get('f1'))} | "
                     f"{'–' if threshold is None else f'{threshold:.2f}'} |")
    for heading, key in (("Known limits", "limits"), ("Intended use", "intended_use"),
                         ("Not intended for", "not_intended_use")):
        lines += ["", f"## {heading}", ""] + [f"- {item}" for item in card.get(key) or ["–"]]
    return "\n".join(lines) + "\n"
