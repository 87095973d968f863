"""One chunk of articles, checked and answered the way the service answers: shared by both engines."""

from __future__ import annotations

from runtime.articles import Article, InvalidArticle, parse_article
from runtime.language import language_of
from runtime.model import TopicModel


class BatchError(Exception):
    """The batch cannot start or go on; the message says why."""


def read_article(record: object) -> Article | str:
    """Return the article in ``record``, or why it cannot be classified: the API's own rules and words.

    An ``html`` record's page is extracted here, once.
    """
    try:
        return parse_article(record)
    except InvalidArticle as exc:
        return exc.detail


def classify_records(model: TopicModel, records: list[dict | None], read: list[Article | str],
                     threshold: float | None = None, top_k: int | None = None) -> list[dict]:
    """Answer each record like the service does; a record that could not be read gets its error instead."""
    good = [i for i, item in enumerate(read) if isinstance(item, Article)]
    articles = [read[i] for i in good]
    P, coverage = model.score([a.text for a in articles], [a.title for a in articles])
    answers: list[dict] = [{"id": _id_of(record), "error": item if isinstance(item, str) else None}
                           for record, item in zip(records, read)]
    for row, (i, article) in enumerate(zip(good, articles)):
        language = language_of(article, model, coverage[row])
        if language.supported:
            answer = {"id": article.id, **model.answer(P[row], threshold, top_k)}
        else:  # as the service answers: no topics for a language the model cannot read
            answer = {"id": article.id, "topics": [], "scores": {}, "model": {"version": model.version}}
        answers[i] = {**answer, "language": language.code, "language_supported": language.supported}
    return answers


def _id_of(record: object):
    doc_id = record.get("id") if isinstance(record, dict) else None
    return doc_id if isinstance(doc_id, (str, int)) and not isinstance(doc_id, bool) else None
