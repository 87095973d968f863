"""The promotion gate: a damaged candidate is refused naming its topic; a good one is promoted; rollback restores."""

import json
import random

from runtime import bundle
from tests.conftest import make_documents, train_into, write_jsonl
from training import promote


def _damaged(label: str) -> list[dict]:
    docs = make_documents()
    rng = random.Random(3)
    others = sorted({lab for d in docs for lab in d["labels"]} - {label})
    for doc in docs:
        if doc["labels"] == [label]:
            doc["labels"] = [rng.choice(others)]  # this topic's labels scattered over the others
    for i in range(3):  # keep the label known so both models share it
        docs.append({"id": f"keep-{i}", "title": "", "text": "filler words only here", "labels": [label]})
    return docs


def test_candidate_does_not_go_live(models_dir, toy_corpus):
    before = bundle.current_version(models_dir)
    folder = train_into(models_dir, [toy_corpus], candidate=True)
    assert bundle.current_version(models_dir) == before
    assert bundle.candidate_version(models_dir) == folder.name
    assert (folder / bundle.EVALUATION_FILE).is_file()


def test_damaged_candidate_refused_naming_topic(models_dir, tmp_path, toy_corpus, capsys):
    label = "weather"
    before = bundle.current_version(models_dir)
    train_into(models_dir, [write_jsonl(tmp_path / "bad.jsonl", _damaged(label))], candidate=True)
    golden = write_jsonl(tmp_path / "golden.jsonl", make_documents(8, seed=11))
    assert promote.main(["promote", "--out", str(models_dir), "--golden", str(golden), "--who", "tester"]) == 1
    out = capsys.readouterr().out
    assert f"topic '{label}'" in out and "refused" in out
    assert bundle.current_version(models_dir) == before
    entry = json.loads((models_dir / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["action"] == "refuse" and entry["who"] == "tester" and any(label in r for r in entry["reasons"])


def test_good_candidate_promoted_then_rolled_back(models_dir, tmp_path, toy_corpus):
    before = bundle.current_version(models_dir)
    folder = train_into(models_dir, [toy_corpus], candidate=True, seed=5)
    golden = write_jsonl(tmp_path / "golden.jsonl", make_documents(8, seed=11))
    assert promote.main(["promote", "--out", str(models_dir), "--golden", str(golden)]) == 0
    assert bundle.current_version(models_dir) == folder.name
    assert bundle.candidate_version(models_dir) is None
    assert promote.main(["rollback", "--out", str(models_dir)]) == 0
    assert bundle.current_version(models_dir) == before
    actions = [json.loads(line)["action"] for line in (models_dir / "audit.jsonl").read_text().splitlines()]
    assert actions == ["promote", "rollback"]


def test_admin_endpoints_gate_refuse_promote_rollback(models_dir, tmp_path, toy_corpus):
    from service import create_app
    from service.auth import hash_key

    golden = write_jsonl(tmp_path / "golden.jsonl", make_documents(8, seed=11))
    app = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(models_dir), "TOPICS_RELOAD_INTERVAL": 3600.0,
                      "TOPICS_API_KEYS": f"{hash_key('boss')}:admin:ops", "TOPICS_GOLDEN_FILE": str(golden)})
    client = app.test_client()
    headers = {"Authorization": "Bearer boss"}
    first = bundle.current_version(models_dir)
    assert client.post("/v1/model/promote", headers=headers).status_code == 409  # no candidate yet
    assert client.post("/v1/model/promote", json={"force": "yes"}, headers=headers).status_code == 422
    train_into(models_dir, [write_jsonl(tmp_path / "bad.jsonl", _damaged("weather"))], candidate=True)
    refused = client.post("/v1/model/promote", headers=headers).get_json()
    assert refused["promoted"] is False and any("'weather'" in r for r in refused["reasons"])
    assert refused["topics"]["weather"]["examples"]
    assert client.post("/v1/model/refuse", headers=headers).get_json()["refused"] == refused["candidate"]
    good = train_into(models_dir, [toy_corpus], candidate=True, seed=5).name
    promoted = client.post("/v1/model/promote", headers=headers).get_json()
    assert promoted["promoted"] is True and promoted["version"] == good
    assert client.post("/v1/classify", json={"text": "goal"}, headers=headers).get_json()["model"]["version"] == good
    assert client.post("/v1/model/rollback", headers=headers).get_json()["version"] == first
    log = [json.loads(line) for line in (models_dir / "audit.jsonl").read_text().splitlines()]
    assert [e["action"] for e in log] == ["refuse", "refuse", "promote", "rollback"]
    assert all(e["who"] == "api-key:ops" for e in log)
