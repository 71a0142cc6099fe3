"""Read what is on a topic right now, from the beginning up to each partition's current end (no consumer group):
for the dead-letter tools and the chaos checker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


async def topic_partitions(
    bootstrap: str, topics: list[str], *, options: Mapping[str, Any] | None = None
) -> list[TopicPartition]:
    """Every partition of the named topics that exist. `options`: KafkaSettings.client_options() (TLS, SASL)."""
    admin = AIOKafkaAdminClient(**(options or {"bootstrap_servers": bootstrap}))
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return [
        TopicPartition(t["topic"], p["partition"])
        for t in described
        if t["error_code"] == 0
        for p in sorted(t["partitions"], key=lambda p: p["partition"])
    ]


async def read_to_end(
    bootstrap: str, topics: list[str], *, max_records: int = 5000, options: Mapping[str, Any] | None = None
) -> list[ConsumerRecord]:
    """Every record of the (physical) topics up to the end offsets seen at the start, in partition order."""
    partitions = await topic_partitions(bootstrap, topics, options=options)
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(
        **(options or {"bootstrap_servers": bootstrap}), group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    found: list[ConsumerRecord] = []
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if end[tp] > 0}
        while remaining:
            for tp, records in (await consumer.getmany(*remaining, timeout_ms=1000, max_records=max_records)).items():
                found += [r for r in records if r.offset < end[tp]]
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return found
