"""Prometheus configuration: promtool accepts the config and rules, and the rule unit tests pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:  # the Debian `prometheus` package ships it; install-deps.sh installs that
        pytest.fail("promtool not found: run deploy/local/install-deps.sh (Debian package `prometheus`)")
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False, timeout=60)


def test_prometheus_config_and_its_rule_files_are_valid():
    result = promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_files_are_valid():
    rules = sorted(str(p) for p in (PROMETHEUS_DIR / "rules").glob("*.yml"))
    assert rules, "no rule files under deploy/prometheus/rules"
    result = promtool("check", "rules", *rules)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_unit_tests_pass():
    result = promtool("test", "rules", str(PROMETHEUS_DIR / "tests" / "rules_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
