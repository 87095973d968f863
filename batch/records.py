"""One chunk of articles, checked and answered the way the service answers: shared by both engines."""

from __future__ import annotations

from runtime.articles import InvalidArticle, parse_article
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
    P = model.predict_proba([records[i]["text"] for i in good], [records[i].get("title") for i in good])
    answers: list[dict] = [{"id": _id_of(record), "error": error} for record, error in zip(records, errors)]
    for row, i in enumerate(good):
        answers[i] = {"id": records[i].get("id"), **model.answer(P[row], threshold, top_k)}
    return answers


def _id_of(record: object):
    doc_id = record.get("id") if isinstance(record, dict) else None
    return doc_id if isinstance(doc_id, (str, int)) and not isinstance(doc_id, bool) else None
