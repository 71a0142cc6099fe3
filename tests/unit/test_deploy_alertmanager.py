"""Alertmanager's configuration: valid, routes per severity, and one routing tree in the stack, compose and k8s."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
LOCAL = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
COMPOSE = REPO / "deploy" / "alertmanager" / "alertmanager.compose.yml"
K8S = REPO / "deploy" / "k8s" / "alertmanager.yaml"


def k8s_documents() -> list[dict]:
    return [d for d in yaml.safe_load_all(K8S.read_text()) if d]


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> dict[str, Path]:
    """The three configurations as files (Kubernetes' comes out of its ConfigMap)."""
    configmap = next(d for d in k8s_documents() if d["kind"] == "ConfigMap")
    k8s = tmp_path_factory.mktemp("alertmanager") / "k8s.yml"
    k8s.write_text(configmap["data"]["alertmanager.yml"])
    return {"local": LOCAL, "compose": COMPOSE, "k8s": k8s}


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("amtool")
    if binary is None:  # Debian's prometheus-alertmanager ships it; install-deps.sh installs that
        pytest.fail("amtool not found: run deploy/local/install-deps.sh (Debian package prometheus-alertmanager)")
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False, timeout=60)


def test_amtool_accepts_every_configuration(configs):
    for name, path in configs.items():
        result = amtool("check-config", str(path))
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=GridLoopServiceDown", "severity=critical"], "on-call-webhook-and-email"),
        (["alertname=GridLoopOutboxStale", "severity=critical"], "on-call-webhook-and-email"),
        (["alertname=GridLoopConsumerLagGrowing", "severity=warning"], "on-call-webhook"),
        (["alertname=SomethingNew"], "on-call-webhook"),  # no severity: still reaches someone
    ],
)
def test_critical_alerts_page_and_mail_warnings_only_page(configs, labels, receiver):
    for name, path in configs.items():
        result = amtool("config", "routes", "test", f"--config.file={path}", *labels)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == receiver, f"{name}: {labels} went to {result.stdout.strip()}"


def test_the_stack_compose_and_kubernetes_share_one_routing_tree_and_inhibitions(configs):
    loaded = {name: yaml.safe_load(path.read_text()) for name, path in configs.items()}
    for name in ("compose", "k8s"):
        assert loaded[name]["route"] == loaded["local"]["route"], name
        assert loaded[name]["inhibit_rules"] == loaded["local"]["inhibit_rules"], name


def test_consumer_lag_is_inhibited_while_the_same_service_is_down():
    rules = yaml.safe_load(LOCAL.read_text())["inhibit_rules"]
    lag = [r for r in rules if r["target_matchers"] == ['alertname="GridLoopConsumerLagGrowing"']]
    assert lag == [
        {
            "source_matchers": ['alertname="GridLoopServiceDown"'],
            "target_matchers": ['alertname="GridLoopConsumerLagGrowing"'],
            "equal": ["job"],
        }
    ]
    # ... which needs the lag alert to keep the job label
    alerts = yaml.safe_load((REPO / "deploy" / "prometheus" / "rules" / "gridloop-alerts.yml").read_text())
    expr = next(r for g in alerts["groups"] for r in g["rules"] if r["alert"] == "GridLoopConsumerLagGrowing")["expr"]
    assert expr.count("sum by (job, group, topic)") == 2


def test_both_prometheus_configurations_send_alerts_to_alertmanager():
    for name, target in (("prometheus.yml", "127.0.0.1:19094"), ("prometheus.compose.yml", "alertmanager:9093")):
        config = yaml.safe_load((REPO / "deploy" / "prometheus" / name).read_text())
        targets = [t for am in config["alerting"]["alertmanagers"] for s in am["static_configs"] for t in s["targets"]]
        assert targets == [target], name


def test_compose_runs_a_pinned_non_root_alertmanager_with_a_health_check_before_prometheus():
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    alertmanager = services["alertmanager"]
    assert alertmanager["image"].startswith("prom/alertmanager:v")
    assert not alertmanager["user"].startswith("0")
    assert alertmanager["healthcheck"]["test"]
    assert (
        "./deploy/alertmanager/alertmanager.compose.yml:/etc/alertmanager/alertmanager.yml:ro"
        in alertmanager["volumes"]
    )
    assert services["prometheus"]["depends_on"]["alertmanager"]["condition"] == "service_healthy"


def test_kubernetes_alertmanager_keeps_silences_on_a_volume_and_secrets_out_of_the_config():
    documents = {d["kind"]: d for d in k8s_documents()}
    assert {"ConfigMap", "StatefulSet", "Service"} <= set(documents)
    pod = documents["StatefulSet"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    assert "--storage.path=/alertmanager" in container["args"]
    assert any(m["mountPath"] == "/alertmanager" for m in container["volumeMounts"])
    assert documents["StatefulSet"]["spec"]["volumeClaimTemplates"]
    config = documents["ConfigMap"]["data"]["alertmanager.yml"]
    assert "smtp_auth_password_file" in config and "credentials_file" in config
    assert "CHANGE-ME" not in config
    kustomization = yaml.safe_load((REPO / "deploy" / "k8s" / "kustomization.yaml").read_text())
    assert "alertmanager.yaml" in kustomization["resources"]
