"""The consumer loop on real Kafka and PostgreSQL: inbox dedupe, deterministic derived ids, graceful stop, and
replaying dead letters after a fix."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from gridloop.admission.admission_list import default_admission_list
from gridloop.auth.privacy import ResidentCipher
from gridloop.auth.settings import AuthSettings
from gridloop.contracts.events import CaseStatusChanged, ResidentContact, derived_event_id
from gridloop.contracts.topics import CASES_STATUS
from gridloop.delivery.consumer import Batched, Delivery, EventConsumer
from gridloop.delivery.db import Database, UnitOfWork
from gridloop.delivery.dead_letters import format_table, read_dead_letters, replay, select
from gridloop.delivery.kafka import Envelope, encode, make_producer
from gridloop.delivery.topic_reader import topic_partitions
from services.intake.tables import inbox, outbox, timeline
from tests.support.polling import wait_for
from tests.support.reports import reported_event

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ns(private_ns):
    """Topics and databases of this module's own: its consumer groups read the status topic from the start and
    write intake's timeline, so events that the session's other modules left there became theirs (unique-key
    violations and hundreds of dead letters when these tests ran after the app suites)."""
    return private_ns


@pytest.fixture(scope="module")
async def db(ns) -> AsyncIterator[Database]:
    database = Database(ns.database_urls["intake"], outbox=outbox, source="/test/consumer")
    yield database
    await database.dispose()


@pytest.fixture(scope="module")
async def producer(ns) -> AsyncIterator[AIOKafkaProducer]:
    kafka_producer = make_producer(ns.kafka(), "test-consumer")
    await kafka_producer.start()
    yield kafka_producer
    await kafka_producer.stop()


def status(case_id: uuid.UUID, note: str) -> CaseStatusChanged:
    return CaseStatusChanged(case_id=case_id, status="in_progress", at=datetime.now(UTC), actor="test", note=note)


async def send(producer: AIOKafkaProducer, ns, event: CaseStatusChanged, event_id: uuid.UUID):
    headers, key, value = encode(Envelope.wrap(event, event_id=event_id, source="/test"))
    return await producer.send_and_wait(ns.kafka().topic(CASES_STATUS), value=value, key=key, headers=headers)


@contextlib.asynccontextmanager
async def consuming(
    ns, db: Database, producer: AIOKafkaProducer, handler: Callable, group: str, wants: Callable | None = None, **kafka
):
    ready: asyncio.Future = asyncio.get_running_loop().create_future()
    ready.set_result(producer)
    consumer = EventConsumer(
        group=group,
        topics=[CASES_STATUS],
        handlers={CaseStatusChanged: handler},
        db=db,
        inbox=inbox,
        kafka=ns.kafka(**kafka),
        dlt_producer=ready,
        wants=wants,
    )
    task = asyncio.create_task(consumer.run())
    try:
        yield consumer, task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def group_name(what: str) -> str:
    return f"test-{what}-{uuid.uuid4().hex[:6]}"


async def test_the_same_event_delivered_twice_has_one_effect(ns, db, producer) -> None:
    effects: list[str] = []

    async def handle(event: CaseStatusChanged, uow: UnitOfWork, delivery: Delivery) -> None:
        effects.append(event.note)

    case_id, event_id, marker = uuid.uuid4(), uuid.uuid4(), uuid.uuid4().hex
    await send(producer, ns, status(case_id, f"once-{marker}"), event_id)
    await send(producer, ns, status(case_id, f"once-{marker}"), event_id)  # redelivered: same ce_id
    await send(producer, ns, status(case_id, f"after-{marker}"), uuid.uuid4())

    async with consuming(ns, db, producer, handle, group_name("dedupe")):
        await wait_for(lambda: _has(effects, f"after-{marker}"), what="the message after the duplicate")
    assert [e for e in effects if e.endswith(marker)] == [f"once-{marker}", f"after-{marker}"]


async def test_a_batched_handler_gets_runs_of_events_in_order_without_duplicates(ns, db, producer) -> None:
    """A `Batched` handler is called once per run of consecutive events of a poll, in their order, each claimed
    once: a redelivered event inside the run is left out."""
    runs: list[list[str]] = []

    async def handle_many(items: list[tuple[CaseStatusChanged, Delivery]], uow: UnitOfWork) -> None:
        runs.append([event.note for event, _ in items])

    case_id, marker = uuid.uuid4(), uuid.uuid4().hex
    ids = [uuid.uuid4() for _ in range(5)]
    for n, event_id in enumerate(ids):
        await send(producer, ns, status(case_id, f"{n}-{marker}"), event_id)
    await send(producer, ns, status(case_id, f"1-{marker}"), ids[1])  # a redelivery of the second
    await send(producer, ns, status(case_id, f"end-{marker}"), uuid.uuid4())

    # A new group reads the topic from the start: the first polls hold many events, ours among them.
    async with consuming(ns, db, producer, Batched(handle_many), group_name("batched")):
        await wait_for(lambda: _has([note for run in runs for note in run], f"end-{marker}"), what="the last event")
    ours = [note for run in runs for note in run if note.endswith(marker)]
    assert ours == [f"{n}-{marker}" for n in range(5)] + [f"end-{marker}"]
    assert max(len(run) for run in runs) > 1  # runs, not one call per event


async def test_a_poison_event_inside_a_run_is_dead_lettered_and_the_rest_of_the_run_applied_once(
    ns, db, producer
) -> None:
    """A run fails as a whole (one transaction); its events are then redone one by one: the others' effects are
    committed exactly once and the poison goes to the dead-letter topic."""

    async def handle_many(items: list[tuple[CaseStatusChanged, Delivery]], uow: UnitOfWork) -> None:
        await uow.conn.execute(
            sa.insert(timeline), [{**event.step_row(delivery.event_id), "actor": "test"} for event, delivery in items]
        )
        if any(event.note.startswith("poison") for event, _ in items):
            raise ValueError("cannot handle this one")  # after writing the run's rows: they must roll back

    group, marker, case_id = group_name("batched-poison"), uuid.uuid4().hex, uuid.uuid4()
    poison_id = uuid.uuid4()
    notes = ["a", "b", "poison", "c", "d"]
    for note in notes:
        await send(producer, ns, status(case_id, f"{note}-{marker}"), poison_id if note == "poison" else uuid.uuid4())

    async def committed() -> list[str]:
        async with db.engine.connect() as conn:
            query = sa.select(timeline.c.note).where(timeline.c.note.endswith(marker))
            return list((await conn.execute(query)).scalars())

    async with consuming(ns, db, producer, Batched(handle_many), group, max_retries=2, retry_backoff_ms=10):

        async def dead_lettered() -> list:
            return select(await read_dead_letters(ns.kafka(), [CASES_STATUS]), group=group, event_ids=[str(poison_id)])

        letters = await wait_for(dead_lettered, what="the poison's dead letter")
        await wait_for(lambda: _done(committed, f"d-{marker}"), what="the event after the poison")
    assert [x.reason for x in letters] == ["ValueError"]
    assert sorted(await committed()) == [f"{n}-{marker}" for n in notes if n != "poison"]  # each once


async def _done(probe, wanted: str) -> bool:
    return wanted in await probe()


async def test_events_the_group_does_not_want_leave_no_trace_and_do_not_hold_it_up(ns, db, producer) -> None:
    """A group that acts only on some statuses passes over the others without a transaction or an inbox row, and
    its committed offset moves past them."""
    effects: list[str] = []

    async def handle(event: CaseStatusChanged, uow: UnitOfWork, delivery: Delivery) -> None:
        effects.append(event.note)

    group, case_id, marker = group_name("wants"), uuid.uuid4(), uuid.uuid4().hex
    skipped_ids = [uuid.uuid4() for _ in range(3)]
    for event_id in skipped_ids:
        await send(producer, ns, status(case_id, f"skip-{marker}"), event_id)
    await send(producer, ns, status(case_id, f"want-{marker}"), uuid.uuid4())

    partitions = await topic_partitions(ns.bootstrap, [ns.kafka().topic(CASES_STATUS)])
    async with consuming(ns, db, producer, handle, group, wants=lambda e: e.note.startswith("want-")) as (consumer, _):
        await wait_for(lambda: _has(effects, f"want-{marker}"), what="the wanted event")
        kafka = consumer._consumer
        ends = await kafka.end_offsets(partitions)

        async def all_committed() -> bool:
            committed = [await kafka.committed(tp) or 0 for tp in partitions]
            return all(offset >= ends[tp] for offset, tp in zip(committed, partitions, strict=True))

        await wait_for(all_committed, what="offsets committed past the events passed over")
    assert [e for e in effects if e.endswith(marker)] == [f"want-{marker}"]
    async with db.engine.connect() as conn:
        claimed = set(
            (await conn.execute(sa.select(inbox.c.event_id).where(inbox.c.consumer_group == group))).scalars()
        )
    assert not claimed & set(skipped_ids), "no inbox row for an event passed over"
    assert claimed, "the wanted event is in the inbox"


async def test_a_redelivery_to_a_new_owner_after_a_crash_is_skipped(ns, db, producer) -> None:
    """The effect committed but the offset did not (a crash in between): the next owner skips the event."""
    effects: list[str] = []

    async def handle(event: CaseStatusChanged, uow: UnitOfWork, delivery: Delivery) -> None:
        effects.append(event.note)

    group, case_id, marker = group_name("crash"), uuid.uuid4(), uuid.uuid4().hex
    await send(producer, ns, status(case_id, f"first-{marker}"), uuid.uuid4())
    async with consuming(ns, db, producer, handle, group):
        await wait_for(lambda: _has(effects, f"first-{marker}"), what="the first effect")
    async with db.engine.begin() as conn:  # forget nothing in the database, but rewind the group's offsets
        assert await conn.scalar(sa.select(sa.func.count()).select_from(inbox).where(inbox.c.consumer_group == group))
    await _rewind(ns, group)
    await send(producer, ns, status(case_id, f"second-{marker}"), uuid.uuid4())
    async with consuming(ns, db, producer, handle, group):
        await wait_for(lambda: _has(effects, f"second-{marker}"), what="the next message")
    assert [e for e in effects if e.endswith(marker)] == [f"first-{marker}", f"second-{marker}"]


async def _rewind(ns, group: str) -> None:
    partitions = await topic_partitions(ns.bootstrap, [ns.kafka().topic(CASES_STATUS)])
    consumer = AIOKafkaConsumer(bootstrap_servers=ns.bootstrap, group_id=ns.kafka().topic(group))
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.commit(dict.fromkeys(partitions, 0))
    finally:
        await consumer.stop()


async def test_derived_event_ids_are_the_same_when_an_event_is_replayed(ns, db) -> None:
    """Routing the same reported event twice (a replay into a restored database) writes the same event ids."""
    from services.router.handlers import publish_outcome
    from tests.support.departments import dispatched

    admission_list = default_admission_list()
    item = admission_list.get("S03")
    source_event_id = uuid.uuid4()

    class Admitted:
        outcome, item_code, department, confidence = "admitted", "S03", item.department, 0.9
        reason, runner_up, features, list_version = "test", None, [], admission_list.version

    reported = _reported_like(dispatched("S03"))

    async def route_once() -> list[uuid.UUID]:
        async with db.engine.connect() as conn:
            transaction = await conn.begin()
            uow = UnitOfWork(conn, outbox, "/test")
            await publish_outcome(
                uow,
                reported,
                Admitted(),
                admission_list=admission_list,
                cipher=ResidentCipher.from_settings(AuthSettings()),
                source_event_id=source_event_id,
                now=datetime.now(UTC),
            )
            written = await uow.flush()
            await transaction.rollback()
            return [envelope.event_id for envelope in written]

    first, replayed = await route_once(), await route_once()
    assert (
        first
        == replayed
        == [  # `forwarded` (the routing status) is written before the dispatch, so it is sent first
            derived_event_id(source_event_id, "routing-status"),
            derived_event_id(source_event_id, "dispatched"),
        ]
    )


def _reported_like(case):
    """A CaseReported for the dispatched test case (only the fields routing reads matter)."""
    return reported_event(
        case_id=case.case_id,
        grid_id=case.grid_id,
        community_id=case.community_id,
        description=case.description,
        occurred_at=case.occurred_at,
        reported_at=case.reported_at,
        resident=ResidentContact(name="张秀英", phone="13812345678"),
        tracking_token="t",
    )


async def test_a_graceful_stop_finishes_the_batch_in_hand_and_commits_its_offsets(ns, db, producer) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    effects: list[str] = []

    group, marker = group_name("stop"), uuid.uuid4().hex

    async def slow(event: CaseStatusChanged, uow: UnitOfWork, delivery: Delivery) -> None:
        if event.note == f"in-hand-{marker}":  # the group also reads the topic's earlier messages
            started.set()
            await release.wait()
        effects.append(event.note)

    sent = await send(producer, ns, status(uuid.uuid4(), f"in-hand-{marker}"), uuid.uuid4())
    async with consuming(ns, db, producer, slow, group) as (consumer, task):
        await asyncio.wait_for(started.wait(), 30)
        consumer.request_stop()  # what SIGTERM does, through the service's lifespan
        release.set()
        await asyncio.wait_for(task, 30)
    assert f"in-hand-{marker}" in effects
    assert await _committed(ns, group, TopicPartition(sent.topic, sent.partition)) > sent.offset


async def _committed(ns, group: str, tp: TopicPartition) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=ns.bootstrap, group_id=ns.kafka().topic(group))
    await consumer.start()
    try:
        return (await consumer.committed(tp)) or 0
    finally:
        await consumer.stop()


async def test_dead_letters_are_listed_and_replayed_after_a_fix(ns, db, producer) -> None:
    fixed = False

    async def buggy(event: CaseStatusChanged, uow: UnitOfWork, delivery: Delivery) -> None:
        if event.note.startswith("bug") and not fixed:
            raise ValueError("a bug in this handler")
        await uow.conn.execute(sa.insert(timeline).values({**event.step_row(delivery.event_id), "actor": "test"}))

    async def committed_effects() -> list[str]:
        """What the handler did, as the committed rows say: a failed batch's rolled-back work is no effect."""
        async with db.engine.connect() as conn:
            return list(
                (await conn.execute(sa.select(timeline.c.note).where(timeline.c.note.endswith(marker)))).scalars()
            )

    async def applied(note: str) -> bool:
        return note in await committed_effects()

    group, marker = group_name("replay"), uuid.uuid4().hex
    bad_id, good_id = uuid.uuid4(), uuid.uuid4()
    await send(producer, ns, status(uuid.uuid4(), f"bug-{marker}"), bad_id)
    await send(producer, ns, status(uuid.uuid4(), f"fine-{marker}"), good_id)
    async with consuming(ns, db, producer, buggy, group, max_retries=2, retry_backoff_ms=10):
        await wait_for(lambda: applied(f"fine-{marker}"), what="the good message")

        async def dead_lettered() -> list:
            # this new group also reads (and dead-letters) the poison earlier tests left on the topic: not ours
            letters = select(await read_dead_letters(ns.kafka(), [CASES_STATUS]), group=group, event_ids=[str(bad_id)])
            return letters

        letters = await wait_for(dead_lettered, what="the dead letter")
        assert [(x.event_id, x.reason, x.original_topic) for x in letters] == [
            (str(bad_id), "ValueError", CASES_STATUS)
        ]
        assert "a bug in this handler" in format_table(letters)

        fixed = True  # the fix is deployed; replay the letter, and the good one too, as a careless operator might
        good_again = [x for x in letters] + [_as_letter(letters[0], good_id)]
        opener = ResidentCipher.from_settings(AuthSettings()).open_dead_letter
        assert await replay(ns.kafka(), good_again, open_value=opener) == 2
        await wait_for(lambda: applied(f"bug-{marker}"), what="the replayed letter applied")
        await send(producer, ns, status(uuid.uuid4(), f"last-{marker}"), uuid.uuid4())
        await wait_for(lambda: applied(f"last-{marker}"), what="the message after the replay")
    assert sorted(await committed_effects()) == sorted([f"fine-{marker}", f"bug-{marker}", f"last-{marker}"])


