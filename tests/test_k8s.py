"""The Kubernetes manifests validate against the Kubernetes schemas (offline) and wire up as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed")
yaml = pytest.importorskip("yaml")

K8S = ROOT / "deploy" / "k8s"
VERSION = "1.30.0"


def _documents() -> list[tuple[Path, dict]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path, doc))
    return docs


DOCS = _documents()


@pytest.mark.parametrize("path, doc", DOCS, ids=[f"{p.name}:{d['kind']}/{d['metadata']['name']}" for p, d in DOCS])
def test_manifest_validates_strictly(path, doc):
    kubernetes_validate.validate(doc, VERSION, strict=True)


def _kind(kind: str) -> list[dict]:
    return [d for _, d in DOCS if d["kind"] == kind]


def test_kustomization_lists_every_file():
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_deployment_probes_and_confinement():
    (deployment,) = _kind("Deployment")
    spec = deployment["spec"]["template"]["spec"]
    front, api = spec["containers"]
    assert (front["name"], front["image"], api["name"], api["image"]) == ("front", "news-topics-front", "api",
                                                                          "news-topics")
    assert front["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert spec["securityContext"]["runAsNonRoot"] is True
    for container in spec["containers"] + spec["initContainers"]:
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    mounts = {m["mountPath"] for m in api["volumeMounts"]}
    assert {"/models", "/tmp"} <= mounts
    assert {m["mountPath"] for m in front["volumeMounts"]} == {"/tmp"}  # nginx buffers large bodies there


def test_the_service_reaches_the_pod_through_its_front():
    (deployment,) = _kind("Deployment")
    spec = deployment["spec"]["template"]["spec"]
    front = spec["containers"][0]
    (service,) = _kind("Service")
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] in {p["name"] for p in front["ports"]} | {p["containerPort"] for p in front["ports"]}
    assert {p["containerPort"] for p in front["ports"]} == {8080}
    # nginx.conf proxies to api:8000, the compose service's name; in the pod that name is the pod itself.
    assert spec["hostAliases"] == [{"ip": "127.0.0.1", "hostnames": ["api"]}]
    (config,) = _kind("ConfigMap")
    assert config["data"]["TOPICS_PROXY_HOPS"] == "1"


def test_selectors_and_references_match():
    (deployment,) = _kind("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        (obj,) = _kind(kind)
        selector = obj["spec"]["selector"]
        selector = selector.get("matchLabels", selector)
        assert selector.items() <= labels.items(), kind
    (hpa,) = _kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    claims = {d["metadata"]["name"] for d in _kind("PersistentVolumeClaim")}
    for workload in (deployment, _kind("Job")[0]):
        for volume in workload["spec"]["template"]["spec"]["volumes"]:
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
    (config,) = _kind("ConfigMap")
    assert config["data"]["TOPICS_MODEL_DIR"] == "/models"


def test_retraining_job_writes_the_shared_models_volume():
    (job,) = _kind("Job")
    (trainer,) = job["spec"]["template"]["spec"]["containers"]
    assert trainer["image"] == "news-topics-trainer"  # the serving image holds no training code
    assert trainer["command"][:3] == ["python3", "-m", "training"] and "/models" in trainer["command"]
    assert any(m["mountPath"] == "/models" and not m.get("readOnly") for m in trainer["volumeMounts"])
