"""The restore drill: traffic, `gridloop backup`, the databases destroyed, `gridloop restore` into fresh ones;
every accepted report is still there and the pipeline goes on without doing anything twice.

It drops and restores databases of a namespace of its own (the session's others are not touched)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from gridloop.demo.client import DemoClient, ServiceUrls
from gridloop.ops.backup import CONSUMER_GROUPS, REWIND_MARGIN, backup, restore, rewind_consumers
from gridloop.stack import ADMIN_DSN, start_service, stop_service
from tests.support.namespace import Namespace
from tests.support.polling import wait_for
from tests.support.reports import report_body

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module")
def ns(private_ns):
    """Databases and topics of the drill's own: it destroys them and restores them, and the session's other
    modules must not run on restored copies of theirs."""
    return private_ns

SERVICES = ("intake", "router", "departments", "notify")
BEFORE, AFTER = 30, 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def scalar(ns: Namespace, service: str, sql: str) -> object:
    conn = await asyncpg.connect(dsn(ns.database_urls[service]))
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def rows(ns: Namespace, service: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn(ns.database_urls[service]))
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


class Stack:
    """The four services as processes in the session's namespace, on free ports."""

    def __init__(self, ns: Namespace, env: dict[str, str]) -> None:
        self.ns, self.env = ns, env
        self.ports = {name: free_port() for name in SERVICES}
        self.urls = ServiceUrls(**{name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()})

    async def start(self) -> None:
        await asyncio.gather(
            *(asyncio.to_thread(start_service, name, self.env, port) for name, port in self.ports.items())
        )

    async def stop(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(stop_service, name, port=port) for name, port in self.ports.items()))


@pytest.fixture
async def stack(ns: Namespace, tmp_path) -> AsyncIterator[Stack]:
    env = {
        **ns.env(),
        "GRIDLOOP_NOTIFY_LOG_CHANNEL_PATH": str(tmp_path / "messages.jsonl"),
        "GRIDLOOP_NOTIFY_DELIVERY_POLL_SECONDS": "0.05",
        "GRIDLOOP_NOTIFY_URGENT_STEPS": json.dumps(["received", "forwarded", "signed", "resolved", "not_admitted"]),
    }
    running = Stack(ns, env)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def post_reports(stack: Stack, count: int, label: str) -> set[str]:
    accepted = set()
    async with DemoClient(stack.urls) as client:
        for n in range(count):
            body = report_body(f"{label}第{n}号：小区门口路灯不亮，晚上很黑")  # each from a grid of its own
            response = await client.post_report(body)
            assert response.status_code in (200, 202), response.text
            accepted.add(response.json()["case_id"])
    return accepted


async def settled(ns: Namespace, cases: set[str]) -> bool:
    """Every case decided by the router and known to notify (its 'received' message written)."""
    ids = ",".join(f"'{c}'" for c in cases)
    decided = await scalar(ns, "router", f"SELECT count(DISTINCT case_id) FROM decisions WHERE case_id IN ({ids})")
    received = await scalar(
        ns, "notify", f"SELECT count(DISTINCT case_id) FROM messages WHERE step = 'received' AND case_id IN ({ids})"
    )
    return decided == len(cases) and received == len(cases)


async def doubled(ns: Namespace) -> list[str]:
    """Anything done twice: a second decision, message or dispatch for the same case and step."""
    found = []
    checks = {
        "router": "SELECT case_id, count(*) FROM decisions GROUP BY case_id, round HAVING count(*) > 1",
        "notify": "SELECT case_id, count(*) FROM messages GROUP BY case_id, step, channel HAVING count(*) > 1",
        "intake": "SELECT case_id, count(*) FROM case_timeline GROUP BY case_id, status, at HAVING count(*) > 1",
    }
    for service, sql in checks.items():
        found += [f"{service}: {r[0]} x{r[1]}" for r in await rows(ns, service, sql)]
    return found


async def test_a_restored_backup_keeps_every_accepted_report_and_the_pipeline_resumes_without_duplicates(
    ns: Namespace, stack: Stack, tmp_path
) -> None:
    before = await post_reports(stack, BEFORE, "备份前")
    await wait_for(lambda: settled(ns, before), timeout=90, interval=0.5, what="the reports before the backup")

    started = time.monotonic()
    manifest = await asyncio.to_thread(backup, ns.database_urls, tmp_path / "backup")
    backup_seconds = time.monotonic() - started
    assert {d.service for d in manifest.dumps} == set(SERVICES) and all(d.bytes > 0 for d in manifest.dumps)
    messages_at_backup = await scalar(ns, "notify", "SELECT count(*) FROM messages")
    work_items_at_backup = await scalar(ns, "departments", "SELECT count(*) FROM work_items")

    # The disaster: services stop, their databases are gone.
    await stack.stop()
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        for url in ns.database_urls.values():
            await admin.execute(f'DROP DATABASE "{make_url(url).database}" WITH (FORCE)')
    finally:
        await admin.close()

    started = time.monotonic()
    await asyncio.to_thread(restore, tmp_path / "backup", ns.database_urls)
    restore_seconds = time.monotonic() - started
    groups = [g for s in SERVICES for g in CONSUMER_GROUPS[s]]
    rewound = await rewind_consumers(
        ns.bootstrap, groups, manifest.started_at - REWIND_MARGIN, topic_prefix=ns.topic_prefix
    )
    assert rewound["gridloop.router"] >= BEFORE  # every report is read again ...
    await stack.start()

    ids = ",".join(f"'{c}'" for c in before)
    restored = await scalar(ns, "intake", f"SELECT count(*) FROM cases WHERE case_id IN ({ids})")
    assert restored == BEFORE, "accepted reports missing after the restore"

    after = await post_reports(stack, AFTER, "恢复后")
    await wait_for(lambda: settled(ns, after), timeout=90, interval=0.5, what="the reports after the restore")

    # ... and nothing of it is done twice: the inboxes dropped what the restored databases held.
    assert await doubled(ns) == []
    assert await scalar(ns, "notify", f"SELECT count(*) FROM messages WHERE case_id IN ({ids})") == messages_at_backup
    new_work = await scalar(ns, "departments", f"SELECT count(*) FROM work_items WHERE case_id::text NOT IN ({ids})")
    assert work_items_at_backup + new_work == await scalar(ns, "departments", "SELECT count(*) FROM work_items")
    size = sum(d.bytes for d in manifest.dumps)
    print(f"backup {backup_seconds:.1f}s ({size / 1e6:.2f} MB), restore {restore_seconds:.1f}s, rewound {rewound}")
