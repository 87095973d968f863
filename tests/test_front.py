"""The nginx front's limits agree with the service's own, in docker-compose.yml and in Kubernetes.

Read from the files people copy (deploy/nginx/nginx.conf, docker-compose.yml,
deploy/k8s/configmap.yaml) and from the service's defaults, so that changing
one without the other fails here. The front itself runs in tests/test_container.py.
"""

from __future__ import annotations

import re

import pytest

from service.config import DEFAULTS
from service.workers import BODY_TIMEOUT, HEADER_TIMEOUT, LINGER_BYTES
from tests.conftest import ROOT

yaml = pytest.importorskip("yaml")
NGINX = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()


def directive(name: str) -> str:
    (value,) = re.findall(rf"^\s*{name}\s+([^;]+);", NGINX, re.MULTILINE)
    return value.strip()


def seconds(value: str) -> float:
    return float(value.rstrip("s"))


def compose_default(value: str) -> str:
    """``${NAME:-default}`` -> default; a plain value as it is."""
    match = re.fullmatch(r"\$\{\w+:-(.*)\}", str(value))
    return match.group(1) if match else str(value)


def test_body_size_agrees_with_the_largest_body_the_service_takes():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["api"]["environment"]
    config = yaml.safe_load((ROOT / "deploy" / "k8s" / "configmap.yaml").read_text())["data"]
    limit = int(directive("client_max_body_size"))
    assert limit == DEFAULTS["TOPICS_MAX_BATCH_BYTES"]
    assert limit == int(compose_default(compose["TOPICS_MAX_BATCH_BYTES"])) == int(config["TOPICS_MAX_BATCH_BYTES"])


def test_deadlines_agree_with_the_workers():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["api"]["environment"]
    config = yaml.safe_load((ROOT / "deploy" / "k8s" / "configmap.yaml").read_text())["data"]
    assert seconds(directive("client_header_timeout")) == HEADER_TIMEOUT == float(compose["TOPICS_HEADER_TIMEOUT"]) \
        == float(config["TOPICS_HEADER_TIMEOUT"])
    assert seconds(directive("client_body_timeout")) == BODY_TIMEOUT == float(compose["TOPICS_BODY_TIMEOUT"]) \
        == float(config["TOPICS_BODY_TIMEOUT"])
    assert seconds(directive("lingering_time")) == 30 and LINGER_BYTES == 64 * 1024 * 1024


def test_the_front_forwards_the_client_and_the_request_id_and_the_api_trusts_one_proxy():
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for" in NGINX
    assert "proxy_set_header X-Request-ID $topics_request_id" in NGINX
    assert directive("proxy_request_buffering") == "on"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert int(compose["api"]["environment"]["TOPICS_PROXY_HOPS"]) == 1
    assert "ports" not in compose["api"]  # only the front is published
    assert [p.split(":")[-1] for p in compose["front"]["ports"]] == ["8080"]
    assert re.search(r"^\s*listen 8080;", NGINX, re.MULTILINE)


def test_the_front_answers_its_own_refusals_as_problems():
    for status, problem in (("408", "request-timeout"), ("413", "payload-too-large")):
        assert re.search(rf"return {status} '\{{\"type\": \"/problems/{problem}\"", NGINX), status
