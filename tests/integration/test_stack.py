"""The local stack brings up a Kafka and a PostgreSQL that GridLoop's clients can really use."""

from __future__ import annotations

import time
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from gridloop.stack import Infra, delete_topics, ensure_infra, ensure_topics, gridloop_topics

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local_infra() -> Infra:
    return ensure_infra()


@pytest.fixture
async def scratch_topic(local_infra: Infra):
    prefix = f"t{uuid.uuid4().hex[:6]}."
    created = await ensure_topics(local_infra.kafka_bootstrap, {"stack.roundtrip": 3}, prefix=prefix)
    assert created == [f"{prefix}stack.roundtrip"]
    yield created[0]
    await delete_topics(local_infra.kafka_bootstrap, prefix=prefix)


def test_ensure_infra_twice_returns_the_same_running_infra(local_infra: Infra) -> None:
    started = time.monotonic()
    again = ensure_infra()
    assert again == local_infra
    assert time.monotonic() - started < 15, "a second ensure_infra should find everything already up"


async def test_every_contract_topic_and_its_dead_letter_topic_exists(local_infra: Infra) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=local_infra.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    assert set(gridloop_topics()) <= existing
    assert await ensure_topics(local_infra.kafka_bootstrap, gridloop_topics()) == []


async def test_idempotent_producer_and_manually_committing_consumer_roundtrip(
    local_infra: Infra, scratch_topic: str
) -> None:
    sent = {f"case-{i}": f"report {i}".encode() for i in range(20)}
    producer = AIOKafkaProducer(bootstrap_servers=local_infra.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in sent.items():
            await producer.send_and_wait(scratch_topic, value, key=key.encode())
    finally:
        await producer.stop()

    group = f"{scratch_topic}.group"
    received = await _consume_and_commit(local_infra.kafka_bootstrap, scratch_topic, group, expected=len(sent))
    assert received == sent

    # The group's committed offsets cover every message: a restarted member has nothing left to read.
    received_again = await _consume_and_commit(local_infra.kafka_bootstrap, scratch_topic, group, expected=0)
    assert received_again == {}


async def test_postgres_accepts_the_gridloop_role_over_tcp(local_infra: Infra) -> None:
    connection = await asyncpg.connect(local_infra.pg_admin_dsn, timeout=10)
    try:
        row = await connection.fetchrow(
            "SELECT current_user AS role, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        )
    finally:
        await connection.close()
    assert row["role"] == "gridloop"
    assert row["rolcreatedb"] is True


async def _consume_and_commit(bootstrap: str, topic: str, group: str, *, expected: int) -> dict[str, bytes]:
    """Read until `expected` messages arrived (or, for 0, until every partition is at its end); commit."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    received: dict[str, bytes] = {}
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                received.update({r.key.decode(): r.value for r in records})
            if len(received) >= expected and await _at_end(consumer, topic):
                break
        else:
            pytest.fail(f"got {len(received)} of {expected} messages from {topic} within 30 s")
        await consumer.commit()
        for tp in consumer.assignment():
            assert await consumer.committed(tp) == await consumer.position(tp)
    finally:
        await consumer.stop()
    return received


async def _at_end(consumer: AIOKafkaConsumer, topic: str) -> bool:
    assigned = consumer.assignment()
    if not assigned:
        return False  # still joining the group
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    ends = await consumer.end_offsets(partitions)
    for tp in partitions:
        if tp not in assigned or await consumer.position(tp) < ends[tp]:
            return False
    return True
