"""The outbox relay: publishes committed outbox rows to Kafka in id order, marks them after the broker's ack.

Status-based polling (`published_at IS NULL`) never skips a row whose transaction committed late, unlike a
serial cursor. One relay per service is active at a time: each pass holds a transaction-level advisory lock,
so replicas can run side by side. Rows are marked published in the same transaction that read them, after
every send was acknowledged; a crash in between republishes them, and consumers drop the repeat by event id.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from gridloop.delivery import metrics
from gridloop.delivery.db import Database
from gridloop.delivery.kafka import Envelope, KafkaSettings, encode

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        producer_ready: asyncio.Future[AIOKafkaProducer],
        kafka: KafkaSettings,
        *,
        batch_size: int = 500,
        poll_interval: float = 0.25,
        retention: timedelta = timedelta(hours=1),
    ) -> None:
        self._db = db
        self._producer_ready = producer_ready
        self._kafka = kafka
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retention = retention
        self._lock_key = zlib.crc32(f"outbox-relay:{db.source}".encode())
        self._wakeup = asyncio.Event()
        self.last_error: str | None = None
        db.on_commit(self._wakeup.set)

    async def run(self) -> None:
        producer = await self._producer_ready
        last_cleanup = datetime.now(UTC)
        while True:
            try:
                published = await self.publish_batch(producer)
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database unavailable: keep the rows, try again
                self.last_error = f"{type(exc).__name__}: {exc}"
                metrics.OUTBOX_RELAY_ERRORS.labels(reason=type(exc).__name__).inc()
                log.warning("outbox relay pass failed, will retry: %s", self.last_error)
                published = 0
                await asyncio.sleep(1.0)
            if datetime.now(UTC) - last_cleanup > timedelta(seconds=30):
                await self._cleanup_quietly()
                last_cleanup = datetime.now(UTC)
            if published < self._batch_size:
                await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        try:
            await asyncio.wait_for(self._wakeup.wait(), self._poll_interval)
        except TimeoutError:
            pass
        self._wakeup.clear()

    async def publish_batch(self, producer: AIOKafkaProducer) -> int:
        """Publish one batch of unpublished rows; returns how many were published."""
        outbox = self._db.outbox
        async with self._db.engine.begin() as conn:
            locked = await conn.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(self._lock_key)))
            if not locked:
                return 0
            rows = (
                await conn.execute(
                    sa.select(outbox)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(self._batch_size)
                )
            ).all()
            await self._record_backlog(conn)
            if not rows:
                return 0
            sends = [await self._send(producer, row) for row in rows]  # enqueue in id order
            await asyncio.gather(*sends)  # every ack, or raise and roll back
            await conn.execute(
                sa.update(outbox).where(outbox.c.id.in_([r.id for r in rows])).values(published_at=sa.func.now())
            )
        for row in rows:
            metrics.OUTBOX_PUBLISHED.labels(topic=row.topic).inc()
        return len(rows)

    async def _send(self, producer: AIOKafkaProducer, row: sa.Row) -> asyncio.Future:
        envelope = Envelope(
            event_id=row.event_id,
            event_type=row.event_type,
            source=row.source,
            time=row.event_time,
            key=row.key,
            data=row.payload,
        )
        headers, key, value = encode(envelope)
        return await producer.send(self._kafka.topic(row.topic), value=value, key=key, headers=headers)

    async def _record_backlog(self, conn: sa.ext.asyncio.AsyncConnection) -> None:
        outbox = self._db.outbox
        count, oldest = (
            await conn.execute(
                sa.select(sa.func.count(), sa.func.min(outbox.c.created_at)).where(outbox.c.published_at.is_(None))
            )
        ).one()
        metrics.OUTBOX_BACKLOG.set(count)
        metrics.OUTBOX_OLDEST_AGE.set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0)

    async def _cleanup_quietly(self) -> None:
        """Delete published rows past retention, in batches."""
        outbox = self._db.outbox
        cutoff = datetime.now(UTC) - self._retention
        try:
            async with self._db.engine.begin() as conn:
                doomed = sa.select(outbox.c.id).where(outbox.c.published_at < cutoff).limit(5000).scalar_subquery()
                await conn.execute(sa.delete(outbox).where(outbox.c.id.in_(doomed)))
        except Exception as exc:
            log.warning("outbox cleanup failed: %s", exc)
