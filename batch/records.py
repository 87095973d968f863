"""One chunk of articles, checked and answered the way the service answers: shared by both engines."""

from __future__ import annotations

from runtime.articles import InvalidArticle, parse_article
from runtime.language import language_of
from runtime.model import TopicModel


class BatchError(Exception):
    """The batch cannot start or go on; the message says why."""


def check_article(record: object) -> str | None:
    """Return why ``record`` cannot be classified, or None when it can: the API's own rules and words."""
    try:
        parse_article(record)
    except InvalidArticle as exc:
        return exc.detail
    return None


def classify_records(model: TopicModel, records: list[dict | None], errors: list[str | None],
                     threshold: float | None = None, top_k: int | None = None) -> list[dict]:
    """Answer each record like the service does; a record with an error gets that error instead."""
    good = [i for i, error in enumerate(errors) if error is None]
    # Parsed again (cheap for text; an ``html`` record's page is extracted a second time).
    articles = [parse_article(records[i]) for i in good]
    P, coverage = model.score([a.text for a in articles], [a.title for a in articles])
    answers: list[dict] = [{"id": _id_of(record), "error": error} for record, error in zip(records, errors)]
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
