"""The delivery worker: sends pending messages through their channel, with capped exponential backoff.

Rows are claimed with FOR UPDATE SKIP LOCKED, so several notify replicas can deliver side by side."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from gridloop.delivery.db import Database
from services.notify import metrics
from services.notify.channels import Channel, OutgoingMessage, PermanentError, TransientError
from services.notify.settings import NotifySettings
from services.notify.tables import messages, recipients

log = logging.getLogger(__name__)


def _step_time(row: sa.Row) -> datetime:
    """When the step happened (for `received`: when the report reached intake); older rows lack it."""
    step_at = (row.context or {}).get("step_at")
    return datetime.fromisoformat(step_at) if step_at else row.created_at


def backoff(attempts: int, *, base: float, cap: float) -> timedelta:
    return timedelta(seconds=min(base * 2 ** (attempts - 1), cap))


class DeliveryWorker:
    def __init__(self, db: Database, channels: dict[str, Channel], settings: NotifySettings) -> None:
        self._db = db
        self._channels = channels
        self._settings = settings

    async def run(self) -> None:
        while True:
            sent = await self.deliver_due(datetime.now(UTC))
            if sent < self._settings.delivery_batch:
                await asyncio.sleep(self._settings.delivery_poll_seconds)

    async def deliver_due(self, now: datetime) -> int:
        """Try every message that is due; returns how many were attempted."""
        async with self._db.engine.begin() as conn:
            due = (
                await conn.execute(
                    sa.select(messages, recipients.c.resident)
                    .join(recipients, recipients.c.case_id == messages.c.case_id)
                    .where(messages.c.state == "pending", messages.c.next_attempt_at <= now)
                    .order_by(messages.c.id)
                    .limit(self._settings.delivery_batch)
                    .with_for_update(of=messages, skip_locked=True)
                )
            ).all()
            for row in due:
                await conn.execute(
                    sa.update(messages).where(messages.c.id == row.id).values(**await self._attempt(row))
                )
        return len(due)

    async def _attempt(self, row: sa.Row) -> dict:
        attempts = row.attempts + 1
        message = OutgoingMessage(str(row.idempotency_key), row.channel, row.step, row.body, row.resident)
        try:
            await self._channels[row.channel].send(message)
        except TransientError as exc:
            if attempts >= self._settings.max_attempts:
                return self._failed(row, attempts, f"gave up after {attempts} attempts: {exc}")
            metrics.DELIVERIES.labels(row.channel, "retry").inc()
            delay = backoff(attempts, base=self._settings.retry_base_seconds, cap=self._settings.retry_cap_seconds)
            return {"attempts": attempts, "last_error": str(exc), "next_attempt_at": datetime.now(UTC) + delay}
        except (PermanentError, KeyError) as exc:
            return self._failed(row, attempts, str(exc))
        metrics.DELIVERIES.labels(row.channel, "sent").inc()
        now = datetime.now(UTC)
        metrics.REPORT_TO_NOTIFICATION.labels(row.step).observe((now - _step_time(row)).total_seconds())
        return {"attempts": attempts, "state": "sent", "sent_at": now, "last_error": None}

    def _failed(self, row: sa.Row, attempts: int, error: str) -> dict:
        metrics.DELIVERIES.labels(row.channel, "failed").inc()
        log.warning("message %s for step %s failed permanently: %s", row.id, row.step, error)
        return {"attempts": attempts, "state": "failed", "last_error": error}
