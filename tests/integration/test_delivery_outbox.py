"""The outbox relay on real PostgreSQL and Kafka: late commits, per-key order, one relay per bucket, marking
only after the broker's ack, and batched cleanup."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError
from prometheus_client import REGISTRY

from gridloop.contracts.events import CaseStatusChanged
from gridloop.contracts.topics import CASES_STATUS
from gridloop.delivery.db import Database, UnitOfWork
from gridloop.delivery.kafka import decode, make_producer
from gridloop.delivery.outbox import OutboxRelay, bucket_of
from gridloop.ops.migrate import upgrade
from services.intake.tables import outbox
from tests.support.namespace import drop_database
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def db(ns) -> AsyncIterator[Database]:
    """A database of its own (intake's schema), so no other test's outbox rows are in the way."""
    url = ns.database_urls["intake"].replace("_intake", "_relay")
    await asyncio.to_thread(upgrade, "intake", url)
    database = Database(url, outbox=outbox, source="/test/relay")
    yield database
    await database.dispose()
    await drop_database(url)


@pytest.fixture(scope="module")
async def producer(ns) -> AsyncIterator[AIOKafkaProducer]:
    kafka_producer = make_producer(ns.kafka(), "test-relay")
    await kafka_producer.start()
    yield kafka_producer
    await kafka_producer.stop()


@pytest.fixture
async def clean(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(sa.delete(outbox))


def relay_for(db: Database, ns, **options) -> OutboxRelay:
    ready: asyncio.Future = asyncio.get_running_loop().create_future()
    return OutboxRelay(db, ready, ns.kafka(), **options)


def step(case_id: uuid.UUID, note: str) -> CaseStatusChanged:
    return CaseStatusChanged(case_id=case_id, status="in_progress", at=datetime.now(UTC), actor="test", note=note)


async def write(db: Database, *events: CaseStatusChanged) -> list[uuid.UUID]:
    """Each event in its own committed transaction, in order."""
    ids = []
    for event in events:
        async with db.unit_of_work() as uow:
            event_id = uuid.uuid4()
            await uow.publish(event, CASES_STATUS, event_id=event_id)
            ids.append(event_id)
    return ids


async def on_topic(ns, keys: set[str], expected: int) -> list[tuple[str, uuid.UUID, str]]:
    """(key, event id, note) of every record for these keys on the status topic, in partition order."""
    consumer = AIOKafkaConsumer(
        ns.kafka().topic(CASES_STATUS),
        bootstrap_servers=ns.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    found: list[tuple[str, uuid.UUID, str]] = []
    try:

        async def collect() -> list:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    if record.key.decode() in keys:
                        event_id, event = decode(record.headers, record.key, record.value)
                        found.append((record.key.decode(), event_id, event.note))
            return found if len(found) >= expected else []

        await wait_for(collect, what=f"{expected} records")
        await collect()  # one more poll, so a surplus (a duplicate) would show
        return found
    finally:
        await consumer.stop()


def delays() -> tuple[float, float]:
    """(count, sum) of the relay's written → published histogram so far."""
    samples = [REGISTRY.get_sample_value(f"gridloop_outbox_delay_seconds_{part}") or 0.0 for part in ("count", "sum")]
    return samples[0], samples[1]


async def unpublished(db: Database, event_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.event_id).where(outbox.c.event_id.in_(event_ids), outbox.c.published_at.is_(None))
        )
        return set(rows.scalars())


