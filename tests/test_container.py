"""The Docker image and docker-compose.yml, for real: build, serve, retrain, hot reload, confinement.

Needs a Docker engine with compose v2; `.ci/run` provides one (and a local base
image in BASE_IMAGE). Elsewhere these tests skip, saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bench.loadgen import free_port
from tests.conftest import ROOT, SEED_ARTICLE, make_documents, write_jsonl

pytestmark = pytest.mark.container


def _docker_ready() -> str | None:
    if shutil.which("docker") is None:
        return "the docker client is not installed"
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        return "no Docker engine is running (run `eval \"$(../shared/tools/container-host.sh start)\"`)"
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        return "docker compose v2 is not installed"
    return None


_reason = _docker_ready()
if _reason:
    pytest.skip(f"container tests need Docker: {_reason}", allow_module_level=True)


class Stack:
    def __init__(self, env: dict, port: int):
        self.env = env
        self.url = f"http://127.0.0.1:{port}"

    def compose(self, *args: str, check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess:
        result = subprocess.run(["docker", "compose", *args], cwd=ROOT, env=self.env, capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"docker compose {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def request(self, path: str, body: bytes | None = None, content_type: str = "application/json") -> dict:
        req = urllib.request.Request(self.url + path, data=body, headers={"Content-Type": content_type})
        with urllib.request.urlopen(req, timeout=10) as response:
            return json.loads(response.read())

    def exec(self, command: str) -> subprocess.CompletedProcess:
        return self.compose("exec", "-T", "api", "sh", "-c", command, check=False)


def build(target: str, tag: str, *build_args: str) -> None:
    base = os.environ.get("BASE_IMAGE", "python:3.11-slim")
    args = [a for arg in (f"BASE_IMAGE={base}", *build_args) for a in ("--build-arg", arg)]
    done = subprocess.run(["docker", "build", "--target", target, "-t", tag, *args, "."], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, seed_models):
    image, trainer, front = "news-topics:test", "news-topics-trainer:test", "news-topics-front:test"
    # The serving image gets the default model this session already trained (MODEL=bundle) rather than
    # training it again from seeds/ in the build: the same command, in the trainer image's environment,
    # is what test_trainer_retrains_and_api_reloads_without_restart runs.
    bundle = ROOT / f"bundle-test-{os.getpid()}"
    shutil.copytree(seed_models / "current", bundle)
    try:
        build("serve", image, "MODEL=bundle", f"BUNDLE={bundle.name}")
    finally:
        shutil.rmtree(bundle)
    build("train", trainer)
    build("front", front)
    data = tmp_path_factory.mktemp("data")
    write_jsonl(data / "small.jsonl", make_documents())
    data.chmod(0o755)
    (data / "out").mkdir()
    (data / "out").chmod(0o777)  # the image's user (uid 10001) writes batch results here
    port = free_port()
    env = {**os.environ, "TOPICS_IMAGE": image, "TOPICS_TRAINER_IMAGE": trainer, "TOPICS_FRONT_IMAGE": front, "TOPICS_PUBLISH": f"127.0.0.1:{port}", "TOPICS_DATA_DIR": str(data),
           "TOPICS_BATCH_OUT": str(data / "out"),
           "COMPOSE_PROJECT_NAME": f"topicstest{os.getpid()}"}
    stack = Stack(env, port)
    try:
        stack.compose("up", "-d", "--wait", "front")  # and the api it depends on
        yield stack
    finally:
        (ROOT / "test-artifacts").mkdir(exist_ok=True)
        for service in ("api", "front"):
            logs = stack.compose("logs", "--no-color", service, check=False)
            (ROOT / "test-artifacts" / f"container-{service}.log").write_text(logs.stdout + logs.stderr)
        stack.compose("down", "-v", "--remove-orphans", check=False)


@pytest.mark.skipif(not SEED_ARTICLE.is_file(), reason=f"{SEED_ARTICLE} is absent (it lives in ../shared)")
def test_classifies_the_seed_article(stack):
    result = stack.request("/v1/classify", SEED_ARTICLE.read_bytes(), "text/plain; charset=utf-8")
    assert {"diplomacy", "security", "trade"} <= {t["label"] for t in result["topics"]}


def test_runs_as_non_root_on_a_read_only_root(stack):
    status = stack.exec("grep ^Uid: /proc/1/status").stdout.split()
    assert status[0] == "Uid:" and all(uid != "0" for uid in status[1:]), status
    assert stack.exec("touch /app/probe").returncode != 0
    assert stack.exec("touch /opt/venv/probe").returncode != 0
    assert stack.exec("touch /etc/probe").returncode != 0
    assert stack.exec("touch /tmp/probe && rm /tmp/probe").returncode == 0
    assert stack.exec("touch /models/probe && rm /models/probe").returncode == 0


def test_the_serving_image_holds_no_training_code_or_trainer_dependencies(stack):
    assert stack.exec("test -d /app/runtime && test -d /app/service").returncode == 0
    assert stack.exec("test -e /app/training").returncode != 0
    assert stack.exec("python3 -c 'import matplotlib'").returncode != 0
    assert stack.exec("python3 -c 'import sklearn, flask, runtime.model'").returncode == 0


def test_trainer_retrains_and_api_reloads_without_restart(stack):
    before = stack.request("/v1/model")["version"]
    started = subprocess.run(["docker", "inspect", "-f", "{{.State.StartedAt}} {{.RestartCount}}",
                              stack.compose("ps", "-q", "api").stdout.strip()], capture_output=True, text=True).stdout
    stack.compose("--profile", "train", "run", "--rm", "trainer", "--data", "/data/small.jsonl", "--min-df", "1",
                  "--quiet")
    deadline = time.monotonic() + 60
    version = before
    while version == before and time.monotonic() < deadline:
        time.sleep(0.5)
        version = stack.request("/v1/model")["version"]
    assert version != before
    assert set(stack.request("/v1/labels")["labels"][0]) >= {"label", "threshold"}
    assert [entry["label"] for entry in stack.request("/v1/labels")["labels"]] == ["markets", "sport", "weather"]
    after = subprocess.run(["docker", "inspect", "-f", "{{.State.StartedAt}} {{.RestartCount}}",
                            stack.compose("ps", "-q", "api").stdout.strip()], capture_output=True, text=True).stdout
    assert after == started  # same container, never restarted


def test_batch_service_labels_an_archive_like_the_api(stack):
    data = Path(stack.env["TOPICS_DATA_DIR"])
    articles = [{"id": f"a{i}", "text": d["text"]} for i, d in enumerate(make_documents()[:30])] + [{"title": "x"}]
    write_jsonl(data / "archive.jsonl", articles)
    stack.compose("--profile", "batch", "run", "--rm", "batch", "--in", "/data/archive.jsonl",
                  "--out", "/out/topics.jsonl", "--quiet")
    lines = [json.loads(line) for line in (data / "out" / "topics.jsonl").read_text().splitlines()]
    assert [line["line"] for line in lines] == list(range(1, 32)) and "error" in lines[-1]
    version = stack.request("/v1/model")["version"]
    for article, line in list(zip(articles, lines))[:5]:
        answer = stack.request("/v1/classify", json.dumps({"id": article["id"], "text": article["text"]}).encode(),
                               "application/json")
        assert line["model"]["version"] == version  # the bundle the api serves (both read /models/current)
        assert {k: v for k, v in line.items() if k != "line"} == answer


def test_the_front_is_the_public_port_and_passes_the_request_id_and_the_client_on(stack):
    req = urllib.request.Request(stack.url + "/v1/classify", data=b'{"text": "storm floods the coast"}',
                                 headers={"Content-Type": "application/json", "X-Request-ID": "front-test-42"})
    with urllib.request.urlopen(req, timeout=10) as response:
        assert response.headers["X-Request-ID"] == "front-test-42" and json.loads(response.read())["topics"]
    front_ip = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                               stack.compose("ps", "-q", "front").stdout.strip()],
                              capture_output=True, text=True).stdout.strip()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [json.loads(line.split("|", 1)[-1]) for line in stack.compose("logs", "--no-color", "api").stdout
                 .splitlines() if "front-test-42" in line]
        if lines:
            break
        time.sleep(0.2)
    assert lines and lines[-1]["remote_addr"] and lines[-1]["remote_addr"] != front_ip  # the client, not nginx


def test_an_early_error_through_the_front_reaches_a_client_that_sends_20_mb_first(stack):
    body = b'{"text": "' + b"x" * (20 * 1024 * 1024) + b'"}'
    req = urllib.request.Request(stack.url + "/v1/classify", data=body, headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=60)
    assert refused.value.code == 413
    assert json.loads(refused.value.read())["type"] == "/problems/payload-too-large"


def test_stalled_clients_at_the_front_do_not_stop_the_others(stack):
    host, port = "127.0.0.1", int(stack.url.rsplit(":", 1)[1])
    stalled = [socket.create_connection((host, port), timeout=5) for _ in range(64)]
    try:
        for sock in stalled:
            sock.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000\r\n\r\n{\"text\": \"")
        for _ in range(5):
            with urllib.request.urlopen(stack.url + "/healthz", timeout=2) as response:
                assert response.status == 200
            assert stack.request("/v1/classify", b'{"text": "shares rally"}')["model"]["version"]
    finally:
        for sock in stalled:
            sock.close()


def test_the_drift_report_runs_in_its_container_over_the_sample_store(stack):
    """The compose `drift` service reads the models and samples volumes, read-only; with the store off (the
    default) the folder is empty, which the report says in words and by its exit status."""
    result = stack.compose("--profile", "train", "run", "--rm", "drift", check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "/samples: no .jsonl files in this folder" in result.stdout + result.stderr
