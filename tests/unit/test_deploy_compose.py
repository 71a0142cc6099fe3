"""docker-compose.yml and the image: parse, pinned images, health checks, non-root, loud required variables."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gridloop.contracts.topics import ALL_TOPICS

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
GRIDLOOP_SERVICES = ("intake", "router", "departments", "notify")
REQUIRED = ("POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "GRIDLOOP_PUBLIC_BASE_URL")


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def has_compose_plugin() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not has_compose_plugin(), reason="no `docker compose` here; the structural checks below run")
def test_docker_compose_accepts_the_file_and_refuses_it_without_the_required_variables():
    env = {**os.environ, **dict.fromkeys(REQUIRED, "x")}
    ok = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "-q"], env=env, capture_output=True)
    assert ok.returncode == 0, ok.stderr
    bare = {k: v for k, v in os.environ.items() if k not in REQUIRED}
    refused = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "-q"], env=bare, capture_output=True)
    assert refused.returncode != 0


def test_every_image_is_pinned_to_a_version():
    for name, service in compose()["services"].items():
        image = service["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image else ""
        assert tag and tag != "latest", f"{name}: image {image} is not pinned"


def test_kafka_postgres_four_services_migrations_prometheus_and_grafana_are_there():
    services = compose()["services"]
    assert {"kafka", "kafka-topics", "postgres", "migrate", "prometheus", "grafana", *GRIDLOOP_SERVICES} <= set(
        services
    )
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["kafka"]["image"].startswith("apache/kafka:")
    topics_script = services["kafka-topics"]["command"][0]
    assert all(topic in topics_script for topic in ALL_TOPICS)


def test_gridloop_services_run_as_non_root_from_one_dockerfile_after_migrations_with_health_checks():
    services = compose()["services"]
    for name in (*GRIDLOOP_SERVICES, "migrate"):
        service = services[name]
        assert service["build"]["dockerfile"] == "deploy/docker/Dockerfile", name
        assert not service["user"].startswith("0"), name
        assert service["command"] == ([name] if name != "migrate" else ["migrate"])
    for name in GRIDLOOP_SERVICES:
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["environment"]["GRIDLOOP_ENV"] == "production"
    for name in ("kafka", "postgres", "prometheus", "grafana"):
        assert services[name]["healthcheck"]["test"], name
    dockerfile = (REPO / "deploy" / "docker" / "Dockerfile").read_text()
    user = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert user and not user[-1].startswith(("0", "root")), "the image must end as a non-root user"


def test_secrets_are_required_variables_that_fail_loudly():
    text = COMPOSE.read_text()
    for variable in REQUIRED:
        assert f"${{{variable}?required}}" in text, variable
    assert "gridloop:gridloop@" not in text, "no development password in the deployment"


def test_grafana_and_prometheus_get_the_repository_provisioning():
    services = compose()["services"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in services["grafana"]["volumes"]
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in services["grafana"]["volumes"]
    assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in services["prometheus"]["volumes"]
    for volume in services["prometheus"]["volumes"] + services["grafana"]["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (REPO / source).exists(), source
