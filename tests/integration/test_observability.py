"""Operators' view: a real Prometheus scrapes the four services (as processes) under traffic, evaluates our
recording rules, and every query of every Grafana dashboard panel returns data."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from gridloop.contracts.events import CaseReported
from gridloop.contracts.topics import CASES_REPORTED, DEPARTMENTS
from gridloop.delivery.kafka import PoisonMessage, decode
from gridloop.demo.client import DemoClient, ServiceUrls
from gridloop.demo.reports import generate_day
from gridloop.stack import start_service, stop_service
from tests.support.namespace import Namespace
from tests.support.polling import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "router", "departments", "notify")
DASHBOARDS = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
async def service_ports(ns: Namespace, tmp_path_factory) -> AsyncIterator[dict[str, int]]:
    """The four services as processes on free ports, in this session's namespace."""
    ports = {name: free_port() for name in SERVICES}
    env = {
        **ns.env(),
        "GRIDLOOP_NOTIFY_LOG_CHANNEL_PATH": str(tmp_path_factory.mktemp("notify") / "messages.jsonl"),
        "GRIDLOOP_NOTIFY_DELIVERY_POLL_SECONDS": "0.05",
        # Every visible step is urgent, so quiet hours never hold a message while the test runs at night.
        "GRIDLOOP_NOTIFY_URGENT_STEPS": json.dumps(["received", "forwarded", "signed", "resolved", "not_admitted"]),
    }
    try:
        await asyncio.gather(*(asyncio.to_thread(start_service, name, env, port) for name, port in ports.items()))
        yield ports
    finally:
        for name, port in ports.items():
            await asyncio.to_thread(stop_service, name, port=port)


@pytest.fixture(scope="module")
def prometheus(service_ports: dict[str, int], tmp_path_factory) -> Iterator[str]:
    """A real Prometheus (the Debian binary) scraping the test's services every second, with our rules."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus not installed: run deploy/local/install-deps.sh"
    home = tmp_path_factory.mktemp("prometheus")
    rules = sorted(str(p) for p in (REPO / "deploy" / "prometheus" / "rules").glob("*.yml"))
    jobs = "".join(
        f"  - job_name: {name}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        for name, port in service_ports.items()
    )
    config = home / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: {json.dumps(rules)}\nscrape_configs:\n{jobs}"
    )
    port = free_port()
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with (home / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _ready(url):
            assert proc.poll() is None, (home / "prometheus.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "Prometheus did not become ready in 30 s"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        if proc.poll() is None:
            proc.kill()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, expr) for every target of every panel."""
    queries = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            queries += [(dashboard["uid"], panel["title"], target["expr"]) for target in panel["targets"]]
    return queries


async def has_data(prom: httpx.AsyncClient, expr: str) -> bool:
    """True if the query returns at least one sample with a finite value."""
    response = await prom.get("/api/v1/query", params={"query": expr})
    body = response.json()
    assert body["status"] == "success", f"query failed: {expr}: {body.get('error')}"
    return any(math.isfinite(float(sample["value"][1])) for sample in body["data"]["result"])


async def post_reports(client: DemoClient, stop: asyncio.Event, tokens: dict[str, str], per_second: float = 20) -> None:
    """Post a realistic day of reports at a steady pace until stopped; remember each case's tracking token."""
    for draft in generate_day(5000, seed=8):
        if stop.is_set():
            return
        response = await client.post_report(draft.api_body())
        assert response.status_code in (200, 202), response.text
        tokens[response.json()["case_id"]] = response.json()["tracking_token"]
        await asyncio.sleep(1 / per_second)


async def work_the_desk(
    client: DemoClient, notify: httpx.AsyncClient, stop: asyncio.Event, tokens: dict[str, str]
) -> None:
    """The departments: return one case in ten, sign for and resolve the rest; residents rate what is resolved."""
    seen: set[str] = set()
    while not stop.is_set():
        for department in DEPARTMENTS:
            for item in await client.work_items(department):
                case_id = str(item["case_id"])
                if case_id in seen:
                    continue
                seen.add(case_id)
                if int(case_id[:2], 16) % 10 == 0:
                    await client._request(  # the demo client has no return call; same headers and retries
                        "departments",
                        "POST",
                        f"/v1/work-items/{case_id}/return",
                        json={"reason_code": "wrong_area", "note": "不属于本辖区", "handler": "李警官"},
                    )
                    continue
                await client.sign(department, case_id, "王建国")
                await client.resolve(department, case_id, "已到现场处置完毕")
                if case_id in tokens:
                    await rate(notify, tokens[case_id])
        await asyncio.sleep(0.5)


