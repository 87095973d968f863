"""Read labeled corpora (JSON Lines, CSV, folders of text files) into documents.

Every reader yields :class:`Document` records and raises :class:`CorpusError`
naming the file and line of the first bad row, so a user can fix their data
without guessing. Gzipped files (``.gz``) are read transparently.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from runtime.articles import InvalidArticle, article_from_html, compose_text
from runtime.bundle import sha256_file
from runtime.language import detect

LABELS_FILE = "labels.json"
OPTIONS_FILE = "training.json"
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
TEXT_SUFFIXES = (".txt", ".txt.gz")
HTML_SUFFIXES = (".html", ".htm", ".html.gz")  # label folders may hold saved pages (runtime/html.py)
DEFAULT_LABEL_SEPARATOR = "|"


class CorpusError(ValueError):
    """A corpus file is missing, empty or holds a malformed row."""

    def __init__(self, path: Path | str, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Document:
    """One labeled article and where it came from."""

    id: str
    text: str
    title: str = ""
    labels: tuple[str, ...] = ()
    split: str | None = None
    source: str = ""
    line: int = 0
    correction: bool = False


@dataclass(frozen=True)
class CsvColumns:
    """Which CSV columns hold what, and how several labels share one cell."""

    text: str = "text"
    title: str | None = "title"
    labels: str = "labels"
    id: str | None = "id"
    split: str | None = "split"
    separator: str = DEFAULT_LABEL_SEPARATOR


@dataclass
class Corpus:
    """Documents read from one or more sources, with their fingerprints."""

    documents: list[Document]
    sources: list[dict] = field(default_factory=list)
    descriptions: dict[str, str] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        """Return every label used, sorted."""
        return sorted({label for doc in self.documents for label in doc.labels})

    def label_counts(self) -> dict[str, int]:
        """Count documents per label."""
        counts = Counter(label for doc in self.documents for label in doc.labels)
        return dict(sorted(counts.items()))


def texts(docs: Iterable[Document], title_weight: int) -> list[str]:
    """The strings the model reads for ``docs`` (see :func:`compose_text`)."""
    return [compose_text(d.title, d.text, title_weight) for d in docs]


def label_matrix(docs: Sequence[Document], labels: list[str]) -> np.ndarray:
    """A boolean (documents x labels) matrix: which of ``labels`` each document carries."""
    index = {label: j for j, label in enumerate(labels)}
    Y = np.zeros((len(docs), len(labels)), dtype=bool)
    for i, doc in enumerate(docs):
        for label in doc.labels:
            if label in index:
                Y[i, index[label]] = True
    return Y


def open_text(path: Path) -> io.TextIOBase:
    """Open a UTF-8 text file for reading, gzip-compressed when its name ends in ``.gz``."""
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _clean_labels(value, path: Path, line: int) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise CorpusError(path, f"labels must be a list of strings, got {type(value).__name__}", line)
    labels = []
    for label in value:
        if not isinstance(label, str) or not label.strip():
            raise CorpusError(path, f"label {label!r} is not a non-empty string", line)
        label = label.strip()
        if label not in labels:
            labels.append(label)
    return tuple(labels)


def _optional_str(record: dict, key: str, path: Path, line: int) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key == "id":
        return str(value)
    if not isinstance(value, str):
        raise CorpusError(path, f"field {key!r} must be a string, got {type(value).__name__}", line)
    return value


def _make_document(record: dict, path: Path, line: int, split_field: str = "split") -> Document:
    if "html" in record and "text" not in record:
        record = _from_html(record, path, line)
    text = record.get("text")
    correction = record.get("correction") is True
    if correction and text is None:
        if record.get("id") is None:
            raise CorpusError(path, "a correction without 'text' needs the 'id' of the document it relabels", line)
        text = ""
    elif not isinstance(text, str) or not text.strip():
        raise CorpusError(path, "missing or empty 'text'", line)
    if "labels" in record:
        labels = _clean_labels(record["labels"], path, line)
    elif "label" in record:
        labels = _clean_labels(record["label"], path, line) if record["label"] not in (None, "") else ()
    else:
        raise CorpusError(path, "missing 'labels' (a list) or 'label' (a string)", line)
    doc_id = _optional_str(record, "id", path, line) or f"{path.name}:{line}"
    return Document(
        id=doc_id,
        text=text,
        title=_optional_str(record, "title", path, line) or "",
        labels=labels,
        split=_optional_str(record, split_field, path, line),
        source=str(path),
        line=line,
        correction=correction,
    )


def read_jsonl(path: Path, split_field: str = "split") -> Iterator[Document]:
    """Yield the documents of a JSON Lines file, one object per line."""
    with open_text(path) as fh:
        try:
            for number, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise CorpusError(path, f"invalid JSON ({exc.msg} at column {exc.colno})", number) from None
                if not isinstance(record, dict):
                    raise CorpusError(path, f"expected a JSON object, got {type(record).__name__}", number)
                yield _make_document(record, path, number, split_field)
        except UnicodeDecodeError as exc:
            raise CorpusError(path, f"not UTF-8 text ({exc.reason})") from None


def read_csv(path: Path, columns: CsvColumns = CsvColumns()) -> Iterator[Document]:
    """Yield the documents of a CSV (or TSV) file with a header row."""
    delimiter = "\t" if ".tsv" in path.suffixes else ","
    with open_text(path) as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        header = reader.fieldnames or []
        for name in (columns.text, columns.labels):
            if name not in header:
                raise CorpusError(path, f"unknown column {name!r}; the header has {header}", 1)
        try:
            for row in reader:
                number = reader.line_num
                if None in row:
                    raise CorpusError(path, f"row has more cells than the header's {len(header)}", number)
                cell = row.get(columns.labels) or ""
                labels = [part for part in cell.split(columns.separator) if part.strip()]
                record = {"text": row.get(columns.text), "labels": labels}
                for key in ("title", "id", "split"):
                    column = getattr(columns, key)
                    if column and row.get(column):
                        record[key] = row[column]
                yield _make_document(record, path, number)
        except csv.Error as exc:
            raise CorpusError(path, f"malformed CSV ({exc})", reader.line_num) from None
        except UnicodeDecodeError as exc:
            raise CorpusError(path, f"not UTF-8 text ({exc.reason})") from None


def _from_html(record: dict, path: Path, line: int) -> dict:
    """The record with the main text (and, when it has none, the title) of its ``html`` field."""
    try:
        article = article_from_html(record["html"] if isinstance(record["html"], str) else "")
    except InvalidArticle as exc:
        raise CorpusError(path, f"field 'html': {exc.detail}", line) from None
    return {**record, "text": article.text, "title": record.get("title") or article.title or ""}


def read_label_folders(root: Path) -> Iterator[Document]:
    """Yield one document per ``LABEL/*.txt`` or ``LABEL/*.html`` file under ``root``.

    The first line of a file is its title when a blank line follows it.
    A folder named ``_none`` holds "none of these" examples.
    """
    for doc_id, path, labels in _label_files(root):
        try:
            with open_text(path) as fh:
                content = fh.read().strip()
        except UnicodeDecodeError as exc:
            raise CorpusError(path, f"not UTF-8 text ({exc.reason})") from None
        if not content:
            raise CorpusError(path, "empty file", 1)
        if path.name.endswith(HTML_SUFFIXES):
            page = _from_html({"html": content}, path, 1)
            yield Document(id=doc_id, text=page["text"], title=page["title"], labels=labels, source=str(path),
                           line=1)
            continue
        title, _, body = content.partition("\n\n")
        if not body.strip() or "\n" in title:
            title, body = "", content
        yield Document(id=doc_id, text=body.strip(), title=title.strip(), labels=labels, source=str(path), line=1)


def _label_files(root: Path) -> Iterator[tuple[str, Path, tuple[str, ...]]]:
    """(document id, file, labels) of every ``LABEL/*.txt`` or ``*.html`` file under ``root``, in reading order."""
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        labels = () if folder.name == "_none" else (folder.name,)
        for path in sorted(p for p in folder.iterdir() if p.name.endswith(TEXT_SUFFIXES + HTML_SUFFIXES)):
            yield f"{folder.name}/{path.name}", path, labels


def _folder_digest(root: Path) -> str:
    """One sha256 over the label folders' files: each file's id and its own sha256."""
    digest = hashlib.sha256()
    for doc_id, path, _ in _label_files(root):
        digest.update(doc_id.encode() + b"\0" + sha256_file(path).encode() + b"\n")
    return digest.hexdigest()


def _nonempty(docs: Iterable[Document], source: Path, problem: str) -> Iterator[Document]:
    """Yield ``docs``; raise a CorpusError on ``source`` when there were none."""
    empty = True
    for doc in docs:
        empty = False
        yield doc
    if empty:
        raise CorpusError(source, problem)


def _iter_one(path: Path, columns: CsvColumns, split_field: str) -> Iterator[Document]:
    name = path.name.lower()
    if name.endswith(JSONL_SUFFIXES):
        docs = read_jsonl(path, split_field)
    elif name.endswith(CSV_SUFFIXES):
        docs = read_csv(path, columns)
    else:
        raise CorpusError(path, "unsupported file type; use .jsonl, .csv, .tsv (optionally .gz) or a folder")
    yield from _nonempty(docs, path, "no documents in file")


def _read_one(path: Path, columns: CsvColumns, split_field: str) -> list[Document]:
    return list(_iter_one(path, columns, split_field))


def iter_documents(paths: Iterable[Path | str], columns: CsvColumns = CsvColumns(),
                   split_field: str = "split") -> Iterator[Document]:
    """Yield the documents of every source one at a time, round-robin across files.

    This is :func:`read_corpus` for corpora larger than memory: nothing is
    kept, so ids are not checked for duplicates and corrections (which need
    the whole corpus) are refused. Taking one document from each file in turn
    mixes corpora kept as one file per label, which an incremental learner
    needs.
    """
    streams = []
    for source in map(Path, paths):
        if not source.exists():
            raise CorpusError(source, "no such file or folder")
        if source.is_dir():
            files = _files_in(source)
            streams += [_iter_one(path, columns, split_field) for path in files] or [_label_folders(source)]
        else:
            streams.append(_iter_one(source, columns, split_field))
    while streams:
        for stream in list(streams):
            doc = next(stream, None)
            if doc is None:
                streams.remove(stream)
            elif doc.correction:
                raise CorpusError(doc.source, "corrections need the whole corpus in memory; "
                                  "apply them with the default (in-memory) trainer", doc.line)
            else:
                yield doc


def _label_folders(folder: Path) -> Iterator[Document]:
    return _nonempty(read_label_folders(folder), folder, "folder holds no corpus files and no LABEL/*.txt files")


def source_fingerprints(paths: Iterable[Path | str]) -> list[dict]:
    """Return the path and sha256 of every corpus file (or label folder) the paths name."""
    out = []
    for source in map(Path, paths):
        files = _files_in(source) if source.is_dir() else [source]
        if source.is_dir() and not files:
            out.append({"path": str(source), "sha256": _folder_digest(source)})
        out += [{"path": str(path), "sha256": sha256_file(path)} for path in files]
    return out


def _files_in(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.name.lower().endswith(JSONL_SUFFIXES + CSV_SUFFIXES)
    )


def read_descriptions(folder: Path) -> dict[str, str]:
    """Read label scope notes from ``labels.json`` in a corpus folder, if any."""
    path = folder / LABELS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        labels = data["labels"] if isinstance(data, dict) and "labels" in data else data
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise ValueError("expected {\"labels\": {label: description}}")
    except (ValueError, KeyError) as exc:
        raise CorpusError(path, f"cannot read label descriptions: {exc}") from None
    return dict(labels)


def read_codes(folder: Path) -> dict[str, list[dict]]:
    """Read each label's standard codes (IPTC Media Topics) from ``labels.json``'s ``codes``, if any.

    ``{"codes": {label: [{"scheme", "code", "label", "uri"}, ...]}}``: a custom
    taxonomy carries its own codes the same way (docs/training.md).
    """
    path = folder / LABELS_FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    codes = data.get("codes", {}) if isinstance(data, dict) else {}
    for label, entries in codes.items():
        if not isinstance(entries, list) or not all(
                isinstance(e, dict) and isinstance(e.get("code"), str) for e in entries):
            raise CorpusError(path, f"codes of {label!r} must be a list of objects with a 'code' string")
    return codes


def read_training_options(paths: Iterable[Path | str], known: set[str]) -> tuple[dict, dict[str, str], Path | None]:
    """Read the model options a corpus folder asks for in ``training.json``: (values, why, file).

    ``{"hyperparameters": {option: value}, "why": {option: sentence}}``. The
    seed corpus uses it to train the default model with the options chosen
    for it on real news, without changing the defaults every other corpus
    gets (docs/training.md). Only one folder among ``paths`` may carry one.
    """
    found = [Path(p) / OPTIONS_FILE for p in paths if Path(p).is_dir() and (Path(p) / OPTIONS_FILE).is_file()]
    if not found:
        return {}, {}, None
    if len(found) > 1:
        raise CorpusError(found[1], f"only one corpus folder may carry {OPTIONS_FILE} (another is {found[0]})")
    path = found[0]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CorpusError(path, f"not valid JSON: {exc}") from None
    values = data.get("hyperparameters") if isinstance(data, dict) else None
    why = data.get("why", {}) if isinstance(data, dict) else None
    if not isinstance(values, dict) or not isinstance(why, dict):
        raise CorpusError(path, 'expected {"hyperparameters": {option: value}, "why": {option: sentence}}')
    unknown = sorted(set(values) - known)
    if unknown:
        raise CorpusError(path, f"unknown model options {unknown}; known: {sorted(known)}")
    if set(values) - set(why):
        raise CorpusError(path, f"say why for each option: no reason for {sorted(set(values) - set(why))}")
    return values, {name: str(why[name]) for name in values}, path


def read_corpus(paths: Iterable[Path | str], columns: CsvColumns = CsvColumns(),
                split_field: str = "split") -> Corpus:
    """Read and combine every source: files, folders of files, or label folders.

    ``split_field`` names the JSON Lines field that holds a document's split;
    for CSV the column is ``columns.split``.
    """
    documents: list[Document] = []
    sources: list[dict] = []
    descriptions: dict[str, str] = {}
    for source in map(Path, paths):
        if not source.exists():
            raise CorpusError(source, "no such file or folder")
        if source.is_dir():
            descriptions.update(read_descriptions(source))
            files = _files_in(source)
            if files:
                for path in files:
                    docs = _read_one(path, columns, split_field)
                    documents.extend(docs)
                    sources.append(_fingerprint(path, docs))
            else:
                docs = list(_label_folders(source))
                documents.extend(docs)
                sources.append({"path": str(source), "sha256": _folder_digest(source), "documents": len(docs)})
        else:
            docs = _read_one(source, columns, split_field)
            documents.extend(docs)
            sources.append(_fingerprint(source, docs))
    return Corpus(documents=_apply_corrections(documents), sources=sources, descriptions=descriptions)


def _fingerprint(path: Path, docs: list[Document]) -> dict:
    return {"path": str(path), "sha256": sha256_file(path), "documents": len(docs)}


def _apply_corrections(documents: list[Document]) -> list[Document]:
    """Check ids are unique and apply corrections (records with ``"correction": true``).

    Corrections apply after every ordinary document is read, in the order
    read: a correction relabels the document with its id (and replaces its
    text when it has one); a later correction wins. A correction with text and an
    unknown id is a new document; without text it is an error.
    """
    by_id: dict[str, Document] = {}
    for doc in documents:
        if doc.correction:
            continue
        first = by_id.get(doc.id)
        if first is not None:
            raise CorpusError(doc.source, f"duplicate id {doc.id!r} (first seen at {first.source}:{first.line})",
                              doc.line)
        by_id[doc.id] = doc
    for doc in documents:
        if not doc.correction:
            continue
        first = by_id.get(doc.id)
        if first is not None:
            by_id[doc.id] = replace(first, labels=doc.labels, text=doc.text or first.text,
                                    title=doc.title if doc.text else first.title)
        elif doc.text:
            by_id[doc.id] = replace(doc, correction=False)
        else:
            raise CorpusError(doc.source, f"correction for unknown id {doc.id!r} (no document has it)", doc.line)
    return list(by_id.values())


def check_label_support(documents: list[Document], minimum: int) -> None:
    """Raise if a label has fewer than ``minimum`` examples to learn from."""
    counts = Counter(label for doc in documents for label in doc.labels)
    for label, count in sorted(counts.items()):
        if count < minimum:
            first = next(doc for doc in documents if label in doc.labels)
            raise CorpusError(
                first.source,
                f"label {label!r} has {count} training example(s); at least {minimum} are needed "
                f"(add examples, drop the label, or lower --min-examples)",
                first.line,
            )


def corpus_languages(docs: Sequence[Document], sample: int = 400, share: float = 0.1) -> list[str]:
    """Name the languages of a corpus: those of at least ``share`` of a sample's confident detections."""
    step = max(1, len(docs) // sample)
    # Asked against no language, "supported" is False exactly when the detector is confident.
    found = [lang.code for lang in (detect(f"{d.title or ''}\n{d.text}", ()) for d in docs[::step])
             if not lang.supported]
    if not found:
        return ["en"]
    return sorted({c for c in found if found.count(c) >= share * len(found)})
