"""Offline batch classification: the local engine and Spark answer exactly as the service does."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batch.cli import main
from batch.local import completed_lines, run_local
from batch.records import BatchError
from batch.spark import run_spark
from tests.conftest import ROOT, train_into
from training.corpus import read_corpus
from runtime.model import TopicModel


@pytest.fixture(scope="module")
def articles() -> list[dict]:
    """Real seed documents with ids, titles and texts (a few without a title)."""
    docs = read_corpus([ROOT / "seeds"]).documents[::7][:300]
    out = [{"id": f"doc-{i}", "title": d.title, "text": d.text} for i, d in enumerate(docs)]
    for record in out[::10]:
        del record["title"]
    return out


@pytest.fixture(scope="module")
def service_answers(seed_client, articles) -> dict:
    """What POST /v1/classify answers for each article, by id."""
    answers = {}
    for article in articles:
        response = seed_client.post("/v1/classify", json=article)
        assert response.status_code == 200, response.get_json()
        answers[article["id"]] = response.get_json()
    return answers


@pytest.fixture(scope="module")
def seed_model(seed_models) -> TopicModel:
    return TopicModel.load(seed_models / "current")


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def read_output(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_local_engine_answers_like_the_service(tmp_path, seed_model, articles, service_answers):
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(a) for a in articles])
    out = tmp_path / "out.jsonl"
    assert run_local(seed_model, source, out, workers=2, chunk_size=37, quiet=True) == len(articles)
    lines = read_output(out)
    assert [line["line"] for line in lines] == list(range(1, len(articles) + 1))
    for line in lines:
        assert {k: v for k, v in line.items() if k != "line"} == service_answers[line["id"]]


def test_bad_lines_get_an_error_line_and_the_rest_go_on(tmp_path, seed_model, articles):
    lines = [json.dumps(articles[0]), "{not json", "", json.dumps({"id": 7, "title": "no text"}),
             json.dumps({"text": "   "}), json.dumps(["a list"]), json.dumps({"text": "x", "title": 3}),
             json.dumps(articles[1])]
    out = tmp_path / "out.jsonl"
    run_local(seed_model, write_lines(tmp_path / "in.jsonl", lines), out, workers=1, chunk_size=3, quiet=True)
    result = read_output(out)
    assert [r["line"] for r in result] == list(range(1, 9))
    assert [("error" in r) for r in result] == [False, True, True, True, True, True, True, False]
    assert "invalid JSON" in result[1]["error"] and result[3]["id"] == 7 and "text" in result[3]["error"]
    assert "title" in result[6]["error"]
    assert result[7]["id"] == articles[1]["id"] and "topics" in result[7] and "error" not in result[7]


def test_gzip_and_parquet_inputs_give_the_same_answers(tmp_path, seed_model, articles):
    pa = pytest.importorskip("pyarrow", reason="Parquet input needs pyarrow (the 'spark' extra)")
    import pyarrow.parquet as pq

    plain = write_lines(tmp_path / "in.jsonl", [json.dumps(a) for a in articles])
    zipped = tmp_path / "in.jsonl.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    table = pa.Table.from_pylist([{"id": a["id"], "title": a.get("title"), "text": a["text"]} for a in articles])
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=64)
    results = []
    for source in (plain, zipped, tmp_path / "in.parquet"):
        out = tmp_path / f"{source.name}.out"
        run_local(seed_model, source, out, workers=2, chunk_size=50, quiet=True)
        results.append(read_output(out))
    assert results[0] == results[1] == results[2]


def test_a_folder_of_files_is_read_in_name_order(tmp_path, seed_model, articles):
    folder = tmp_path / "archive"
    folder.mkdir()
    write_lines(folder / "2024.jsonl", [json.dumps(a) for a in articles[100:150]])
    write_lines(folder / "2023.jsonl", [json.dumps(a) for a in articles[:100]])
    (folder / "notes.txt").write_text("not an input")
    out = tmp_path / "out.jsonl"
    run_local(seed_model, folder, out, workers=2, chunk_size=30, quiet=True)
    assert [r["id"] for r in read_output(out)] == [a["id"] for a in articles[:150]]


def test_local_engine_resumes_after_being_killed(tmp_path, seed_models, articles):
    records = [dict(a, id=f"{a['id']}-{k}") for k in range(12) for a in articles]  # 3,600 articles
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(r) for r in records])
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "batch", "--model", str(seed_models / "current"), "--in", str(source),
           "--out", str(out), "--workers", "2", "--chunk-size", "10", "--quiet"]
    # Its own process group, so the kill reaches the worker processes too, as Ctrl-C or a crash would.
    process = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 100_000):
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    written = out.read_bytes().count(b"\n")
    assert 0 < written < len(records), "the batch finished before it could be interrupted"

    assert subprocess.run(cmd, cwd=ROOT).returncode == 0
    resumed = read_output(out)
    assert [r["line"] for r in resumed] == list(range(1, len(records) + 1))
    assert [r["id"] for r in resumed] == [r["id"] for r in records]
    fresh = tmp_path / "fresh.jsonl"
    assert main(cmd[3:5] + ["--in", str(source), "--out", str(fresh), "--quiet"]) == 0
    assert resumed == read_output(fresh)


def test_ctrl_c_stops_cleanly_and_the_run_resumes(tmp_path, seed_models, articles):
    records = [dict(a, id=f"{a['id']}-{k}") for k in range(12) for a in articles]
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(r) for r in records])
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "batch", "--model", str(seed_models / "current"), "--in", str(source),
           "--out", str(out), "--workers", "2", "--chunk-size", "10", "--quiet"]
    process = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 100_000):
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "run the same command again to resume" in err, err
    assert "Traceback" not in err, err
    assert 0 < len(out.read_text().splitlines()) < len(records)
    assert subprocess.run(cmd, cwd=ROOT).returncode == 0
    assert [r["id"] for r in read_output(out)] == [r["id"] for r in records]


def test_completed_lines_cuts_a_partial_line(tmp_path):
    out = tmp_path / "out.jsonl"
    assert completed_lines(out) == (0, None)
    write_lines(out, [json.dumps({"line": 1, "model": {"version": "v1"}}), json.dumps({"line": 2, "error": "x"})])
    with open(out, "a") as fh:
        fh.write('{"line": 3, "mod')
    assert completed_lines(out) == (2, None)  # the last whole line is an error line: no version on it
    assert out.read_text().endswith('"error": "x"}\n')
    with open(out, "a") as fh:
        fh.write(json.dumps({"line": 3, "model": {"version": "v1"}}) + "\n")
    assert completed_lines(out) == (3, "v1")


def test_resuming_with_another_model_is_refused(tmp_path, seed_model, toy_corpus, articles, capsys):
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(a) for a in articles[:20]])
    out = tmp_path / "out.jsonl"
    run_local(seed_model, source, out, workers=1, quiet=True)
    other = train_into(tmp_path / "other", [toy_corpus])
    argv = ["--model", str(other), "--in", str(source), "--out", str(out), "--quiet"]
    assert main(argv) == 1
    assert seed_model.version in capsys.readouterr().err
    assert len(read_output(out)) == 20
    assert main(argv + ["--restart"]) == 0
    assert {r["model"]["version"] for r in read_output(out)} == {other.name}


def test_command_line_errors_are_one_clear_line(tmp_path, seed_models, capsys):
    model = str(seed_models / "current")
    assert main(["--model", model, "--in", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")]) == 1
    assert "missing.jsonl: no such file" in capsys.readouterr().err
    assert main(["--model", str(tmp_path), "--in", "x", "--out", "y"]) == 1
    assert "error:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--model", model, "--in", "x", "--out", "y", "--threshold", "2"])


# -- Spark --------------------------------------------------------------------------

def _spark_ready() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -c requirements.txt -e '.[spark]')"
    if shutil.which("java") is None:
        return "Spark needs a Java runtime and `java` is not on the PATH (.ci/run installs one)"
    return None


needs_spark = pytest.mark.skipif(_spark_ready() is not None, reason=str(_spark_ready()))


@needs_spark
def test_spark_local_mode_answers_like_the_service(tmp_path, seed_model, articles, service_answers):
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(a) for a in articles]
                         + [json.dumps({"id": "empty", "text": " "})])
    out = tmp_path / "spark-out"
    assert run_spark(seed_model, str(source), str(out), master="local[2]") == len(articles) + 1
    rows = [json.loads(line) for part in sorted(out.glob("part-*.json")) for line in part.read_text().splitlines()]
    by_id = {row["id"]: row for row in rows}
    assert "error" in by_id.pop("empty")
    assert by_id == service_answers  # same topics, scores (same order) and model version

    # Existing output is not overwritten unless asked; Parquet in and out give the same rows.
    with pytest.raises(BatchError, match="already exists"):
        run_spark(seed_model, str(source), str(out), master="local[2]")
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"id": a["id"], "title": a.get("title"), "text": a["text"]} for a in articles]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet")
    parquet_out = tmp_path / "spark-parquet"
    run_spark(seed_model, str(tmp_path / "in.parquet"), str(parquet_out), master="local[2]", output_format="parquet")
    table = pq.read_table(parquet_out).to_pylist()
    assert {row["id"]: [t["label"] for t in row["topics"]] for row in table} == \
        {k: [t["label"] for t in v["topics"]] for k, v in service_answers.items()}
    assert all(row["scores"] and dict(row["scores"]) == service_answers[row["id"]]["scores"] for row in table)
