"""Prometheus metrics, in one process and aggregated across gunicorn workers; JSON request logs."""

from __future__ import annotations

import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from service import logs
from tests.conftest import http, json_lines


def _sample(text: str, name: str, **labels) -> float:
    """Return the value of one sample in Prometheus text format (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.compile(rf"^{re.escape(name)}(\{{([^}}]*)\}})? (\S+)$")
    total = 0.0
    for line in text.splitlines():
        match = pattern.match(line)
        if match and all(part in (match.group(2) or "") for part in want.split(",") if part):
            total += float(match.group(3))
    return total


def test_metrics_count_requests_articles_and_topics(client):
    before = client.get("/metrics").get_data(as_text=True)
    client.post("/v1/classify", json={"text": "striker goal penalty"})
    client.post("/v1/classify/batch", json={"articles": [{"text": "shares bond yields"}, {"text": "officials said on monday"}]})
    client.post("/v1/classify", json={"text": ""})
    text = client.get("/metrics").get_data(as_text=True)

    def delta(name, **labels):
        return _sample(text, name, **labels) - _sample(before, name, **labels)

    assert delta("topics_articles_classified_total") == 3
    assert delta("topics_articles_without_topic_total") == 1
    assert delta("topics_topics_assigned_total", label="sport") == 1
    assert delta("topics_http_requests_total", endpoint="api.classify", status="200") == 1
    assert delta("topics_http_requests_total", endpoint="api.classify", status="422") == 1
    assert delta("topics_http_request_duration_seconds_count", endpoint="api.classify_batch") == 1
    assert delta("topics_article_length_chars_count") == 3
    version = client.get("/v1/model").get_json()["version"]
    assert _sample(text, "topics_model_info", version=version) == 1


def test_metrics_across_two_gunicorn_workers(start_server, models_dir):
    server = start_server(models_dir, workers=2)

    def classify(i: int) -> int:
        return http("POST", server.url + "/v1/classify", json.dumps({"text": f"goal {i}"}).encode(),
                    {"Content-Type": "application/json", "Connection": "close"})[0]

    def pids() -> set:
        return {entry.get("pid") for entry in json_lines(server.log()) if entry.get("path") == "/v1/classify"}

    # Four requests at a time keep both single-threaded workers busy; rounds go on (up to ten)
    # until the log shows that both answered, since the kernel may hand one worker a whole round.
    n = 0
    with ThreadPoolExecutor(4) as pool:
        while n < 400 and (n == 0 or len(pids()) < 2):
            assert set(pool.map(classify, range(n, n + 40))) == {200}
            n += 40
    assert len(pids()) == 2, pids()
    text = http("GET", server.url + "/metrics")[2]
    # /metrics added up the counts of both workers.
    assert _sample(text, "topics_articles_classified_total") == n
    assert _sample(text, "topics_http_requests_total", endpoint="api.classify", status="200") == n


def test_one_json_log_line_per_request_without_text(client, caplog):
    with caplog.at_level(logging.INFO, logger="service.request"):
        client.post("/v1/classify/batch", json={"articles": [{"text": "secret scoop one"}, {"text": "two"}]},
                    headers={"X-Request-ID": "req-42"})
    (record,) = [r for r in caplog.records if r.name == "service.request"]
    fields = json.loads(logs.formatter().format(record))  # the line as it reaches stdout
    assert fields["logger"] == "service.request" and fields["level"] == "INFO" and fields["pid"] > 0
    assert fields["message"] == "POST /v1/classify/batch 200" and fields["time"].startswith("20")
    assert fields["request_id"] == "req-42" and fields["status"] == 200 and fields["articles"] == 2
    assert fields["model_version"] and fields["duration_ms"] >= 0 and fields["path"] == "/v1/classify/batch"
    assert "secret scoop" not in caplog.text and "body" not in fields


def test_article_text_logged_only_when_asked(app, client, caplog):
    app.config["TOPICS_LOG_TEXT"] = True
    with caplog.at_level(logging.INFO, logger="service.request"):
        client.post("/v1/classify", json={"text": "secret scoop"})
    assert "secret scoop" in json.loads(logs.formatter().format(caplog.records[-1]))["body"]


@pytest.mark.parametrize("hops, logged", [(0, "127.0.0.1"), (1, "203.0.113.9")])
def test_the_client_address_behind_a_trusted_proxy_reaches_the_log(models_dir, caplog, hops, logged):
    from service import create_app

    app = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(models_dir), "TOPICS_PROXY_HOPS": hops})
    with caplog.at_level(logging.INFO, logger="service.request"):
        app.test_client().get("/healthz", headers={"X-Forwarded-For": "203.0.113.9"},
                              environ_base={"REMOTE_ADDR": "127.0.0.1"})
    (record,) = [r for r in caplog.records if r.name == "service.request"]
    assert json.loads(logs.formatter().format(record))["remote_addr"] == logged
