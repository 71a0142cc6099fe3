"""Helpers for the departments' tests: dispatch cases straight onto a department topic, tap the status topic,
and run the departments app with a clock the test moves."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from asgi_lifespan import LifespanManager

from gridloop.admission.admission_list import default_admission_list
from gridloop.contracts.events import CaseDispatched, CaseStatusChanged, Event
from gridloop.contracts.topics import CASES_STATUS, topic_for_department
from gridloop.delivery.kafka import Envelope, PoisonMessage, decode, encode
from gridloop.servicekit.clock import FixedClock
from tests.support.auth import OPERATOR, ActingAsCaller, as_department  # noqa: F401 - re-exported for tests
from tests.support.namespace import Namespace
from tests.support.polling import wait_for


def dispatched(
    item_code: str,
    *,
    dispatched_at: datetime | None = None,
    grid_id: str | None = None,
    community_id: str = "JN-TEST-01",
    location: dict[str, float] | None = None,
    case_id: uuid.UUID | None = None,
    dispatch_no: int = 1,
) -> CaseDispatched:
    """A CaseDispatched as the router would publish it; every case in its own grid unless told otherwise."""
    item = default_admission_list().items[item_code]
    at = dispatched_at or datetime.now(UTC)
    return CaseDispatched(
        case_id=case_id or uuid.uuid4(),
        department=item.department,
        item_code=item.code,
        item_name_zh=item.name_zh,
        resolve_hours=item.resolve_hours,
        confidence=0.9,
        list_version=default_admission_list().version,
        description=f"测试：{item.name_zh}",
        grid_id=grid_id or f"G-{uuid.uuid4().hex[:10]}",
        community_id=community_id,
        location=location,
        occurred_at=at,
        reported_at=at,
        dispatched_at=at,
        resident_name_masked="张*",
        resident_phone_masked="138****5678",
        dispatch_no=dispatch_no,
    )


async def publish(ns: Namespace, *events: Event, topic: str | None = None) -> None:
    """Put events on their topic (a department's topic for CaseDispatched, else the status topic)."""
    kafka = ns.kafka()
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for event in events:
            logical = topic or (
                topic_for_department(event.department) if isinstance(event, CaseDispatched) else CASES_STATUS
            )
            headers, key, value = encode(Envelope.wrap(event, event_id=uuid.uuid4(), source="/tests"))
            await producer.send_and_wait(kafka.topic(logical), value=value, key=key, headers=headers)
    finally:
        await producer.stop()


class StatusTap:
    """Reads the whole status topic of the namespace in the background: every case's timeline as published."""

    def __init__(self, ns: Namespace) -> None:
        self._ns = ns
        self.by_case: dict[uuid.UUID, list[tuple[uuid.UUID, CaseStatusChanged]]] = defaultdict(list)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StatusTap:
        kafka = self._ns.kafka()
        consumer = AIOKafkaConsumer(
            kafka.topic(CASES_STATUS),
            bootstrap_servers=kafka.bootstrap_servers,
            group_id=None,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        await consumer.start()
        self._task = asyncio.create_task(self._collect(consumer))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _collect(self, consumer: AIOKafkaConsumer) -> None:
        try:
            async for record in consumer:
                try:  # other tests put poison records (and replays of them) on this topic: not ours to read
                    event_id, event = decode(record.headers, record.key, record.value)
                except PoisonMessage:
                    continue
                if isinstance(event, CaseStatusChanged):
                    self.by_case[event.case_id].append((event_id, event))
        finally:
            await consumer.stop()

    def statuses(self, case_id: uuid.UUID) -> list[str]:
        return [e.status for _, e in self.by_case.get(case_id, [])]

    def events(self, case_id: uuid.UUID, status: str) -> list[CaseStatusChanged]:
        return [e for _, e in self.by_case.get(case_id, []) if e.status == status]

    async def wait(
        self, case_id: uuid.UUID, status: str, count: int = 1, within: float = 20
    ) -> list[CaseStatusChanged]:
        async def seen() -> list[CaseStatusChanged]:
            found = self.events(case_id, status)
            return found if len(found) >= count else []

        return await wait_for(seen, timeout=within, interval=0.05, what=f"{count}x {status} of {case_id}")


@asynccontextmanager
async def departments_app(ns: Namespace, clock: FixedClock, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The departments app in-process with a movable clock; yields an HTTP client for it."""
    from services.departments.main import make_app
    from services.departments.settings import DepartmentsSettings

    # Calendar hours unless a test asks for the working calendar: most tests dispatch at the wall clock's time, whose
    # weekday or holiday must not decide them.
    # No weekly report publishing unless a test asks for it: it would build last week's report at every start.
    values = {
        "sla_scan_seconds": 0.05,
        "rate_refresh_seconds": 0.5,
        "calendar": "round_the_clock",
        "publish_weekly_reports": False,
        **settings,
    }
    app = make_app(
        DepartmentsSettings(database_url=ns.database_urls["departments"], kafka=ns.kafka(), **values), clock=clock
    )
    async with (
        LifespanManager(app, startup_timeout=180, shutdown_timeout=30),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://departments", auth=ActingAsCaller()
        ) as client,
    ):
        yield client


async def work_item(client: httpx.AsyncClient, case_id: uuid.UUID, headers: dict | None = None) -> dict | None:
    response = await client.get(f"/v1/work-items/{case_id}", headers=headers or OPERATOR)
    return response.json() if response.status_code == 200 else None


async def wait_for_work_item(client: httpx.AsyncClient, case_id: uuid.UUID, status: str = "dispatched") -> dict:
    async def arrived() -> dict | None:
        item = await work_item(client, case_id)
        return item if item and item["status"] == status else None

    return await wait_for(arrived, interval=0.05, what=f"work item {case_id} {status}")
