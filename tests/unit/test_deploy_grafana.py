"""Grafana provisioning: the dashboards are current with their generator, and query only metrics that exist."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "deploy" / "grafana"
PROMETHEUS_RULES = REPO / "deploy" / "prometheus" / "rules"
METRIC_MODULES = (
    "gridloop.delivery.metrics",
    "gridloop.servicekit.app",
    "gridloop.servicekit.loop_lag",
    "services.intake.metrics",
    "services.router.metrics",
    "services.departments.metrics",
    "services.notify.metrics",
)
# A raw metric name: not the middle of a recording rule name (level:metric:operation).
METRIC_NAME = re.compile(r"(?<![:\w])(gridloop_[a-z0-9_]+)(?![:\w])")


def dashboards() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((GRAFANA / "dashboards").glob("*.json"))]


def exported_names() -> set[str]:
    for module in METRIC_MODULES:
        importlib.import_module(module)
    return set(REGISTRY._names_to_collectors)  # every sample name: _total, _bucket, _count, ...


def recorded_names() -> set[str]:
    names = set()
    for path in PROMETHEUS_RULES.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {rule["record"] for rule in group["rules"] if "record" in rule}
    return names


def test_committed_dashboards_match_their_generator():
    result = subprocess.run(
        [sys.executable, str(GRAFANA / "dashboards.py"), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_there_are_pipeline_governance_and_notification_dashboards_on_the_provisioned_datasource():
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    found = {d["uid"] for d in dashboards()}
    assert found == {"gridloop-pipeline", "gridloop-governance", "gridloop-notifications"}
    for dashboard in dashboards():
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == uid, panel["title"]
            assert panel["targets"], f"{dashboard['uid']}: panel {panel['title']!r} has no query"


def test_dashboards_and_rules_query_only_metrics_the_services_export():
    exported, recorded = exported_names(), recorded_names()
    exprs = [t["expr"] for d in dashboards() for p in d["panels"] for t in p["targets"]]
    for path in PROMETHEUS_RULES.glob("*.yml"):
        exprs += [r["expr"] for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]
    unknown = {name for expr in exprs for name in METRIC_NAME.findall(expr)} - exported
    assert not unknown, f"queried but not exported by any service: {sorted(unknown)}"
    used_records = {name for expr in exprs for name in re.findall(r"\b\w+:gridloop_\w+:\w+\b", expr)}
    assert used_records <= recorded, f"recording rules that do not exist: {sorted(used_records - recorded)}"
