"""End to end with every service as its own process (`gridloop <service>`), over real HTTP, Kafka and PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from gridloop.contracts.topics import topic_for_department
from gridloop.delivery.kafka import decode
from tests.support.auth import ActingAsCaller
from tests.support.polling import wait_for
from tests.support.reports import report_body

pytestmark = pytest.mark.e2e

SERVICES = ("intake", "router", "departments", "notify")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def stack(ns, tmp_path_factory) -> Iterator[dict[str, str]]:
    """The four services as processes in this session's namespace; yields their base URLs."""
    logs = tmp_path_factory.mktemp("service-logs")
    gridloop = str(Path(sys.executable).parent / "gridloop")
    procs: dict[str, subprocess.Popen] = {}
    urls: dict[str, str] = {}
    for name in SERVICES:
        port = _free_port()
        env = {
            **os.environ,
            **ns.env(),
            f"GRIDLOOP_{name.upper()}_PORT": str(port),
            "GRIDLOOP_NOTIFY_LOG_CHANNEL_PATH": str(logs / "messages.jsonl"),
            "GRIDLOOP_NOTIFY_PUBLIC_BASE_URL": "http://127.0.0.1:8004",
        }
        log = (logs / f"{name}.log").open("wb")
        procs[name] = subprocess.Popen([gridloop, name], env=env, stdout=log, stderr=subprocess.STDOUT)
        urls[name] = f"http://127.0.0.1:{port}"
    try:
        for name, url in urls.items():
            _wait_ready(name, url, procs[name], logs / f"{name}.log")
        yield urls
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for name, proc in procs.items():
            try:
                # uvicorn re-raises SIGTERM after its graceful shutdown, so -15 is a clean exit too
                assert proc.wait(timeout=20) in (0, -signal.SIGTERM), f"{name} exited {proc.returncode}"
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
            assert f"{name} stopping" in (logs / f"{name}.log").read_text(), f"{name} skipped its shutdown"


def _wait_ready(name: str, url: str, proc: subprocess.Popen, log: Path) -> None:
    import time

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{name} not ready at {url}:\n{log.read_text()[-3000:]}")


async def _dispatched_on_topic(ns, department: str, case_id: str) -> dict:
    consumer = AIOKafkaConsumer(
        ns.kafka().topic(topic_for_department(department)),
        bootstrap_servers=ns.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    try:

        async def find() -> dict | None:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                for record in records:
                    if record.key == case_id.encode():
                        return {
                            "headers": dict(record.headers),
                            "event": decode(record.headers, record.key, record.value)[1],
                        }
            return None

        return await wait_for(find, timeout=30, what=f"case {case_id} on the {department} topic")
    finally:
        await consumer.stop()


async def test_a_report_posted_over_http_reaches_the_police_and_the_resident_hears_back(stack, ns) -> None:
    async with httpx.AsyncClient(timeout=10, auth=ActingAsCaller()) as http:
        body = report_body(
            "7栋2单元楼下有个陌生男子连续几天在单车棚撬电瓶车的锁，已经有两家电动车被偷了", item_hint="P03"
        )
        first = await http.post(f"{stack['intake']}/v1/reports", json=body)
        again = await http.post(f"{stack['intake']}/v1/reports", json=body)
        assert (first.status_code, again.status_code) == (202, 200)
        case_id = first.json()["case_id"]
        assert again.json()["case_id"] == case_id

        found = await _dispatched_on_topic(ns, "police", case_id)
        event = found["event"]
        assert found["headers"]["ce_type"] == b"cn.gridloop.case.dispatched.v1"
        assert (event.department, event.item_code) == ("police", "P03")
        assert "撬电瓶车" in event.description
        assert event.resident_phone_masked == "138****5678", "department topics carry the phone masked"

        async def work_item() -> dict | None:
            response = await http.get(f"{stack['departments']}/v1/work-items/{case_id}")
            return response.json() if response.status_code == 200 else None

        assert (await wait_for(work_item, what="work item"))["status"] == "dispatched"
        signed = await http.post(f"{stack['departments']}/v1/work-items/{case_id}/sign", json={"handler": "王警官"})
        assert signed.status_code == 200
        resolved = await http.post(
            f"{stack['departments']}/v1/work-items/{case_id}/resolve",
            json={"result": "已调取监控并抓获嫌疑人，追回电动车两辆"},
        )
        assert resolved.status_code == 200

        async def sent_steps() -> set[str]:
            messages = (await http.get(f"{stack['notify']}/v1/cases/{case_id}/messages")).json()
            steps = {m["step"] for m in messages if m["state"] == "sent"}
            return steps if {"received", "forwarded", "signed", "resolved"} <= steps else set()

        await wait_for(sent_steps, timeout=30, what="the resident's messages for each visible step")
        messages = (await http.get(f"{stack['notify']}/v1/cases/{case_id}/messages")).json()
        assert len(messages) == 4
        assert any("辖区派出所" in m["body"] for m in messages if m["step"] == "forwarded")
