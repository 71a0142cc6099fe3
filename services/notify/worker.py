"""The delivery worker: sends due messages through their channel, with capped exponential backoff, and holds
non-urgent SMS through the night (quiet hours).

Rows are claimed with FOR UPDATE SKIP LOCKED, so several notify replicas can deliver side by side."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from cryptography.fernet import InvalidToken
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.auth.privacy import ResidentCipher
from gridloop.delivery.db import Database
from gridloop.servicekit.clock import SYSTEM_CLOCK, Clock
from services.notify import metrics
from services.notify.channels import Channel, OutgoingMessage, PermanentError, TransientError
from services.notify.settings import NotifySettings
from services.notify.sms_providers import Deferred
from services.notify.tables import messages, recipients

log = logging.getLogger(__name__)

def backoff(attempts: int, *, base: float, cap: float) -> timedelta:
    return timedelta(seconds=min(base * 2 ** (attempts - 1), cap))


def quiet_until(now: datetime, *, start: time, end: time, tz: ZoneInfo) -> datetime | None:
    """The end of the quiet window `now` falls in (as an aware datetime), or None outside the window."""
    local = now.astimezone(tz)
    clock = local.time()
    overnight = start > end  # 22:00-08:00 spans midnight
    inside = (clock >= start or clock < end) if overnight else (start <= clock < end)
    if not inside:
        return None
    day = local.date() + timedelta(days=1) if overnight and clock >= start else local.date()
    return datetime.combine(day, end, tzinfo=tz)


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        channels: dict[str, Channel],
        settings: NotifySettings,
        *,
        clock: Clock = SYSTEM_CLOCK,
        quiet_channels: frozenset[str] = frozenset({"sms"}),
        cipher: ResidentCipher | None = None,
    ) -> None:
        self._db = db
        self._open = cipher.open if cipher else dict  # residents' contacts are sealed at rest
        self._channels = channels
        self._settings = settings
        self._clock = clock
        self._quiet_channels = quiet_channels
        self._quiet_tz = ZoneInfo(settings.quiet_hours_timezone)
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """New messages were committed (the consumer calls this): send them now, not at the next poll."""
        self._wakeup.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            self._wakeup.clear()  # a commit during the pass sets it again, and its messages get the next pass
            attempted = await self.deliver_due(self._clock.now())
            if attempted < self._settings.delivery_batch:
                await self._wait_for_work(since=started)

    async def _wait_for_work(self, *, since: float) -> None:
        """Until woken, or `delivery_poll_seconds` (retries, the morning after quiet hours, other writers); a wake
        comes no sooner than `delivery_gather_seconds` after the last pass began, so under load a pass sends what
        several commits wrote instead of a pass per commit."""
        try:
            await asyncio.wait_for(self._wakeup.wait(), self._settings.delivery_poll_seconds)
        except TimeoutError:
            return
        rest = since + self._settings.delivery_gather_seconds - asyncio.get_running_loop().time()
        if rest > 0:
            await asyncio.sleep(rest)

    async def deliver_due(self, now: datetime) -> int:
        """Try every message that is due; returns how many were looked at."""
        async with self._db.engine.begin() as conn:
            due = (
                await conn.execute(
                    sa.select(messages, recipients.c.resident, recipients.c.tracking_token)
                    .join(recipients, recipients.c.case_id == messages.c.case_id)
                    .where(messages.c.state.in_(("pending", "held")), messages.c.next_attempt_at <= now)
                    .order_by(messages.c.id)
                    .limit(self._settings.delivery_batch)
                    .with_for_update(of=messages, skip_locked=True)
                )
            ).all()
            sending = asyncio.Semaphore(self._settings.delivery_concurrency)

            async def in_order(rows: list[sa.Row]) -> list[tuple[int, dict]]:
                """One case's messages, one after another in id order: a resident hears "signed" after
                "forwarded", never before."""
                outcomes = []
                for row in rows:
                    outcome = self._hold(row, now)
                    if outcome is None:
                        async with sending:
                            outcome = await self._attempt(row, now)
                    outcomes.append((row.id, outcome))
                return outcomes

            by_case: dict[object, list[sa.Row]] = {}
            for row in due:
                by_case.setdefault(row.case_id, []).append(row)
            # Cases side by side, up to `delivery_concurrency` sends at once: a pass waits out a gateway round trip
            # per case in parallel, not fifty in turn.
            results = await asyncio.gather(*(in_order(rows) for rows in by_case.values()), return_exceptions=True)
            for failure in results:
                if isinstance(failure, BaseException):
                    raise failure  # after every send of the pass finished: the pass is retried as a whole
            await update_messages(conn, [outcome for outcomes in results for outcome in outcomes])
        return len(due)

    def _hold(self, row: sa.Row, now: datetime) -> dict | None:
        """Non-urgent SMS due in quiet hours wait for the morning."""
        if row.channel not in self._quiet_channels or row.urgent or row.step in self._settings.urgent_steps:
            return None
        until = quiet_until(
            now, start=self._settings.quiet_hours_start, end=self._settings.quiet_hours_end, tz=self._quiet_tz
        )
        if until is None:
            return None
        metrics.HELD.labels(row.channel).inc()
        return {"state": "held", "next_attempt_at": until}

    async def _attempt(self, row: sa.Row, now: datetime) -> dict:
        attempts = row.attempts + 1
        try:
            resident = self._open(row.resident)
        except InvalidToken:
            # Sealed with a key this service no longer holds (rotated out too early, or another deployment's):
            # this message can never be sent, and it must not stop the ones behind it.
            return self._failed(row, attempts, "the resident's contact cannot be unsealed with the configured keys")
        message = OutgoingMessage(
            idempotency_key=str(row.idempotency_key),
            channel=row.channel,
            step=row.step,
            body=row.body,
            resident=resident,
            case_id=str(row.case_id),
            link=row.context.get("link", ""),
            context=row.context,
        )
        channel = self._channels.get(row.channel)
        try:
            if channel is None:
                raise PermanentError(f"no channel {row.channel!r}")
            provider_id = await channel.send(message)
        except Deferred as exc:  # a provider's per-number limit: wait for it, without spending an attempt
            metrics.DELIVERIES.labels(row.channel, "deferred").inc()
            return {"state": "pending", "last_error": str(exc), "next_attempt_at": max(exc.retry_at, now)}
        except TransientError as exc:
            if attempts >= self._settings.max_attempts:
                return self._failed(row, attempts, f"gave up after {attempts} attempts: {exc}")
            metrics.DELIVERIES.labels(row.channel, "retry").inc()
            delay = backoff(attempts, base=self._settings.retry_base_seconds, cap=self._settings.retry_cap_seconds)
            return {"attempts": attempts, "state": "pending", "last_error": str(exc), "next_attempt_at": now + delay}
        except PermanentError as exc:
            return self._failed(row, attempts, str(exc))
        metrics.DELIVERIES.labels(row.channel, "sent").inc()
        metrics.REPORT_TO_NOTIFICATION.labels(row.step).observe(max((now - row.created_at).total_seconds(), 0))
        return {
            "attempts": attempts,
            "state": "sent",
            "sent_at": now,
            "last_error": None,
            "provider_message_id": provider_id,
        }

    def _failed(self, row: sa.Row, attempts: int, error: str) -> dict:
        metrics.DELIVERIES.labels(row.channel, "failed").inc()
        log.warning("message %s (%s, %s) failed permanently: %s", row.id, row.step, row.channel, error)
        return {"attempts": attempts, "state": "failed", "last_error": error}


async def update_messages(conn: AsyncConnection, changes_by_id: list[tuple[int, dict]]) -> None:
    """Messages' new values by message id, as one batched update per set of columns changed (the worker's sent,
    retry, held and failed outcomes; the release of messages that waited for a contact) instead of one statement
    per message."""
    by_columns: dict[tuple[str, ...], list[dict]] = {}
    for message_id, changes in changes_by_id:
        columns = tuple(sorted(changes))
        by_columns.setdefault(columns, []).append({"b_id": message_id, **{f"b_{k}": v for k, v in changes.items()}})
    for columns, params in by_columns.items():
        stmt = (
            sa.update(messages)
            .where(messages.c.id == sa.bindparam("b_id"))
            .values({column: sa.bindparam(f"b_{column}") for column in columns})
        )
        await conn.execute(stmt, params)