def _as_letter(template, event_id: uuid.UUID):
    """The good message, as if it had been dead-lettered too: same ce_id as the one already processed."""
    from dataclasses import replace

    headers = tuple((k, str(event_id).encode() if k == "ce_id" else v) for k, v in template.headers)
    event = status(uuid.uuid4(), "fine-again")
    _, key, value = encode(Envelope.wrap(event, event_id=event_id, source="/test"))
    return replace(template, headers=headers, key=key, value=value, at=template.at + timedelta(seconds=1))


async def _has(items: list[str], wanted: str) -> bool:
    return wanted in items


async def _has_all(items: list[str], wanted: list[str]) -> bool:
    return set(wanted) <= set(items)


async def test_offsets_wait_for_the_commit_interval_and_what_a_crash_left_is_redone_without_effect(
    ns, db, producer
) -> None:
    """Offsets go to Kafka at most every `commit_interval_ms`: with a long interval the committed offset stays
    behind an event already applied, a crash (the task cancelled, nothing committed) hands it to the next
    owner again, and the inbox makes that a no-op."""
    effects: list[str] = []

    async def handle(event: CaseStatusChanged, uow: UnitOfWork, delivery: Delivery) -> None:
        effects.append(event.note)

    group, case_id, marker = group_name("interval"), uuid.uuid4(), uuid.uuid4().hex
    first = await send(producer, ns, status(case_id, f"first-{marker}"), uuid.uuid4())
    tp = TopicPartition(first.topic, first.partition)
    async with consuming(ns, db, producer, handle, group, commit_interval_ms=600_000):
        await wait_for(lambda: _has(effects, f"first-{marker}"), what="the first effect")
        await asyncio.sleep(1.5)  # several empty polls: still no commit inside the interval
        # The group's first commit comes after one interval from its start, so nothing is committed yet.
        assert await _committed(ns, group, tp) <= first.offset
    # Cancelled like a crash: the first event is redelivered to the next owner.
    second = await send(producer, ns, status(case_id, f"second-{marker}"), uuid.uuid4())
    async with consuming(ns, db, producer, handle, group):
        await wait_for(lambda: _has(effects, f"second-{marker}"), what="the next message")
        await wait_for(lambda: _is_past(ns, group, tp, second.offset), what="offsets committed within the interval")
    assert [e for e in effects if e.endswith(marker)] == [f"first-{marker}", f"second-{marker}"]


