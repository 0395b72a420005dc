"""Static checks of the deployment files: kubernetes-validate and checkov waivers.

hadolint and checkov run as subprocesses: tests/integration/test_deploy_tools.py.

Every finding is fixed or waived in the file itself with a reason (checkov annotations
`checkov.io/skipN: CHECK=reason` on Kubernetes objects, `# checkov:skip=CHECK: reason` comments).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
BASE = KUBERNETES / "base"
OVERLAY = KUBERNETES / "overlays" / "example"

KUBERNETES_VERSION = "1.33.0"
"""The Kubernetes release whose schemas the manifests are validated against."""

SKIP_ANNOTATION = re.compile(r"^CKV_[A-Z0-9_]+=\S.{10,}")
"""A checkov waiver: the check id, then a reason of some words."""


def manifests(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Return (file, object) for every Kubernetes object in folder, kustomizations excluded."""
    found = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document:
                found.append((path, document))
    return found


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests(BASE) if doc["kind"] == kind}


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return list(deployment["spec"]["template"]["spec"]["containers"])


# --- Kubernetes schemas -----------------------------------------------------------------------


def test_every_manifest_matches_the_pinned_kubernetes_schemas() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    objects = manifests(BASE) + manifests(OVERLAY)
    assert len(objects) >= 12
    for path, document in objects:
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.relative_to(ROOT)} {document['kind']}: {exc.message}")


def test_the_schema_check_rejects_a_wrong_manifest() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    api = by_kind("Deployment")["cryptostats-api"]
    wrong = json.loads(json.dumps(api))
    wrong["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, KUBERNETES_VERSION, strict=True)


def test_kustomizations_name_files_that_exist() -> None:
    for kustomization in (BASE / "kustomization.yaml", OVERLAY / "kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
        for resource in spec["resources"]:
            assert (kustomization.parent / resource).exists(), f"{kustomization}: {resource}"
    listed = set(yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"])
    on_disk = {path.name for path, _ in manifests(BASE)}
    assert on_disk - listed == {"secret.example.yaml"}, "only the example Secret is left out"


# --- what the manifests promise ---------------------------------------------------------------


def test_the_api_deployment() -> None:
    api = by_kind("Deployment")["cryptostats-api"]
    assert api["spec"]["replicas"] == 3
    (container,) = containers(api)
    # Stale data is still served: readiness requires only the store (/ready's serving mode).
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready?mode=serving"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    env = {item["name"]: item for item in container["env"]}
    assert env["MONGO_URI"]["valueFrom"]["secretKeyRef"]["name"] == "cryptostats-secrets"
    pdb = by_kind("PodDisruptionBudget")["cryptostats-api"]
    assert pdb["spec"]["selector"]["matchLabels"] == api["spec"]["selector"]["matchLabels"]
    hpa = by_kind("HorizontalPodAutoscaler")["cryptostats-api"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (
        hpa["spec"]["minReplicas"] == 3
        and hpa["spec"]["scaleTargetRef"]["name"] == "cryptostats-api"
    )


def test_exactly_one_worker_recreated_with_its_heartbeat_check() -> None:
    worker = by_kind("Deployment")["cryptostats-worker"]
    assert worker["spec"]["replicas"] == 1
    assert worker["spec"]["strategy"] == {"type": "Recreate"}, "a rollout must never run two"
    (container,) = containers(worker)
    probe = container["livenessProbe"]["exec"]["command"]
    assert probe == ["python", "-m", "worker_server.healthcheck"]
    assert "MONGO_URI" not in {item["name"] for item in container.get("env", [])}


@pytest.mark.parametrize("name", ["cryptostats-api", "cryptostats-worker"])
def test_pods_meet_the_restricted_pod_security_standard(name: str) -> None:
    deployment = by_kind("Deployment")[name]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    for container in containers(deployment):
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+", container["image"]), container["image"]


def test_network_policies_allow_only_what_flows() -> None:
    policies = by_kind("NetworkPolicy")
    deny = policies["cryptostats-default-deny"]
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in deny["spec"]
    api, worker = policies["cryptostats-api"], policies["cryptostats-worker"]
    api_in = api["spec"]["ingress"]
    assert len(api_in) == 1 and api_in[0]["ports"] == [{"port": 3000, "protocol": "TCP"}]
    assert "ingress-nginx" in json.dumps(api_in[0]["from"])
    api_ports = {port["port"] for rule in api["spec"]["egress"] for port in rule["ports"]}
    assert api_ports == {6379, 27017, 443, 53}
    worker_ports = {port["port"] for rule in worker["spec"]["egress"] for port in rule["ports"]}
    assert worker_ports == {6379, 53}, "the worker talks to Redis and DNS only"
    assert worker["spec"]["ingress"] == []


def test_the_example_secret_holds_no_real_value() -> None:
    (secret,) = [doc for _, doc in manifests(BASE) if doc["kind"] == "Secret"]
    for key, value in secret["stringData"].items():
        assert value == "" or "REPLACE-ME" in value, key
    example = (OVERLAY / "cryptostats-secrets.env.example").read_text(encoding="utf-8")
    for line in example.splitlines():
        name, _, value = line.partition("=")
        assert value == "" or "REPLACE-ME" in value, name
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8")
    assert "cryptostats-secrets.env" in ignored


def test_every_checkov_waiver_gives_a_reason() -> None:
    for path, document in manifests(BASE):
        annotations = document["metadata"].get("annotations", {})
        for key, value in annotations.items():
            if key.startswith("checkov.io/skip"):
                assert SKIP_ANNOTATION.match(value), f"{path.name}: {key}: {value!r}"
