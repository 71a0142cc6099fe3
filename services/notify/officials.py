"""Escalation reaches the officials who must act (督办): when a case reaches a rung of the supervision ladder
(an `escalated` step: the SLA ladder's department_head / district_supervisor, or the district after repeated
dissatisfaction), each active official listed for that department and level (or for every department, '*') gets
one message: the case, the item, how late, a link. Messages are written with the step, in the consumer's
transaction (one per step and official: the key derives from both), and sent by `OfficialsDelivery` through the
same channels as residents' messages (SMS if the official has a phone, else e-mail, else webhook)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.contracts.events import CaseStatusChanged, EscalationDetail
from gridloop.contracts.topics import DEPARTMENT_NAMES_ZH
from gridloop.delivery.consumer import Delivery
from gridloop.delivery.db import Database, UnitOfWork
from gridloop.servicekit.clock import Clock
from services.notify import metrics
from services.notify.channels import Channel, OutgoingMessage, PermanentError, TransientError
from services.notify.schemas import OfficialIn, OfficialMessageView, OfficialView
from services.notify.sms_providers import Deferred
from services.notify.sms_templates import OFFICIAL_STEP
from services.notify.tables import case_steps, official_messages, officials
from services.notify.worker import backoff

log = logging.getLogger(__name__)

LEVELS: dict[str, str] = {"handler": "科长", "department_head": "分管领导", "district_supervisor": "区督办办"}
DEADLINE_ZH = {"sign": "签收", "resolve": "办结"}
EVERY_DEPARTMENT = "*"


def case_number(case_id: uuid.UUID) -> str:
    return str(case_id).replace("-", "")[:10].upper()


def how_late(seconds: float) -> str:
    minutes = max(int(seconds // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days}天" if days else "", f"{hours}小时" if hours else "", f"{minutes}分钟" if minutes else ""]
    return "".join(parts) or "不到1分钟"


def official_context(event: CaseStatusChanged, *, late_seconds: float | None, link: str) -> dict[str, Any]:
    detail = event.detail_as(EscalationDetail)
    level = detail.level or "district_supervisor"
    if detail.reason == "resident_dissatisfied":
        what = "居民多次评价不满意"
    else:
        what = f"{DEADLINE_ZH.get(detail.deadline_name or '', '办理')}超时"
        if late_seconds is not None:
            what += how_late(late_seconds)
    return {
        "case_no": case_number(event.case_id),
        "case_id": str(event.case_id),
        "item_name": event.item_code or "",
        "department_name": DEPARTMENT_NAMES_ZH.get(event.department or "", "相关部门"),
        "level": level,
        "level_name": LEVELS.get(level, level),
        "what": what,
        "late_seconds": late_seconds,
        "link": link,
    }


def official_body(context: dict[str, Any]) -> str:
    item = f"{context['item_name']}，" if context["item_name"] else ""
    return (
        f"【金牛网格督办】案件{context['case_no']}（{item}{context['department_name']}）{context['what']}，"
        f"已升级至{context['level_name']}，请督促办理：{context['link']}"
    )


def channel_of(official: sa.Row[Any]) -> str | None:
    if official.phone:
        return "sms"
    if official.email:
        return "email"
    return "webhook" if official.webhook_url else None


async def _late_seconds(conn: AsyncConnection, event: CaseStatusChanged) -> float | None:
    """How late the case is: from the deadline whose breach led here (the latest `sla_breached` step notify saw)."""
    deadline = await conn.scalar(
        sa.select(case_steps.c.detail["deadline"].astext)
        .where(case_steps.c.case_id == event.case_id, case_steps.c.status == "sla_breached")
        .order_by(case_steps.c.at.desc())
        .limit(1)
    )
    if not deadline:
        return None
    return (event.at - datetime.fromisoformat(deadline)).total_seconds()


async def tell_officials(
    items: list[tuple[CaseStatusChanged, Delivery]],
    uow: UnitOfWork,
    *,
    case_url: str,
    now: datetime,
    wake: Callable[[], None] | None = None,
) -> int:
    """Write a message to each official of the rung each `escalated` step reached; returns how many are new."""
    rows = []
    for event, delivery in items:
        if event.status != "escalated":
            continue
        level = event.detail_as(EscalationDetail).level or "district_supervisor"
        listed = (
            await uow.conn.execute(
                sa.select(officials).where(
                    officials.c.active,
                    officials.c.level == level,
                    officials.c.department.in_([event.department or EVERY_DEPARTMENT, EVERY_DEPARTMENT]),
                )
            )
        ).all()
        if not listed:
            metrics.OFFICIALS_UNLISTED.labels(level).inc()
            log.warning("case %s reached %s and no official is listed for %s", event.case_id, level, event.department)
            continue
        context = official_context(
            event, late_seconds=await _late_seconds(uow.conn, event), link=case_url.format(case_id=event.case_id)
        )
        for official in listed:
            channel = channel_of(official)
            rows.append(
                {
                    "idempotency_key": uuid.uuid5(delivery.event_id, f"official:{official.id}"),
                    "case_id": event.case_id,
                    "official_id": official.id,
                    "level": level,
                    "channel": channel or "none",
                    "body": official_body(context),
                    "context": {**context, "official": official.name},
                    "state": "pending" if channel else "failed",
                    "last_error": None if channel else "the official has no phone, e-mail or webhook",
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
    if not rows:
        return 0
    created = (
        await uow.conn.execute(
            insert(official_messages)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(official_messages.c.id),
            rows,
        )
    ).all()
    if created and wake is not None:
        uow.after_commit(wake)
    return len(created)


class OfficialsDelivery:
    """Sends officials' pending messages; retried with backoff like residents' (SKIP LOCKED: replicas side by side)."""

    def __init__(
        self,
        db: Database,
        channels: dict[str, Channel],
        *,
        clock: Clock,
        poll_seconds: float,
        max_attempts: int,
        retry_base: float,
        retry_cap: float,
    ) -> None:
        self._db = db
        self._channels = channels
        self._clock = clock
        self._poll = poll_seconds
        self._max_attempts = max_attempts
        self._retry = (retry_base, retry_cap)
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        while True:
            self._wakeup.clear()
            await self.deliver_due()
            try:
                await asyncio.wait_for(self._wakeup.wait(), self._poll)
            except TimeoutError:
                pass

    async def deliver_due(self, limit: int = 50) -> int:
        now = self._clock.now()
        async with self._db.engine.begin() as conn:
            due = (
                await conn.execute(
                    sa.select(official_messages, officials.c.phone, officials.c.email, officials.c.webhook_url)
                    .join(officials, officials.c.id == official_messages.c.official_id)
                    .where(official_messages.c.state == "pending", official_messages.c.next_attempt_at <= now)
                    .order_by(official_messages.c.id)
                    .limit(limit)
                    .with_for_update(of=official_messages, skip_locked=True)
                )
            ).all()
            for row in due:
                changes = await self._attempt(row, now)
                await conn.execute(
                    sa.update(official_messages).where(official_messages.c.id == row.id).values(**changes)
                )
        return len(due)

    async def _attempt(self, row: sa.Row[Any], now: datetime) -> dict[str, Any]:
        attempts = row.attempts + 1
        message = OutgoingMessage(
            idempotency_key=str(row.idempotency_key),
            channel=row.channel,
            step=OFFICIAL_STEP,
            body=row.body,
            resident={"phone": row.phone, "email": row.email, "webhook_url": row.webhook_url},
            case_id=str(row.case_id),
            link=row.context.get("link", ""),
            context=row.context,
        )
        try:
            channel = self._channels.get(row.channel)
            if channel is None:
                raise PermanentError(f"no channel {row.channel!r}")
            await channel.send(message)
        except Deferred as exc:
            return {"last_error": str(exc), "next_attempt_at": max(exc.retry_at, now)}
        except TransientError as exc:
            if attempts < self._max_attempts:
                metrics.OFFICIAL_MESSAGES.labels(row.channel, "retry").inc()
                delay = backoff(attempts, base=self._retry[0], cap=self._retry[1])
                return {"attempts": attempts, "last_error": str(exc), "next_attempt_at": now + delay}
            return self._failed(row, attempts, f"gave up after {attempts} attempts: {exc}")
        except PermanentError as exc:
            return self._failed(row, attempts, str(exc))
        metrics.OFFICIAL_MESSAGES.labels(row.channel, "sent").inc()
        return {"attempts": attempts, "state": "sent", "sent_at": now, "last_error": None}

    def _failed(self, row: sa.Row[Any], attempts: int, error: str) -> dict[str, Any]:
        metrics.OFFICIAL_MESSAGES.labels(row.channel, "failed").inc()
        log.warning("official message %s (%s) failed: %s", row.id, row.channel, error)
        return {"attempts": attempts, "state": "failed", "last_error": error}


# ---- the list of officials, kept by operators (officials_api.py) ----------------------------------------------
async def list_officials(conn: AsyncConnection) -> list[OfficialView]:
    rows = (await conn.execute(sa.select(officials).order_by(officials.c.department, officials.c.level))).all()
    return [OfficialView.model_validate(r._asdict()) for r in rows]


async def add_official(conn: AsyncConnection, official: OfficialIn, *, now: datetime) -> OfficialView:
    row = (
        await conn.execute(sa.insert(officials).values(**official.model_dump(), updated_at=now).returning(officials))
    ).one()
    return OfficialView.model_validate(row._asdict())


async def change_official(
    conn: AsyncConnection, official_id: int, official: OfficialIn, *, now: datetime
) -> OfficialView | None:
    """The official as changed; None if there is no such official."""
    return await _update_official(conn, official_id, {**official.model_dump(), "updated_at": now})


async def deactivate_official(conn: AsyncConnection, official_id: int, *, now: datetime) -> OfficialView | None:
    """Marks the official inactive (the row stays: messages name it); None if there is no such official."""
    return await _update_official(conn, official_id, {"active": False, "updated_at": now})


async def _update_official(conn: AsyncConnection, official_id: int, values: dict[str, Any]) -> OfficialView | None:
    row = (
        await conn.execute(
            sa.update(officials).where(officials.c.id == official_id).values(**values).returning(officials)
        )
    ).one_or_none()
    return None if row is None else OfficialView.model_validate(row._asdict())


async def messages_to_officials(conn: AsyncConnection, case_id: uuid.UUID) -> list[OfficialMessageView]:
    """What officials were told about a case, in the order it was written."""
    rows = (
        await conn.execute(
            sa.select(official_messages).where(official_messages.c.case_id == case_id).order_by(official_messages.c.id)
        )
    ).all()
    return [OfficialMessageView.model_validate(r._asdict()) for r in rows]
