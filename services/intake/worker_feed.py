"""Every outcome comes back to the worker who reported the case: intake turns the status events it consumes into
updates for that worker (one per outcome step, in the same transaction as the timeline, keyed by the event id),
serves the worker's reports newest first, and streams their updates as they are written.

The stream reads the table after a cursor (the update id), so it resumes with `Last-Event-ID` and works whichever
replica's consumer wrote the rows: the consumer wakes the streams of its own process at once, the others see the
rows at their next poll."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.admission.referrals import referral_for
from gridloop.contracts.events import (
    CaseStatusChanged,
    EscalationDetail,
    ForwardedDetail,
    ResolvedDetail,
    RoutingDetail,
)
from gridloop.contracts.topics import DEPARTMENT_NAMES_ZH
from gridloop.delivery.consumer import Delivery
from gridloop.delivery.db import UnitOfWork
from services.intake.schemas import WorkerUpdateView
from services.intake.tables import cases, worker_updates

# The steps a reporting worker is told about, and those that need them to act.
WORKER_STEPS = frozenset(
    {
        "received",
        "forwarded",
        "not_admitted",
        "triage",
        "signed",
        "returned",
        "resolved",
        "reopened",
        "closed",
        "escalated",
    }
)
ACTION_NEEDED = frozenset({"not_admitted", "returned", "escalated"})


def update_for(event: CaseStatusChanged) -> tuple[str, dict[str, Any]]:
    """What the worker reads for a step (Chinese) and the details behind it."""
    department = event.department or ""
    department_name = DEPARTMENT_NAMES_ZH.get(department, "")
    item_name = str(getattr(event.detail, "item_name_zh", None) or event.item_code or "")
    detail: dict[str, Any] = {
        "department": event.department,
        "department_name": department_name or None,
        "item_code": event.item_code,
        "item_name": item_name or None,
    }
    match event.status:
        case "received":
            text = "已受理：您上报的问题已生成工单，正在分拨"
        case "forwarded":
            hours = event.detail_as(ForwardedDetail).resolve_hours
            detail["resolve_hours"] = hours
            text = f"已转派：{item_name}，交{department_name}办理" + (f"，办理时限{hours}小时" if hours else "")
        case "not_admitted":
            refer_to = referral_for(event.note, event.detail_as(RoutingDetail).reason_code)
            detail.update(reason=event.note, refer_to=refer_to)
            text = f"不予受理：{event.note}。请告知居民：{refer_to}"
        case "triage":
            detail["reason"] = event.note
            text = f"待人工分拨：{event.note}，研判结果将另行通知"
        case "signed":
            text = f"{department_name or '承办部门'}已签收，正在办理"
        case "returned":
            detail["reason"] = event.note
            text = f"{department_name or '承办部门'}退单：{event.note}。系统将重新分拨，如有补充信息请及时补充"
        case "resolved":
            detail["result"] = event.detail_as(ResolvedDetail).result or event.note
            text = f"已办结：{detail['result']}"
        case "reopened":
            text = f"居民对办理结果不满意，已重新交{department_name or '承办部门'}办理"
        case "closed":
            text = f"已结案：{event.note}"
        case _:  # escalated
            detail.update(level=event.detail_as(EscalationDetail).level, reason=event.note)
            text = f"已提请督办：{event.note}"
    return text, detail


async def record_worker_updates(items: list[tuple[CaseStatusChanged, Delivery]], uow: UnitOfWork) -> int:
    """Add the outcome steps of a run of status events to their reporting workers' feeds; returns how many rows
    were new (a redelivered event adds none: the event id is unique)."""
    told = [(event, delivery) for event, delivery in items if event.status in WORKER_STEPS]
    if not told:
        return 0
    case_ids = list({event.case_id for event, _ in told})
    reporters = dict(
        (
            await uow.conn.execute(sa.select(cases.c.case_id, cases.c.worker_id).where(cases.c.case_id.in_(case_ids)))
        ).all()
    )
    rows = []
    for event, delivery in told:
        worker_id = reporters.get(event.case_id)
        if worker_id is None:
            continue  # not a case intake took (another deployment's event)
        text, detail = update_for(event)
        rows.append(
            {
                "event_id": delivery.event_id,
                "worker_id": worker_id,
                "case_id": event.case_id,
                "status": event.status,
                "at": event.at,
                "text": text,
                "detail": detail,
                "action_needed": event.status in ACTION_NEEDED,
            }
        )
    if not rows:
        return 0
    inserted = await uow.conn.execute(
        insert(worker_updates).on_conflict_do_nothing(index_elements=["event_id"]).returning(worker_updates.c.id), rows
    )
    return len(inserted.all())


@dataclass(frozen=True)
class ReportSummary:
    case_id: uuid.UUID
    status: str
    reported_at: Any
    updated_at: Any
    description: str
    latest: WorkerUpdateView | None


async def reports_page(
    conn: AsyncConnection, *, worker_id: str, status: str | None, page: int, page_size: int
) -> tuple[int, list[ReportSummary]]:
    """A worker's reports, newest first, with each one's latest update; and how many there are in all."""
    mine = cases.c.worker_id == worker_id
    if status is not None:
        mine = mine & (cases.c.status == status)
    total = await conn.scalar(sa.select(sa.func.count()).select_from(cases).where(mine))
    rows = (
        await conn.execute(
            sa.select(cases.c.case_id, cases.c.status, cases.c.reported_at, cases.c.updated_at, cases.c.description)
            .where(mine)
            .order_by(cases.c.reported_at.desc(), cases.c.case_id.desc())
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
    ).all()
    latest: dict[uuid.UUID, sa.Row[Any]] = {}
    if rows:
        query = (
            sa.select(worker_updates)
            .where(worker_updates.c.case_id.in_([r.case_id for r in rows]))
            .ext(distinct_on(worker_updates.c.case_id))
            .order_by(worker_updates.c.case_id, worker_updates.c.id.desc())
        )
        latest = {u.case_id: u for u in await conn.execute(query)}
    return total or 0, [
        ReportSummary(r.case_id, r.status, r.reported_at, r.updated_at, r.description, _view(latest.get(r.case_id)))
        for r in rows
    ]


def _view(update: sa.Row[Any] | None) -> WorkerUpdateView | None:
    return None if update is None else WorkerUpdateView.model_validate(update._asdict())


async def updates_after(
    conn: AsyncConnection, *, worker_id: str, after: int, limit: int = 100
) -> list[WorkerUpdateView]:
    """The worker's updates after the cursor `after`, oldest first."""
    query = (
        sa.select(worker_updates)
        .where(worker_updates.c.worker_id == worker_id, worker_updates.c.id > after)
        .order_by(worker_updates.c.id)
        .limit(limit)
    )
    return [WorkerUpdateView.model_validate(row._asdict()) for row in await conn.execute(query)]


async def last_update_id(conn: AsyncConnection, *, worker_id: str) -> int:
    query = sa.select(sa.func.max(worker_updates.c.id)).where(worker_updates.c.worker_id == worker_id)
    return int(await conn.scalar(query) or 0)


async def feed_stats(conn: AsyncConnection) -> dict[str, Any]:
    by_status: dict[str, int] = dict(
        (
            await conn.execute(sa.select(worker_updates.c.status, sa.func.count()).group_by(worker_updates.c.status))
        ).all()
    )
    workers = await conn.scalar(sa.select(sa.func.count(sa.distinct(worker_updates.c.worker_id))))
    action = await conn.scalar(sa.select(sa.func.count()).where(worker_updates.c.action_needed))
    return {"workers_told": workers or 0, "updates": by_status, "action_needed": action or 0}


class FeedSignal:
    """Wakes this process's open streams when the consumer committed new updates. A stream takes `next_change()`
    before it reads, so a change committed between its read and its wait is not missed."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    def next_change(self) -> asyncio.Event:
        return self._event