async def test_a_row_committed_after_later_rows_were_published_is_still_published(db, ns, producer, clean) -> None:
    relay = relay_for(db, ns)
    late_case, early_case = uuid.uuid4(), uuid.uuid4()
    async with db.engine.connect() as conn:
        transaction = await conn.begin()
        late_id = uuid.uuid4()
        late = UnitOfWork(conn, outbox, "/test")
        await late.publish(step(late_case, "late"), CASES_STATUS, event_id=late_id)
        await late.flush()  # the row (and its lower id) exists, uncommitted
        # While that transaction (holding the lower id) stays open, later rows commit and are published.
        early_ids = await write(db, step(early_case, "early-1"), step(early_case, "early-2"))
        assert await relay.publish_batch(producer) == 2
        assert await unpublished(db, early_ids) == set()
        await transaction.commit()

    assert await unpublished(db, [late_id]) == {late_id}, "behind the published ones, yet not skipped"
    assert await relay.publish_batch(producer) == 1
    assert await unpublished(db, [late_id]) == set()
    records = await on_topic(ns, {str(late_case), str(early_case)}, expected=3)
    assert sorted(note for _, _, note in records) == ["early-1", "early-2", "late"]


async def test_events_of_one_case_reach_the_topic_in_the_order_they_were_written(db, ns, producer, clean) -> None:
    cases = [uuid.uuid4() for _ in range(5)]
    notes = [f"step-{i:02d}" for i in range(20)]
    await write(db, *[step(case, note) for note in notes for case in cases])
    relay = relay_for(db, ns, batch_size=7)  # several passes, each a separate transaction
    while await relay.publish_batch(producer):
        pass

    records = await on_topic(ns, {str(c) for c in cases}, expected=100)
    for case in cases:
        assert [note for key, _, note in records if key == str(case)] == notes


async def test_a_bucket_locked_by_another_relay_is_left_to_it(db, ns, producer, clean) -> None:
    relay = relay_for(db, ns, buckets=4)
    cases = [uuid.uuid4() for _ in range(40)]
    ids = dict(zip(cases, await write(db, *[step(c, "x") for c in cases]), strict=True))
    async with db.engine.connect() as conn:
        buckets = dict((await conn.execute(sa.select(outbox.c.event_id, bucket_of(outbox.c.key, 4)))).all())
    async with db.engine.begin() as other:  # another replica is in the middle of a pass on bucket 2
        await other.execute(sa.select(sa.func.pg_advisory_xact_lock(relay.lock_keys[2])))
        published = await relay.publish_batch(producer)
        left = await unpublished(db, list(ids.values()))
    assert left == {event_id for event_id, bucket in buckets.items() if bucket == 2}
    assert published == len(ids) - len(left) and left, "40 cases spread over all four buckets"
    assert await relay.publish_batch(producer) == len(left)


async def test_replicas_running_side_by_side_publish_each_row_once(db, ns, producer, clean) -> None:
    cases = [uuid.uuid4() for _ in range(60)]
    await write(db, *[step(c, "once") for c in cases])
    replicas = [relay_for(db, ns, batch_size=5) for _ in range(3)]

    async def drain(relay: OutboxRelay) -> int:
        total = 0
        for _ in range(200):
            total += await relay.publish_batch(producer)
            if not await unpublished_count(db):
                return total
        return total

    counts = await asyncio.gather(*(drain(r) for r in replicas))
    assert sum(counts) == 60
    records = await on_topic(ns, {str(c) for c in cases}, expected=60)
    assert len({event_id for _, event_id, _ in records}) == len(records) == 60


async def unpublished_count(db: Database) -> int:
    async with db.engine.connect() as conn:
        return await conn.scalar(sa.select(sa.func.count()).where(outbox.c.published_at.is_(None)))


class RefusingProducer:
    """Accepts sends, then the broker never acknowledges them."""

    async def send(self, *args, **kwargs) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        future.set_exception(KafkaTimeoutError("no ack within request.timeout.ms"))
        return future


