"""What an article is, and how one is checked: shared by the HTTP API, the offline batch and training.

An article is a ``text`` with an optional ``title`` and ``id``. The checks
raise :class:`InvalidArticle`, a plain ``ValueError`` that names the
offending field; the service turns it into a 422 problem
(``service/errors.py``), the batch writes it on the article's output line.
:func:`compose_text` is the one place that decides how title and text become
the string the model reads, for training and serving alike;
:func:`article_files` lists the files a path of articles stands for (the
offline batch, drift reports).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

ARTICLE_FIELDS = frozenset({"text", "title", "id", "html"})


class InvalidArticle(ValueError):
    """An article (or a field of a request) that cannot be classified; ``field`` names where."""

    def __init__(self, detail: str, field: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field


class Article(NamedTuple):
    """One article to classify (a named tuple: made once per article, and cheaper than a frozen dataclass)."""

    text: str
    title: str | None = None
    id: str | int | None = None
    html: bool = False  # the text and title were extracted from HTML (runtime.html)


def json_type(value: object) -> str:
    """Name a decoded JSON value's type the way error messages say it ("a string", "an array")."""
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
            dict: "an object"}.get(type(value), type(value).__name__)


def check_known(record: dict, allowed: set[str] | frozenset[str], where: str = "") -> None:
    """Raise :class:`InvalidArticle` for the first key of ``record`` not in ``allowed``."""
    for key in record:
        if key not in allowed:
            raise InvalidArticle(f"Unknown field {key!r}; allowed are {sorted(allowed)}.", field=f"{where}{key}")


def parse_article(record: object, where: str = "") -> Article:
    """Validate one article object; ``where`` prefixes field names (``articles[3].``)."""
    if not isinstance(record, dict):
        raise InvalidArticle(f"An article must be a JSON object, not {json_type(record)}.", field=where.rstrip("."))
    if "html" in record:
        return _parse_html_article(record, where)
    text = record.get("text")
    if "text" not in record:
        raise InvalidArticle("The article has no 'text'.", field=f"{where}text")
    if not isinstance(text, str):
        raise InvalidArticle(f"'text' must be a string, not {json_type(text)}.", field=f"{where}text")
    if not text.strip():
        raise InvalidArticle("'text' is empty.", field=f"{where}text")
    title, doc_id = _title_and_id(record, where)
    return Article(text=text, title=title, id=doc_id)


def article_from_html(html: str | bytes, title: str | None = None, doc_id: str | int | None = None,
                      where: str = "") -> Article:
    """Extract an article from a page; raise :class:`InvalidArticle` (on ``html``) when it holds none."""
    from runtime.html import ExtractionError, extract  # trafilatura is loaded only when HTML comes

    try:
        page = extract(html)
    except ExtractionError as exc:
        raise InvalidArticle(str(exc), field=f"{where}html") from None
    return Article(text=page.text, title=title or page.title, id=doc_id, html=True)


def _parse_html_article(record: dict, where: str) -> Article:
    if "text" in record:
        raise InvalidArticle("Send 'text' or 'html', not both.", field=f"{where}html")
    html = record["html"]
    if not isinstance(html, str):
        raise InvalidArticle(f"'html' must be a string, not {json_type(html)}.", field=f"{where}html")
    title, doc_id = _title_and_id(record, where)
    return article_from_html(html, title, doc_id, where)


def _title_and_id(record: dict, where: str) -> tuple[str | None, str | int | None]:
    """The optional 'title' and 'id' of an article record, checked alike for text and HTML articles."""
    title = record.get("title")
    if title is not None and not isinstance(title, str):
        raise InvalidArticle(f"'title' must be a string, not {json_type(title)}.", field=f"{where}title")
    doc_id = record.get("id")
    if doc_id is not None and (isinstance(doc_id, bool) or not isinstance(doc_id, (str, int))):
        raise InvalidArticle(f"'id' must be a string or an integer, not {json_type(doc_id)}.", field=f"{where}id")
    return title, doc_id


def compose_text(title: str | None, text: str, title_weight: int = 1) -> str:
    """Join title and body into the one string the model reads.

    The title is repeated ``title_weight`` times: headlines are dense with
    topic words, and repeating them is the simplest way to weight them inside
    a single TF-IDF vocabulary. Training and serving both call this function.
    """
    title = (title or "").strip()
    if not title or title_weight <= 0:
        return text
    return "\n".join([title] * title_weight + [text])


def article_files(path: Path, suffixes: tuple[str, ...], kinds: str) -> list[Path]:
    """``path`` itself, or the files in that folder whose names end with one of ``suffixes``, sorted.

    Raises ``ValueError`` naming the path when it is neither a file nor a folder, or when the folder
    holds no such file (``kinds`` names what was looked for).
    """
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(suffixes))
        if not found:
            raise ValueError(f"{path}: no {kinds} files in this folder")
        return found
    if not path.is_file():
        raise ValueError(f"{path}: no such file or folder")
    return [path]
