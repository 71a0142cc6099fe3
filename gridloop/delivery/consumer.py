"""The consumer loop: decode, dedupe by event id, apply the handler and its outbox writes in one transaction,
commit the Kafka offset only after the database commit. Poison messages go to `<topic>.dlt`.

Crashes, rebalances and shutdown never lose or double an effect: an offset is committed only after the batch's
transaction committed, so anything unfinished is redelivered, and the inbox row written in that same
transaction makes the redelivery a no-op. A graceful stop (`request_stop`, on SIGTERM) lets the batch in hand
finish and commit its offsets before the consumer leaves the group; a partition that moved in a rebalance while
its batch ran is redone by its new owner."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, StatusCode

from gridloop.contracts.events import Event, mask_phones
from gridloop.contracts.topics import dead_letter_topic
from gridloop.delivery import metrics
from gridloop.delivery.db import Database, UnitOfWork, claim_inbox, is_unavailable
from gridloop.delivery.kafka import KafkaSettings, PoisonMessage, decode, producer_is_broken
from gridloop.delivery.tracing import activated, context_of_record, in_span_context

log = logging.getLogger(__name__)

# Below the broker's and producers' 1 MiB default, so the dead letter of any accepted record still fits.
MAX_RECORD_BYTES = 1_000_000
DLT_KEPT_BYTES = 64 * 1024  # what a dead letter keeps of a record over the limit
# (logical topic, value) -> (value to dead-letter, extra headers): residents' contacts never go out in clear.
DeadLetterSealer = Callable[[str, bytes | None], tuple[bytes | None, list[tuple[str, bytes]]]]
DLT_SEALED_HEADER = "gridloop_sealed"  # "resident" (the resident object encrypted) or "value" (the whole value)


@dataclass(frozen=True)
class Delivery:
    """What a handler may know about the message it handles, besides the event."""

    event_id: uuid.UUID
    topic: str  # logical topic name
    time: datetime


Handler = Callable[[Event, UnitOfWork, Delivery], Awaitable[None]]
ManyHandler = Callable[[list[tuple[Any, Delivery]], UnitOfWork], Awaitable[None]]


class Batched:
    """A handler that applies a run of consecutive events in a few statements instead of a few per event.

    `many(items, uow)` receives the events in their order in the poll, already claimed in the inbox, and must
    leave the database as applying them one by one would. Consecutive events for the same `Batched` handler
    form a run; any other handler between them ends the run, so effects keep their order across handlers. A
    retried or single event is a run of one. Wrap with `Batched(many)`."""

    def __init__(self, many: ManyHandler) -> None:
        self.many = many

    async def __call__(self, event: Event, uow: UnitOfWork, delivery: Delivery) -> None:
        await self.many([(event, delivery)], uow)


class Statuses:
    """`wants` for a group that acts on a few statuses of the status topic (the router's returns, departments'
    feedback and reopening): most status events are for other groups, and one whose record does not even contain
    one of the statuses as a JSON string is passed over before it is decoded (decoding was most of such a group's
    work). A record that does contain one is decoded and its `status` checked, so a status named in a note is no
    false positive; a status cannot hide from the byte check, as our producers write JSON strings as they are."""

    def __init__(self, *statuses: str) -> None:
        self.statuses = frozenset(statuses)
        self._needles = tuple(json.dumps(status).encode() for status in sorted(self.statuses))

    def __call__(self, event: Event) -> bool:
        return getattr(event, "status", None) in self.statuses

    def may_want(self, value: bytes | None) -> bool:
        return value is None or any(needle in value for needle in self._needles)


@dataclass(frozen=True)
class _Work:
    record: ConsumerRecord
    event: Event
    handler: Handler | Batched
    delivery: Delivery


@dataclass
class _Traced:
    """The spans of one poll's work: a CONSUMER span per record, child of the trace context the record carries,
    from its decoding to its transaction's commit. A poll of one record runs its transaction in that span; a poll of
    several runs it in a batch span linked to each record's span, and the events a record's handler publishes
    continue that record's trace (the unit of work's `trace_parents`, by case)."""

    spans: list[trace.Span]
    records: list[Context]
    batch: Context
    batch_span: trace.Span | None
    by_key: dict[str, Context]

    @classmethod
    def start(cls, tracer: trace.Tracer, group: str, work: list[_Work]) -> _Traced:
        spans = [
            tracer.start_span(
                f"process {item.delivery.topic}",
                context_of_record(item.record.headers) or Context(),
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.destination.name": item.delivery.topic,
                    "messaging.consumer.group.name": group,
                    "messaging.message.id": str(item.delivery.event_id),
                    "messaging.kafka.message.key": item.event.key,
                    "messaging.destination.partition.id": str(item.record.partition),
                    "messaging.kafka.offset": item.record.offset,
                    "gridloop.event_type": item.event.event_type,
                },
            )
            for item in work
        ]
        records = [in_span_context(span) for span in spans]
        batch_span = None
        if len(spans) == 1:
            batch = records[0]
        else:
            batch_span = tracer.start_span(
                f"process batch {group}",
                Context(),
                kind=SpanKind.CONSUMER,
                links=[Link(span.get_span_context()) for span in spans],
                attributes={"messaging.system": "kafka", "messaging.batch.message_count": len(spans)},
            )
            batch = in_span_context(batch_span)
        by_key = {item.event.key: context for item, context in zip(work, records, strict=True)}
        return cls(spans, records, batch, batch_span, by_key)

    def end(self, outcomes: list[str]) -> None:
        for span, outcome in zip(self.spans, outcomes, strict=True):
            span.set_attribute("gridloop.outcome", outcome)
            if outcome == "dead_lettered":
                span.set_status(StatusCode.ERROR, "dead-lettered")
            span.end()
        if self.batch_span is not None:
            self.batch_span.end()


class EventConsumer:
    """Consumes logical topics for one consumer group and dispatches events by type to handlers."""

    def __init__(
        self,
        *,
        group: str,
        topics: list[str],
        handlers: dict[type[Event], Handler | Batched],
        db: Database,
        inbox: sa.Table,
        kafka: KafkaSettings,
        dlt_producer: Awaitable[AIOKafkaProducer],  # a future, or the runtime's ProducerSlot
        wants: Callable[[Event], bool] | None = None,
    ) -> None:
        self.group = group
        # Events this group has no effect for (say, every status but `returned`) are passed over without a
        # transaction or an inbox row: nothing to do means nothing to make exactly-once.
        self._wants = wants
        # `Statuses` can tell from a record's bytes that it is not wanted, before it is decoded.
        self._may_want: Callable[[bytes | None], bool] | None = getattr(wants, "may_want", None)
        self.topics = topics
        self._handlers = handlers
        self._db = db
        self._inbox = inbox
        self._kafka = kafka
        self._dlt_producer = dlt_producer
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()
        self.connected = False
        self._pending: dict[TopicPartition, int] = {}  # offsets of committed transactions, not yet in Kafka
        self._next_commit = 0.0  # set when `run` starts, then after each interval's commit
        self.dead_letter_sealer: DeadLetterSealer | None = None
        self.renew_producer: Callable[[AIOKafkaProducer], Awaitable[None]] | None = None
        self.tracer: trace.Tracer | None = None  # set when the service's tracing is on

    def request_stop(self) -> None:
        """Finish the batch in hand, commit its offsets, then leave the group (`run` returns)."""
        self._stopping.set()

    async def run(self) -> None:
        self._consumer = await self._start_consumer()
        self._next_commit = time.monotonic() + self._kafka.commit_interval_ms / 1000
        try:
            while not self._stopping.is_set():
                batches = await self._consumer.getmany(timeout_ms=500, max_records=self._kafka.poll_max_records)
                if batches:
                    # One transaction for the whole poll (each partition's records stay in order); its offsets are
                    # committed with the next offset commit, never before this transaction committed.
                    await self._process_batch([record for records in batches.values() for record in records])
                    self._pending.update({tp: records[-1].offset + 1 for tp, records in batches.items()})
                if time.monotonic() >= self._next_commit:
                    await self._commit_pending()
                    self._next_commit = time.monotonic() + self._kafka.commit_interval_ms / 1000
                await self._record_lag()
            await self._commit_pending()  # a graceful stop leaves nothing for the next owner to redo
        finally:
            self.connected = False
            await self._consumer.stop()

    async def _commit_pending(self, partitions: Collection[TopicPartition] | None = None) -> None:
        """Commit the offsets of the polls whose transactions committed (of `partitions`, or all of them).

        Offsets go to Kafka at most every `commit_interval_ms`, not after every poll: a commit is a round trip to
        the group coordinator and a write to its log, and at a few records per poll there was one per event.
        What a crash leaves uncommitted is redelivered and the inbox makes it a no-op; a partition revoked in a
        rebalance has its offsets committed first (`_Revoked`), so its new owner does not even redo it."""
        assert self._consumer is not None
        wanted = list(self._pending if partitions is None else self._pending.keys() & set(partitions))
        due = {tp: self._pending.pop(tp) for tp in wanted}
        # A partition that moved to another member while its batch ran is redone by its new owner; committing
        # it here would fail the whole commit.
        assigned = self._consumer.assignment()
        offsets = {tp: offset for tp, offset in due.items() if tp in assigned}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("offset commit for %s lost in a rebalance (the new owner redoes it): %s", list(offsets), exc)

    async def _start_consumer(self) -> AIOKafkaConsumer:
        delay = 0.5
        while True:
            consumer = AIOKafkaConsumer(
                **self._kafka.client_options(),
                group_id=self._kafka.topic(self.group),
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                isolation_level="read_committed",
            )
            try:
                await consumer.start()
                consumer.subscribe([self._kafka.topic(t) for t in self.topics], listener=_Revoked(self))
                self.connected = True
                log.info("consumer %s subscribed to %s", self.group, self.topics)
                return consumer
            except Exception as exc:
                await consumer.stop()
                log.warning("consumer %s cannot reach Kafka (%s); retrying in %.1fs", self.group, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)

    async def _process_batch(self, records: list[ConsumerRecord]) -> None:
        """Apply a poll's records in one transaction; if anything in it fails, redo them record by record."""
        work: list[_Work] = []
        for record in records:
            if self._may_want is not None and not self._may_want(record.value):
                topic = self._kafka.logical(record.topic)
                metrics.CONSUMED.labels(group=self.group, topic=topic, outcome="skipped").inc()
                continue
            try:
                item = self._decode(record)
            except PoisonMessage as exc:
                await self._dead_letter(record, exc)
                continue
            if self._wants is None or self._wants(item.event):
                work.append(item)
            else:
                metrics.CONSUMED.labels(group=self.group, topic=item.delivery.topic, outcome="skipped").inc()
        if not work:
            return
        traced = _Traced.start(self.tracer, self.group, work) if self.tracer is not None else None
        started = time.perf_counter()
        try:
            with activated(traced.batch if traced else None):
                async with self._db.unit_of_work() as uow:
                    if traced:
                        uow.trace_parents.update(traced.by_key)
                    outcomes = await self._apply_all_in(uow, work)
        except asyncio.CancelledError:
            if traced:
                traced.end(["cancelled"] * len(work))
            raise
        except Exception as exc:
            log.info(
                "batch of %d on %s failed (%s: %s); retrying one by one", len(work), self.group, type(exc).__name__, exc
            )
            outcomes = []
            for n, item in enumerate(work):
                with activated(traced.records[n] if traced else None):
                    outcomes.append(await self._apply_with_retries(item))
        if traced:
            traced.end(outcomes)
        elapsed = (time.perf_counter() - started) / len(work)
        for item, outcome in zip(work, outcomes, strict=True):
            metrics.CONSUMED.labels(group=self.group, topic=item.delivery.topic, outcome=outcome).inc()
            metrics.HANDLER_SECONDS.labels(group=self.group).observe(elapsed)

    def _decode(self, record: ConsumerRecord) -> _Work:
        topic = self._kafka.logical(record.topic)
        if record.value is not None and len(record.value) > MAX_RECORD_BYTES:
            raise PoisonMessage(f"record of {len(record.value)} bytes exceeds {MAX_RECORD_BYTES}")
        event_id, event = decode(record.headers, record.key, record.value)
        handler = self._handlers.get(type(event))
        if handler is None:
            raise PoisonMessage(f"no handler for {type(event).__name__} on {topic}")
        metrics.EVENT_AGE_AT_CONSUME.labels(group=self.group, topic=topic).observe(
            max(time.time() - record.timestamp / 1000, 0)
        )
        delivery = Delivery(event_id=event_id, topic=topic, time=datetime.fromtimestamp(record.timestamp / 1000, UTC))
        return _Work(record, event, handler, delivery)

    async def _apply_with_retries(self, item: _Work) -> str:
        attempt, delivery = 0, item.delivery
        while True:
            attempt += 1
            try:
                async with self._db.unit_of_work() as uow:
                    (outcome,) = await self._apply_all_in(uow, [item])
                    return outcome
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_unavailable(exc):  # the database is down: wait for it, never dead-letter for that
                    log.warning("database unavailable while handling %s: %s; retrying", delivery.event_id, exc)
                    await asyncio.sleep(min(0.5 * attempt, 5))
                    attempt = 0
                    continue
                if attempt >= self._kafka.max_retries:
                    log.exception(
                        "handler failed %d times for event %s on %s", attempt, delivery.event_id, delivery.topic
                    )
                    await self._dead_letter(item.record, exc)
                    return "dead_lettered"
                await asyncio.sleep(self._kafka.retry_backoff_ms / 1000 * 2 ** (attempt - 1))

    async def _apply_all_in(self, uow: UnitOfWork, work: list[_Work]) -> list[str]:
        """Claim the whole batch in the inbox with one statement, then apply the events claimed, in order."""
        claimed = await claim_inbox(
            uow, self._inbox, group=self.group, events=[(item.delivery.event_id, item.delivery.topic) for item in work]
        )
        outcomes = []
        run: list[_Work] = []  # consecutive claimed events of one Batched handler, applied together
        for item in work:
            if item.delivery.event_id in claimed:
                claimed.discard(item.delivery.event_id)  # the same event twice in one batch: the second is a duplicate
                if run and item.handler is not run[0].handler:
                    await _apply_run(run, uow)
                    run = []
                if isinstance(item.handler, Batched):
                    run.append(item)
                else:
                    await item.handler(item.event, uow, item.delivery)
                outcomes.append("processed")
            else:
                metrics.INBOX_DUPLICATES.labels(group=self.group).inc()
                outcomes.append("duplicate")
        if run:
            await _apply_run(run, uow)
        return outcomes

    async def _dead_letter(self, record: ConsumerRecord, exc: BaseException) -> None:
        topic = self._kafka.logical(record.topic)
        reason = type(exc).__name__
        value, extra = record.value, []
        if value is not None and len(value) > MAX_RECORD_BYTES:
            value, extra = value[:DLT_KEPT_BYTES], [("dlt_value_truncated_from", str(len(value)).encode())]
        if self.dead_letter_sealer is not None:
            value, sealed = self.dead_letter_sealer(topic, value)
            extra += sealed
        headers: list[tuple[str, bytes]] = [
            *[(k, v) for k, v in (record.headers or ()) if not k.startswith("dlt_")],
            ("dlt_original_topic", topic.encode()),
            ("dlt_original_partition", str(record.partition).encode()),
            ("dlt_original_offset", str(record.offset).encode()),
            ("dlt_consumer_group", self.group.encode()),
            ("dlt_exception_class", reason.encode()),
            ("dlt_exception_message", mask_phones(str(exc))[:1000].encode()),
            *extra,
        ]
        producer = await self._dlt_producer
        try:
            await producer.send_and_wait(
                self._kafka.topic(dead_letter_topic(topic)), value=value, key=record.key, headers=headers
            )
        except Exception as send_error:
            if producer_is_broken(send_error) and self.renew_producer is not None:
                await self.renew_producer(producer)  # the batch is redone with the new one
            raise
        metrics.DEAD_LETTERS.labels(topic=topic, reason=reason).inc()
        metrics.CONSUMED.labels(group=self.group, topic=topic, outcome="dead_lettered").inc()
        log.error(
            "dead-lettered %s[%d]@%d: %s: %s", topic, record.partition, record.offset, reason, mask_phones(str(exc))
        )

    async def _record_lag(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        lag: dict[str, int] = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            position = await consumer.position(tp)
            topic = self._kafka.logical(tp.topic)
            lag[topic] = lag.get(topic, 0) + max(highwater - position, 0)
        for topic, value in lag.items():
            metrics.CONSUMER_LAG.labels(group=self.group, topic=topic).set(value)


class _Revoked(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka has no type information
    """Commits a revoked partition's pending offsets before the group moves it to another member."""

    def __init__(self, consumer: EventConsumer) -> None:
        self._owner = consumer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._owner._commit_pending(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        pass


async def _apply_run(run: list[_Work], uow: UnitOfWork) -> None:
    handler = run[0].handler
    assert isinstance(handler, Batched)
    await handler.many([(item.event, item.delivery) for item in run], uow)
