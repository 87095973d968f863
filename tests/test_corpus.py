"""Reading corpora: every format, and a clear error naming file and line for bad rows."""

from __future__ import annotations

import gzip
import json

import pytest

from training.corpus import CorpusError, CsvColumns, check_label_support, compose_text, read_corpus, \
    source_fingerprints


def test_jsonl_labels_list_and_single_label(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(
        '{"id": "1", "title": "T", "text": "body one", "labels": ["x", "y"]}\n'
        "\n"
        '{"id": 2, "text": "body two", "label": "x", "split": "test"}\n'
        '{"text": "body three", "labels": []}\n'
    )
    docs = read_corpus([path]).documents
    assert [d.labels for d in docs] == [("x", "y"), ("x",), ()]
    assert docs[1].id == "2" and docs[1].split == "test"
    assert docs[2].id == "a.jsonl:4"
    assert docs[0].title == "T" and docs[1].title == ""


def test_gzipped_jsonl(tmp_path):
    path = tmp_path / "a.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps({"text": "hello", "labels": ["x"]}) + "\n")
    corpus = read_corpus([path])
    assert corpus.documents[0].text == "hello"
    assert corpus.sources[0]["documents"] == 1 and len(corpus.sources[0]["sha256"]) == 64


def test_csv_with_label_separator_and_custom_columns(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('body,topics,headline\n"Tariffs, again",trade;economy,Big news\nQuiet day,,\n')
    columns = CsvColumns(text="body", labels="topics", title="headline", id=None, separator=";")
    docs = read_corpus([path], columns).documents
    assert docs[0].labels == ("trade", "economy") and docs[0].title == "Big news"
    assert docs[0].text == "Tariffs, again"
    assert docs[1].labels == ()


def test_tsv(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_text("text\tlabels\nsome words\tx|y\n")
    assert read_corpus([path]).documents[0].labels == ("x", "y")


def test_label_folders(tmp_path):
    (tmp_path / "trade").mkdir()
    (tmp_path / "_none").mkdir()
    (tmp_path / "trade" / "1.txt").write_text("Headline here\n\nThe body of the story.\n")
    (tmp_path / "trade" / "2.txt").write_text("One paragraph\nwith two lines.\n")
    (tmp_path / "_none" / "3.txt").write_text("Nothing to see.\n")
    docs = read_corpus([tmp_path]).documents
    by_id = {d.id: d for d in docs}
    assert by_id["trade/1.txt"].title == "Headline here"
    assert by_id["trade/1.txt"].text == "The body of the story."
    assert by_id["trade/2.txt"].title == "" and by_id["trade/2.txt"].labels == ("trade",)
    assert by_id["_none/3.txt"].labels == ()


def test_label_folder_fingerprint_covers_the_files_read_and_only_those(tmp_path):
    (tmp_path / "trade").mkdir()
    (tmp_path / "trade" / "1.txt").write_text("Tariffs rise on steel.\n")
    with gzip.open(tmp_path / "trade" / "2.txt.gz", "wt") as fh:
        fh.write("Exports fall.\n")
    (tmp_path / "notes.txt").write_text("not a document: no label folder\n")
    before = read_corpus([tmp_path]).sources[0]
    assert before["documents"] == 2
    # The streaming trainer's fingerprint (it never holds the documents) is the same digest.
    assert source_fingerprints([tmp_path]) == [{"path": str(tmp_path), "sha256": before["sha256"]}]
    (tmp_path / "notes.txt").write_text("changed, still not read\n")
    assert read_corpus([tmp_path]).sources[0]["sha256"] == before["sha256"]
    with gzip.open(tmp_path / "trade" / "2.txt.gz", "wt") as fh:
        fh.write("Exports rise.\n")
    assert source_fingerprints([tmp_path])[0]["sha256"] != before["sha256"]


def test_folder_of_files_reads_descriptions_and_combines_sources(tmp_path):
    (tmp_path / "labels.json").write_text('{"labels": {"x": "About x."}}')
    (tmp_path / "a.jsonl").write_text('{"id": "a", "text": "t", "labels": ["x"]}\n')
    other = tmp_path.parent / "b.csv"
    other.write_text("id,text,labels\nb,words,y\n")
    corpus = read_corpus([tmp_path, other])
    assert [d.id for d in corpus.documents] == ["a", "b"]
    assert corpus.descriptions == {"x": "About x."}
    assert len(corpus.sources) == 2


BAD_JSONL = [
    ('{"text": "ok", "labels": ["x"]}\n{"text": "broken", \n', 2, "invalid JSON"),
    ('{"text": "ok", "labels": ["x"]}\n{"labels": ["x"]}\n', 2, "missing or empty 'text'"),
    ('{"text": "   ", "labels": ["x"]}\n', 1, "missing or empty 'text'"),
    ('{"text": "ok"}\n', 1, "missing 'labels'"),
    ('{"text": "ok", "labels": "x,y", "title": 5}\n', 1, "field 'title' must be a string"),
    ('{"text": "ok", "labels": {"a": 1}}\n', 1, "labels must be a list"),
    ('{"text": "ok", "labels": [""]}\n', 1, "not a non-empty string"),
    ('["text", "labels"]\n', 1, "expected a JSON object"),
    ('{"id": "1", "text": "a", "labels": []}\n{"id": "1", "text": "b", "labels": []}\n', 2, "duplicate id"),
]


@pytest.mark.parametrize("content, line, message", BAD_JSONL)
def test_malformed_jsonl_names_file_and_line(tmp_path, content, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(CorpusError) as info:
        read_corpus([path])
    assert f"bad.jsonl:{line}:" in str(info.value)
    assert message in str(info.value)


def test_unknown_csv_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("body,labels\nwords,x\n")
    with pytest.raises(CorpusError, match=r"bad.csv:1: unknown column 'text'"):
        read_corpus([path])


def test_csv_row_with_extra_cells(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("text,labels\nwords,x\nmore,x,surprise\n")
    with pytest.raises(CorpusError, match=r"bad.csv:3: row has more cells"):
        read_corpus([path])


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.csv"])
def test_empty_file(tmp_path, name):
    path = tmp_path / name
    path.write_text("" if name.endswith("jsonl") else "text,labels\n")
    with pytest.raises(CorpusError, match="no documents in file"):
        read_corpus([path])


def test_missing_path_and_unsupported_type(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        read_corpus([tmp_path / "nope.jsonl"])
    (tmp_path / "x.xml").write_text("<a/>")
    with pytest.raises(CorpusError, match="unsupported file type"):
        read_corpus([tmp_path / "x.xml"])


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b'{"text": "caf\xe9", "labels": ["x"]}\n')
    with pytest.raises(CorpusError, match="not UTF-8"):
        read_corpus([path])


def test_label_with_too_few_examples_names_its_first_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "a", "labels": ["x"]}\n{"text": "b", "labels": ["x"]}\n{"text": "c", "labels": ["rare"]}\n')
    docs = read_corpus([path]).documents
    with pytest.raises(CorpusError, match=r"a.jsonl:3: label 'rare' has 1 training example"):
        check_label_support(docs, 2)
    check_label_support(docs, 1)


def test_compose_text_repeats_title():
    assert compose_text("Head", "body", 2) == "Head\nHead\nbody"
    assert compose_text("", "body", 2) == "body"
    assert compose_text(None, "body", 1) == "body"
    assert compose_text("Head", "body", 0) == "body"


def test_corrections_relabel_replace_and_add(tmp_path):
    feedback = tmp_path / "feedback.jsonl"
    feedback.write_text(
        '{"id": "a", "labels": ["y"], "correction": true}\n'
        '{"id": "b", "text": "new body", "title": "New", "labels": [], "correction": true}\n'
        '{"id": "c", "text": "a fresh one", "labels": ["x"], "correction": true}\n'
        '{"id": "a", "labels": ["x", "y"], "correction": true}\n'
        '{"text": "no id at all", "labels": ["x"], "correction": true}\n'
    )
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"id": "a", "text": "alpha", "labels": ["x"]}\n{"id": "b", "text": "beta", "labels": ["x"]}\n')
    docs = {d.id: d for d in read_corpus([feedback, corpus]).documents}  # order of sources does not matter
    assert docs["a"].labels == ("x", "y") and docs["a"].text == "alpha"
    assert docs["b"].text == "new body" and docs["b"].title == "New" and docs["b"].labels == ()
    assert docs["c"].labels == ("x",)
    assert docs["feedback.jsonl:5"].text == "no id at all"
    assert not any(d.correction for d in docs.values())


def test_correction_for_unknown_id_names_the_line(tmp_path):
    path = tmp_path / "feedback.jsonl"
    path.write_text('{"id": "z", "labels": ["y"], "correction": true}\n')
    with pytest.raises(CorpusError, match=r"feedback.jsonl:1: correction for unknown id 'z'"):
        read_corpus([path])