async def test_rows_stay_unpublished_until_the_broker_acknowledges_them(db, ns, producer, clean) -> None:
    relay = relay_for(db, ns)
    started, delays_before = time.time(), delays()
    ids = await write(db, step(uuid.uuid4(), "a"), step(uuid.uuid4(), "b"))
    with pytest.raises(KafkaTimeoutError):
        await relay.publish_batch(RefusingProducer())
    assert await unpublished(db, ids) == set(ids)
    assert delays() == delays_before, "a refused row is not published, so it has no delay yet"
    assert await relay.publish_batch(producer) == 2
    count, total = (after - before for after, before in zip(delays(), delays_before, strict=True))
    assert count == 2, "each published row's delay is observed once"
    assert 0 < total <= 2 * (time.time() - started), "each row's age: written in this test, published just now"
    async with db.engine.connect() as conn:  # acknowledged rows leave the outbox at once, not marked for later
        assert not (await conn.execute(sa.select(outbox.c.id).where(outbox.c.event_id.in_(ids)))).all()


async def test_published_rows_are_deleted_after_retention_in_batches(db, ns, clean) -> None:
    relay = relay_for(db, ns, cleanup_batch=10)
    old = await write(db, *[step(uuid.uuid4(), "old") for _ in range(25)])
    recent = await write(db, step(uuid.uuid4(), "recent"))
    pending = await write(db, step(uuid.uuid4(), "pending"))
    async with db.engine.begin() as conn:
        now = datetime.now(UTC)
        await conn.execute(
            sa.update(outbox).where(outbox.c.event_id.in_(old)).values(published_at=now - timedelta(hours=2))
        )
        await conn.execute(sa.update(outbox).where(outbox.c.event_id.in_(recent)).values(published_at=now))

    assert await relay.delete_published(datetime.now(UTC) - timedelta(hours=1)) == 25
    async with db.engine.connect() as conn:
        left = set((await conn.execute(sa.select(outbox.c.event_id))).scalars())
    assert left == {*recent, *pending}


async def test_a_producer_that_cannot_go_on_is_replaced_and_the_rows_still_go_out(db, ns, producer, clean) -> None:
    """After a broker restart loses an idempotent producer's state, every send fails with OutOfOrderSequenceNumber
    for ever (the CI chaos run once hung on it). The relay asks for a new producer instead of retrying the old."""
    from aiokafka.errors import OutOfOrderSequenceNumber

    from gridloop.delivery.kafka import ProducerSlot

    class Broken(AIOKafkaProducer):  # a real producer whose sender died, as aiokafka leaves it
        async def send(self, *args, **kwargs):
            raise OutOfOrderSequenceNumber()

    broken = Broken(bootstrap_servers=ns.bootstrap)
    slot, renewed = ProducerSlot(), []
    slot.set(broken)

    async def renew(old: AIOKafkaProducer) -> None:
        renewed.append(old)
        slot.set(producer)

    relay = OutboxRelay(db, slot, ns.kafka(), renew_producer=renew, poll_interval=0.05)
    case = uuid.uuid4()
    ids = await write(db, step(case, "before-renewal-1"), step(case, "before-renewal-2"))
    task = asyncio.create_task(relay.run())
    try:

        async def all_published() -> bool:
            return not await unpublished(db, ids)

        await wait_for(all_published, timeout=20, what="rows published with the new producer")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert renewed == [broken]
    assert [note for _key, _id, note in await on_topic(ns, {str(case)}, 2)] == ["before-renewal-1", "before-renewal-2"]


async def test_after_commit_callbacks_run_once_after_the_commit_and_never_after_a_rollback(db: Database) -> None:
    calls: list[str] = []

    def woken() -> None:
        calls.append("woken")

    async with db.unit_of_work() as uow:
        uow.after_commit(woken)
        uow.after_commit(woken)  # registered twice, runs once
        await uow.conn.execute(sa.text("SELECT 1"))
        assert calls == [], "not before the commit"
    assert calls == ["woken"]

    calls.clear()
    with pytest.raises(RuntimeError):
        async with db.unit_of_work() as uow:
            uow.after_commit(woken)
            raise RuntimeError("the handler failed")
    assert calls == [], "a rolled-back unit of work wakes nobody"