async def _is_past(ns, group: str, tp: TopicPartition, offset: int) -> bool:
    return await _committed(ns, group, tp) > offset


async def test_a_rebalance_commits_the_revoked_partitions_offsets_before_they_move(ns, db, producer) -> None:
    """A member that has applied events but not yet committed their offsets (long interval) commits them when the
    group takes its partitions away, so the new owner starts after them instead of redoing them."""
    effects: list[str] = []

    async def handle(event: CaseStatusChanged, uow: UnitOfWork, delivery: Delivery) -> None:
        effects.append(event.note)

    group, marker = group_name("revoke"), uuid.uuid4().hex
    sent = [await send(producer, ns, status(uuid.uuid4(), f"{n}-{marker}"), uuid.uuid4()) for n in range(12)]
    last = {}
    for record in sent:
        last[TopicPartition(record.topic, record.partition)] = record.offset
    async with consuming(ns, db, producer, handle, group, commit_interval_ms=600_000):
        await wait_for(lambda: _has_all(effects, [f"{n}-{marker}" for n in range(12)]), what="the first effects")
        async with consuming(ns, db, producer, handle, group, commit_interval_ms=600_000) as (second, _):

            async def rebalanced() -> bool:
                return second.connected and bool(second._consumer.assignment())

            await wait_for(rebalanced, what="the rebalance")
            moved = second._consumer.assignment() & last.keys()
            assert moved, "the second member took some of the partitions with our events"
            for tp in moved:
                assert await _committed(ns, group, tp) > last[tp]
    assert sorted(e for e in effects if e.endswith(marker)) == sorted(f"{n}-{marker}" for n in range(12))
