"""Poison messages go to the dead-letter topic with their provenance, and the consumer carries on."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from gridloop.contracts.events import CaseStatusChanged
from gridloop.contracts.topics import CASES_STATUS, dead_letter_topic
from gridloop.delivery.consumer import EventConsumer
from gridloop.delivery.db import Database
from gridloop.delivery.kafka import Envelope, encode, make_producer
from services.intake.tables import inbox, outbox
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration


async def _dead_letters(ns, group: str, expected: int) -> list:
    consumer = AIOKafkaConsumer(
        ns.kafka().topic(dead_letter_topic(CASES_STATUS)),
        bootstrap_servers=ns.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    found: list = []
    try:

        async def collect() -> list:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                found.extend(r for r in records if dict(r.headers).get("dlt_consumer_group") == group.encode())
            return found if len(found) >= expected else []

        return await wait_for(collect, what=f"{expected} dead letters")
    finally:
        await consumer.stop()


async def test_poison_messages_are_dead_lettered_and_the_consumer_keeps_going(ns) -> None:
    kafka = ns.kafka(max_retries=2, retry_backoff_ms=10)
    db = Database(ns.database_urls["intake"], outbox=outbox, source="/test")
    producer = make_producer(kafka, "test")
    await producer.start()
    ready: asyncio.Future[AIOKafkaProducer] = asyncio.get_running_loop().create_future()
    ready.set_result(producer)
    handled: list[str] = []
    failing_case = uuid.uuid4()

    async def handle(event: CaseStatusChanged, uow, delivery) -> None:
        if event.case_id == failing_case:
            raise RuntimeError("handler bug for this case")
        handled.append(event.note)

    group = f"test-dlt-{uuid.uuid4().hex[:6]}"
    consumer = EventConsumer(
        group=group,
        topics=[CASES_STATUS],
        handlers={CaseStatusChanged: handle},
        db=db,
        inbox=inbox,
        kafka=kafka,
        dlt_producer=ready,
    )

    def status(case_id: uuid.UUID, note: str) -> tuple:
        event = CaseStatusChanged(case_id=case_id, status="received", at=datetime.now(UTC), actor="test", note=note)
        return encode(Envelope.wrap(event, event_id=uuid.uuid4(), source="/test"))

    topic = kafka.topic(CASES_STATUS)
    marker = uuid.uuid4().hex
    headers, key, value = status(uuid.uuid4(), f"good-{marker}")
    await producer.send_and_wait(topic, b"\x00\xffrandom bytes", key=b"k1")
    await producer.send_and_wait(
        topic, b"{not json", key=b"k2", headers=[*headers[:2], ("content-type", b"application/json")]
    )
    await producer.send_and_wait(topic, b'{"case_id": "nope"}', key=b"k3", headers=headers)
    await producer.send_and_wait(
        topic, status(failing_case, "boom")[2], key=b"k4", headers=status(failing_case, "boom")[0]
    )
    await producer.send_and_wait(topic, value, key=key, headers=headers)

    task = asyncio.create_task(consumer.run())
    try:
        await wait_for(lambda: _contains(handled, f"good-{marker}"), what="the good message after the poison ones")
        letters = await _dead_letters(ns, group, expected=4)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await producer.stop()
        await db.dispose()

    reasons = sorted(dict(r.headers)["dlt_exception_class"].decode() for r in letters)
    assert reasons == ["PoisonMessage", "PoisonMessage", "PoisonMessage", "RuntimeError"]
    for record in letters:
        meta = dict(record.headers)
        assert meta["dlt_original_topic"] == CASES_STATUS.encode()
        assert int(meta["dlt_original_offset"]) >= 0
    assert not task.done() or task.cancelled()


async def _contains(items: list[str], wanted: str) -> bool:
    return wanted in items
