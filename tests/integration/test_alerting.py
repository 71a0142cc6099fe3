"""Alerts reach a person: a service is killed, Prometheus (the real alert rule) fires, Alertmanager (the real
routing tree) pages the webhook and mails on-call, and says "resolved" once the service is back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiosmtpd.controller import Controller

from gridloop.ops.alert_inbox import AlertInbox, serving
from gridloop.stack import start_service, stop_service
from gridloop.stack.alertmanager import alertmanager_argv, ready
from tests.support.namespace import Namespace
from tests.support.polling import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "deploy" / "prometheus" / "rules" / "gridloop-alerts.yml"
ROUTES = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
# The test shortens the waits, never the expressions: the rule's `for` (1m in production) becomes FOR_SECONDS,
# Prometheus scrapes and evaluates every second, Alertmanager groups for a second.
FOR_SECONDS = 5
# Firing after kill: a failed scrape (≤ 1 s), `for`, an evaluation (≤ 1 s), group_wait (1 s), delivery. The margin
# covers a loaded two-core machine.
MARGIN_SECONDS = 25


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Mailbox:
    """An SMTP server on loopback (aiosmtpd) that keeps the recipients and subject of each mail."""

    mails: list[tuple[list[str], str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd names the hook
        subject = next(
            (
                line.split(":", 1)[1].strip()
                for line in envelope.content.decode().splitlines()
                if line.startswith("Subject:")
            ),
            "",
        )
        self.mails.append((list(envelope.rcpt_tos), subject))
        return "250 OK"


class Process:
    """A binary run by the test with its log in a file; terminated at the end."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, url: str, path: str) -> None:
        deadline = time.monotonic() + 30
        while not _ok(f"{url}{path}"):
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            assert time.monotonic() < deadline, f"{url}{path} not ready in 30 s:\n{self.log.read_text()[-2000:]}"
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=20)
        if self.proc.poll() is None:
            self.proc.kill()


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def alertmanager_config(webhook: str, smtp_port: int) -> dict[str, Any]:
    """deploy/alertmanager/alertmanager.yml with its receivers pointed at the test and its waits shortened."""
    config = yaml.safe_load(ROUTES.read_text())
    config["global"]["smtp_smarthost"] = f"127.0.0.1:{smtp_port}"
    config["route"].update(group_wait="1s", group_interval="1s")
    for receiver in config["receivers"]:
        for webhook_config in receiver.get("webhook_configs", []):
            webhook_config["url"] = webhook
    return config


def alert_rules_with_short_for() -> dict[str, Any]:
    """deploy/prometheus/rules/gridloop-alerts.yml, expressions untouched, GridLoopServiceDown's `for` shortened."""
    rules = yaml.safe_load(ALERTS.read_text())
    down = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "GridLoopServiceDown")
    assert down["for"] == "1m"  # the production value this test shortens
    down["for"] = f"{FOR_SECONDS}s"
    return rules


@pytest.fixture
async def mailbox() -> AsyncIterator[tuple[Mailbox, int]]:
    handler, port = Mailbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    await asyncio.to_thread(controller.start)
    try:
        yield handler, port
    finally:
        await asyncio.to_thread(controller.stop)


@pytest.fixture
def inbox() -> Iterator[tuple[AlertInbox, str]]:
    alerts = AlertInbox()
    with serving(alerts) as url:
        yield alerts, url


@pytest.fixture
def alertmanager(inbox, mailbox, tmp_path) -> Iterator[str]:
    binary_ok = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary_ok, "Alertmanager not installed: run deploy/local/install-deps.sh"
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump(alertmanager_config(inbox[1], mailbox[1])))
    address = f"127.0.0.1:{free_port()}"
    (tmp_path / "am").mkdir()
    proc = Process(
        list(alertmanager_argv(config=config, storage=tmp_path / "am", address=address)), tmp_path / "am.log"
    )
    try:
        proc.wait_ready(f"http://{address}", "/-/ready")
        assert ready(f"http://{address}")
        yield f"http://{address}"
    finally:
        proc.stop()


@pytest.fixture
def intake_port(ns: Namespace) -> Iterator[int]:
    port = free_port()
    start_service("intake", ns.env(), port)
    try:
        yield port
    finally:
        stop_service("intake", port=port)


