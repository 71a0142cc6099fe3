"""deploy/k8s: every manifest is valid against the Kubernetes schemas, and each service is deployed safely."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
SERVICES = ("intake", "router", "departments", "notify")
KUBERNETES_VERSION = "1.30.0"


def documents(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def kustomized() -> list[dict]:
    resources = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    return [d for name in resources for d in documents(name)]


def of_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in kustomized() if d["kind"] == kind}


@pytest.mark.parametrize(
    "name", sorted(p.name for p in K8S.glob("*.yaml") if p.name not in {"kustomization.yaml", "kafka-topics.yaml"})
)
def test_manifest_is_valid_against_the_kubernetes_schema(name):
    for document in documents(name):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_each_service_has_a_deployment_a_service_and_an_autoscaler():
    deployments, services, hpas = of_kind("Deployment"), of_kind("Service"), of_kind("HorizontalPodAutoscaler")
    for name in SERVICES:
        assert f"gridloop-{name}" in deployments and f"gridloop-{name}" in services and f"gridloop-{name}" in hpas


def test_pods_probe_health_and_readiness_limit_resources_and_run_as_non_root():
    for name, deployment in of_kind("Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        for container in pod["containers"]:
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert ":" in container["image"] and not container["image"].endswith(":latest"), name


def test_consumers_scale_on_lag_and_never_beyond_the_partitions():
    partitions = {d["spec"]["partitions"] for d in documents("kafka-topics.yaml")}
    assert partitions == {6}
    for name, hpa in of_kind("HorizontalPodAutoscaler").items():
        assert hpa["spec"]["maxReplicas"] <= 6, name
        if name != "gridloop-intake":  # intake consumes only its timeline; it scales on CPU
            assert any(m["type"] == "Pods" for m in hpa["spec"]["metrics"]), name


def test_secrets_are_not_in_the_applied_manifests():
    assert not of_kind("Secret"), "create gridloop-secrets from a vault; secret.example.yaml is an example"
    for topic in documents("kafka-topics.yaml"):
        assert topic["spec"]["replicas"] == 3 and topic["spec"]["config"]["min.insync.replicas"] == 2
