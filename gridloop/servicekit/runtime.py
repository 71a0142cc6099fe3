"""What a running service owns: database, Kafka producer, outbox relay and consumers; started in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from prometheus_client import Counter

from gridloop.auth.privacy import ResidentCipher
from gridloop.auth.revocations import RevocationCache
from gridloop.contracts.events import Event
from gridloop.delivery.consumer import Batched, EventConsumer, Handler
from gridloop.delivery.db import Database
from gridloop.delivery.kafka import ProducerSlot, make_producer
from gridloop.delivery.outbox import OutboxRelay
from gridloop.servicekit.clock import SYSTEM_CLOCK, Clock
from gridloop.servicekit.loop_lag import watch_loop_lag
from gridloop.servicekit.settings import ServiceSettings
from gridloop.servicekit.tracing import Tracing

log = logging.getLogger(__name__)

BACKGROUND_ERRORS = Counter(
    "gridloop_background_errors_total", "Passes of a periodic background task (Runtime.every) that failed", ["task"]
)


async def every(seconds: float, step: Callable[[], Awaitable[Any]], name: str, *, service: str) -> None:
    """Run `step`, then again `seconds` after each pass, for ever. One error policy for every periodic task: a
    failed pass is counted (gridloop_background_errors_total{task}) and logged once with the service, task and
    error (the traceback with the first failure in a row), and the next pass comes as usual."""
    failures = 0
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            BACKGROUND_ERRORS.labels(name).inc()
            message = "%s task %s failed (%d in a row): %s: %s; next pass in %gs"
            args = (service, name, failures, type(exc).__name__, exc, seconds)
            log.warning(message, *args, exc_info=failures == 1)
        else:
            if failures:
                log.info("%s task %s works again after %d failed passes", service, name, failures)
            failures = 0
        await asyncio.sleep(seconds)


class Runtime:
    def __init__(
        self,
        name: str,
        settings: ServiceSettings,
        db: Database,
        *,
        inbox: sa.Table | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.name = name
        self.settings = settings
        self.db = db
        self.inbox = inbox  # the service's inbox table: the consumers' dedupe
        self.clock = clock  # what time it is, for handlers, routes and background loops (tests pass their own)
        self.producer_ready = ProducerSlot()  # `await runtime.producer_ready`: the current producer
        self.relay = OutboxRelay(db, self.producer_ready, settings.kafka, renew_producer=self.renew_producer)
        self.cipher = ResidentCipher.from_settings(settings.auth)  # residents' contact details at rest
        self.revocations = RevocationCache(db)  # revoked credentials, checked on every request
        self.consumers: list[EventConsumer] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._renewing = asyncio.Lock()
        self.tracer: trace.Tracer | None = None  # None: tracing is off

    def consumer(
        self,
        group: str,
        topics: list[str],
        handlers: dict[type[Event], Handler | Batched],
        *,
        wants: Callable[[Event], bool] | None = None,
    ) -> EventConsumer:
        """A consumer group of this service on its database, inbox, Kafka and producer; started with the service."""
        if self.inbox is None:
            raise ValueError(f"{self.name}: a runtime with consumers needs the service's inbox table")
        consumer = EventConsumer(
            group=group,
            topics=topics,
            handlers=handlers,
            wants=wants,
            db=self.db,
            inbox=self.inbox,
            kafka=self.settings.kafka,
            dlt_producer=self.producer_ready,
        )
        self.add_consumer(consumer)
        return consumer

    def every(self, seconds: float, step: Callable[[], Awaitable[Any]], name: str) -> None:
        """Run `step` every `seconds` for the life of the service, with `every`'s error policy."""
        self.add_task(lambda: every(seconds, step, name, service=self.name), name)

    def add_consumer(self, consumer: EventConsumer) -> None:
        consumer.dead_letter_sealer = self.cipher.seal_dead_letter  # no resident contact in clear on a DLT
        consumer.renew_producer = self.renew_producer
        consumer.tracer = self.tracer
        self.consumers.append(consumer)

    def use_tracing(self, tracing: Tracing) -> None:
        """Trace this service's SQL, its outbox relay and its consumers (called before `start`)."""
        self.tracer = tracing.tracer()
        if self.tracer is None:
            return
        tracing.instrument_engine(self.db.engine)
        self.relay.tracer = self.tracer
        for consumer in self.consumers:
            consumer.tracer = self.tracer

    def add_task(self, factory: Callable[[], Coroutine[Any, Any, Any]], name: str) -> None:
        self._tasks.append(asyncio.create_task(self._supervise(factory, name), name=name))

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._start_producer(), name="producer"))
        self.add_task(self.relay.run, "outbox-relay")
        self.add_task(self.revocations.follow, "revocations")
        self.add_task(watch_loop_lag, "loop-lag")
        for consumer in self.consumers:
            self.add_task(consumer.run, f"consumer-{consumer.group}")

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Let consumers finish and commit the batch in hand (bounded), then cancel everything."""
        for consumer in self.consumers:
            consumer.request_stop()
        draining = [t for t in self._tasks if t.get_name().startswith("consumer-")]
        if draining:
            await asyncio.wait(draining, timeout=drain_seconds)
        for task in self._tasks:
            task.cancel()
        # Bounded: a task stuck in a client library must not keep a stopping process alive for ever.
        _, stuck = await asyncio.wait(self._tasks, timeout=10) if self._tasks else (set(), set())
        for task in stuck:
            log.error("%s: task %s did not stop within 10s; exiting without it", self.name, task.get_name())
        if (producer := self.producer_ready.current) is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 10)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.db.dispose(), 10)

    async def _start_producer(self) -> None:
        self.producer_ready.set(await self._connect_producer())

    async def _connect_producer(self) -> AIOKafkaProducer:
        delay = 0.5
        while True:
            producer = make_producer(self.settings.kafka, client_id=f"gridloop-{self.name}")
            try:
                await producer.start()
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await producer.stop()
                log.warning("%s cannot reach Kafka (%s); retrying in %.1fs", self.name, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
                continue
            log.info("%s connected to Kafka at %s", self.name, self.settings.kafka.bootstrap_servers)
            return producer

    async def renew_producer(self, broken: AIOKafkaProducer) -> None:
        """Replace a producer that cannot go on (gridloop.delivery.kafka.PRODUCER_FATAL, e.g. after a broker
        restart lost its producer state); callers that find the same broken producer renew it once."""
        async with self._renewing:
            renewed = self.producer_ready.current is not broken
            if renewed:
                return
            log.error("%s: the Kafka producer cannot go on; replacing it with a new one", self.name)
            self.producer_ready.clear()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(broken.stop(), 10)
            self.producer_ready.set(await self._connect_producer())

    async def _supervise(self, factory: Callable[[], Coroutine[Any, Any, Any]], name: str) -> None:
        """Run a background loop; if it crashes, log once and restart it after a pause.

        Instrumentation is suppressed in background loops: the relay's and the periodic tasks' polls would each
        start a trace of their own every fraction of a second. Consumers and the relay start their spans in the
        trace each record or outbox row carries (gridloop/delivery/tracing.py), and SQL is traced inside those."""
        while True:
            try:
                with suppress_instrumentation():
                    await factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s task %s crashed; restarting in 2s", self.name, name)
                await asyncio.sleep(2)

    async def readiness(self) -> dict[str, bool]:
        checks = {"database": False, "kafka": False, "consumers": all(c.connected for c in self.consumers)}
        try:
            with suppress_instrumentation():  # probes are not traced (tracing.EXCLUDED_URLS): nor is their SQL
                await asyncio.wait_for(self.db.ping(), 2)
            checks["database"] = True
        except Exception:
            pass
        checks["kafka"] = await self._kafka_reachable()
        return checks

    async def _kafka_reachable(self) -> bool:
        if (producer := self.producer_ready.current) is None:
            return False
        try:
            await asyncio.wait_for(producer.client.fetch_all_metadata(), 2)
            return True
        except Exception:
            return False