@pytest.fixture
def prometheus(alertmanager: str, intake_port: int, tmp_path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus not installed: run deploy/local/install-deps.sh"
    rules = tmp_path / "alerts.yml"
    rules.write_text(yaml.safe_dump(alert_rules_with_short_for()))
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{alertmanager.removeprefix('http://')}']\n"
        f"rule_files: {json.dumps([str(rules)])}\n"
        f"scrape_configs:\n  - job_name: intake\n    static_configs:\n      - targets: ['127.0.0.1:{intake_port}']\n"
    )
    address = f"127.0.0.1:{free_port()}"
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address={address}",
    ]
    proc = Process(argv, tmp_path / "prometheus.log")
    try:
        proc.wait_ready(f"http://{address}", "/-/ready")
        yield f"http://{address}"
    finally:
        proc.stop()


async def test_a_killed_service_pages_on_call_within_the_rules_for_and_resolves_after_restart(
    ns: Namespace, inbox, mailbox, prometheus: str, intake_port: int
) -> None:
    alerts, _ = inbox
    mails, _ = mailbox
    async with httpx.AsyncClient(base_url=prometheus) as prom:

        async def scraped_up() -> bool:
            result = (await prom.get("/api/v1/query", params={"query": 'up{job="intake"}'})).json()["data"]["result"]
            return bool(result) and result[0]["value"][1] == "1"

        await wait_for(scraped_up, timeout=30, what="Prometheus to scrape intake")

        await asyncio.to_thread(stop_service, "intake", signal.SIGKILL, intake_port)
        killed = time.monotonic()

        async def firing() -> list:
            return alerts.alerts("GridLoopServiceDown", "firing")

        fired = (await wait_for(firing, timeout=FOR_SECONDS + MARGIN_SECONDS, what="the service-down page"))[0]
        fired_after = time.monotonic() - killed
        assert fired_after >= FOR_SECONDS, f"paged after {fired_after:.1f}s, before the rule's `for`"
        assert fired.labels["job"] == "intake" and fired.labels["severity"] == "critical"
        assert fired.annotations["runbook"] == "docs/operations.md#service-down"
        notification = next(n for n in alerts.notifications if fired in n.alerts)
        assert notification.receiver == "on-call-webhook-and-email"

        async def mailed() -> list:
            return [m for m in mails.mails if "gridloop-oncall@localhost" in m[0] and "GridLoopServiceDown" in m[1]]

        await wait_for(mailed, timeout=MARGIN_SECONDS, what="the service-down e-mail")

        await asyncio.to_thread(start_service, "intake", ns.env(), intake_port)

        async def resolved() -> list:
            return alerts.alerts("GridLoopServiceDown", "resolved")

        await wait_for(resolved, timeout=MARGIN_SECONDS + 10, what="the resolved notification after restart")
        print(f"paged {fired_after:.1f}s after the kill (for: {FOR_SECONDS}s)")


async def test_consumer_lag_of_a_service_that_is_down_is_held_back(alertmanager: str) -> None:
    def alert(name: str, job: str, severity: str) -> dict[str, Any]:
        return {"labels": {"alertname": name, "job": job, "severity": severity, "group": f"gridloop.{job}"}}

    async with httpx.AsyncClient(base_url=alertmanager) as am:
        posted = await am.post(
            "/api/v2/alerts",
            json=[
                alert("GridLoopServiceDown", "router", "critical"),
                alert("GridLoopConsumerLagGrowing", "router", "warning"),
                alert("GridLoopConsumerLagGrowing", "notify", "warning"),
            ],
        )
        assert posted.status_code == 200, posted.text

        async def lag_states() -> dict[str, dict[str, Any]]:
            found = (await am.get("/api/v2/alerts", params={"filter": 'alertname="GridLoopConsumerLagGrowing"'})).json()
            states = {a["labels"]["job"]: a["status"] for a in found}
            return states if len(states) == 2 and all(s["state"] != "unprocessed" for s in states.values()) else {}

        states = await wait_for(lag_states, timeout=15, what="Alertmanager to process the alerts")
        assert states["router"]["state"] == "suppressed" and states["router"]["inhibitedBy"]
        assert states["notify"]["state"] == "active" and not states["notify"]["inhibitedBy"]