async def rate(notify: httpx.AsyncClient, tracking_token: str) -> None:
    """A resident answers the feedback form on the case page, if it is already offered."""
    page = await notify.get(f"/c/{tracking_token}")
    match = re.search(r'name="token"\s+value="([^"]+)"', page.text)
    if match:
        await notify.post(f"/c/{tracking_token}/feedback", data={"token": match.group(1), "rating": "satisfied"})


async def poison_and_repeat(ns: Namespace, own_cases: dict[str, str]) -> None:
    """One undecodable record (a dead letter) and one redelivered status event (an inbox duplicate)."""
    producer = AIOKafkaProducer(bootstrap_servers=ns.bootstrap)
    await producer.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=ns.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        reported = ns.kafka().topic(CASES_REPORTED)
        await producer.send_and_wait(reported, b"not a cloudevent", key=b"poison")
        # One of this test's own reports again: the router claims every CaseReported in its inbox, so the copy is
        # a duplicate for sure. (The first record of a partition of the session's shared status topic could be
        # another test's poison record: then the copy was a dead letter and the panel had no data.)
        partitions = [TopicPartition(reported, p) for p in consumer.partitions_for_topic(reported) or {0}]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        while True:
            record = await asyncio.wait_for(consumer.getone(), 30)
            with contextlib.suppress(PoisonMessage):
                _, event = decode(record.headers, record.key, record.value)
                if isinstance(event, CaseReported) and str(event.case_id) in own_cases:
                    break
        await producer.send_and_wait(record.topic, record.value, key=record.key, headers=list(record.headers))
    finally:
        await consumer.stop()
        await producer.stop()


async def test_every_dashboard_panel_shows_data_from_the_running_services(
    ns: Namespace, service_ports: dict[str, int], prometheus: str
) -> None:
    assert len(DASHBOARDS) == 3
    urls = ServiceUrls(**{name: f"http://127.0.0.1:{port}" for name, port in service_ports.items()})
    stop = asyncio.Event()
    async with (
        contextlib.AsyncExitStack() as stack,
        DemoClient(urls) as client,
        httpx.AsyncClient(base_url=prometheus, timeout=10) as prom,
    ):
        tokens: dict[str, str] = {}
        traffic = asyncio.create_task(post_reports(client, stop, tokens))
        notify = await stack.enter_async_context(httpx.AsyncClient(base_url=urls.notify, timeout=10))
        desk = asyncio.create_task(work_the_desk(client, notify, stop, tokens))
        try:
            await wait_for(lambda: _has(prom, "sum(gridloop_item_rate_cases)"), timeout=45, what="the first work items")
            await poison_and_repeat(ns, tokens)
            missing = panel_queries()

            async def probe() -> bool:
                nonlocal missing
                missing = [q for q in missing if not await has_data(prom, q[2])]
                return not missing

            with contextlib.suppress(AssertionError):
                await wait_for(probe, timeout=60, interval=2, what="every panel")
        finally:
            stop.set()
            await asyncio.gather(traffic, desk, return_exceptions=True)
    assert not missing, "panels without data:\n" + "\n".join(f"  {d} / {t}: {e}" for d, t, e in missing)


async def _has(prom: httpx.AsyncClient, expr: str) -> bool:
    return await has_data(prom, expr)


async def test_each_service_process_froze_its_start_up_heap(service_ports: dict[str, int]) -> None:
    """Services started as processes keep their start-up objects out of garbage collection, and time every
    collection (gridloop/servicekit/gc_pauses.py)."""
    async with httpx.AsyncClient(timeout=10) as client:
        for name, port in service_ports.items():
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            frozen = [float(line.split()[-1]) for line in text.splitlines() if line.startswith("gridloop_gc_frozen_")]
            assert frozen and frozen[0] > 10_000, (name, frozen)
            full = re.search(r'^gridloop_gc_pause_seconds_count\{generation="2"\} (\S+)$', text, re.MULTILINE)
            assert full and float(full.group(1)) >= 1, f"{name}: the collection before the freeze was timed"
