"""Article HTML to the text and title the model reads, bounded in size.

trafilatura finds the main text (dropping navigation, cookie banners and
footers) and the title; it runs offline on lxml. A page larger than
:data:`MAX_HTML_CHARS` is refused before parsing, which bounds time and
memory: lxml's HTML parser caps nesting depth itself and does not expand
entities declared in a document type, so deep nesting and entity bombs cost
no more than their size (tests/test_html.py).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

MAX_HTML_CHARS = 2_000_000
MAX_ELEMENTS = 100_000  # a page with more elements is refused by trafilatura (max_tree_size)
MIN_TEXT_CHARS = 50  # letters and digits: fewer is a menu or a caption, not an article


class ExtractionError(ValueError):
    """A page with no article text in it, or one too large to parse; the message says which."""


class Extracted(NamedTuple):
    """The main text of a page, and its title (None when the page has none)."""

    text: str
    title: str | None


@lru_cache(maxsize=1)
def _config():
    from trafilatura.settings import use_config

    config = use_config()
    config.set("DEFAULT", "MAX_TREE_SIZE", str(MAX_ELEMENTS))
    return config


def extract(html: str | bytes, max_chars: int = MAX_HTML_CHARS) -> Extracted:
    """Return the main text and title of ``html``, or raise :class:`ExtractionError` naming why not."""
    import trafilatura  # imported on first use: it costs ~0.3 s and most deployments take text
    from trafilatura.metadata import extract_title
    from trafilatura.utils import load_html

    if len(html) > max_chars:
        raise ExtractionError(f"The HTML is {len(html)} characters; the limit is {max_chars}.")
    if not html.strip():
        raise ExtractionError("The HTML is empty.")
    try:
        tree = load_html(html)
        if tree is None:
            raise ExtractionError("The HTML cannot be parsed.")
        # Only the title of the metadata: the rest (dates, authors, sitename) cost three times
        # the extraction itself (bench.language).
        title = extract_title(tree)
        doc = trafilatura.bare_extraction(tree, fast=True, favor_precision=True, include_comments=False,
                                          include_tables=False, config=_config())
    except (ValueError, RecursionError, MemoryError, TypeError) as exc:  # broken markup is the caller's
        raise ExtractionError(f"The HTML cannot be parsed ({type(exc).__name__}).") from None
    text = (getattr(doc, "text", None) or "").strip() if doc is not None else ""
    title = (title or "").strip() or None
    if title and text.startswith(title + "\n"):  # the headline repeated as the body's first line
        text = text[len(title) + 1:].lstrip()
    if sum(1 for c in text if c.isalnum()) < MIN_TEXT_CHARS:
        raise ExtractionError("No article text found in the HTML: it holds only navigation, boilerplate "
                             "or nothing readable.")
    return Extracted(text, title)
