"""What every work item transition shares: the allowed starting statuses, the row lock, and recording a step
(work item update + activity log + status event through the outbox, in the caller's unit of work)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gridloop.contracts.events import CaseStatusChanged, NoDetail, StatusDetail
from gridloop.contracts.topics import CASES_STATUS
from gridloop.delivery.db import UnitOfWork
from services.departments import metrics
from services.departments.tables import activity, work_items


class WorkItemNotFound(LookupError):
    pass


class InvalidTransition(ValueError):
    pass


NO_DETAIL = NoDetail()  # frozen, so one instance serves every step without detail
OPEN_STATUSES = frozenset({"dispatched", "signed", "in_progress"})

# action -> statuses it may start from
ALLOWED_FROM: dict[str, frozenset[str]] = {
    "sign": frozenset({"dispatched"}),
    "progress": frozenset({"signed", "in_progress"}),
    "resolve": frozenset({"signed", "in_progress"}),
    "return": OPEN_STATUSES,
    "request_extension": frozenset({"signed", "in_progress"}),
    "decide_extension": frozenset({"signed", "in_progress"}),
    "unlink": frozenset({"linked"}),
    "confirm_duplicate": OPEN_STATUSES,  # and reject: a suspected duplicate is its own open case meanwhile
}


def step_event_id(case_id: uuid.UUID, dispatch_no: int, step: str) -> uuid.UUID:
    return uuid.uuid5(case_id, f"departments:{dispatch_no}:{step}")


async def lock_work_item(uow: UnitOfWork, case_id: uuid.UUID, action: str, department: str | None) -> sa.Row:
    """Lock the work item for this transition, so concurrent steps on one case are serialised.

    A department caller (department set) is told a case of another department does not exist."""
    query = sa.select(work_items).where(work_items.c.case_id == case_id).with_for_update()
    row = (await uow.conn.execute(query)).one_or_none()
    if row is None or (department is not None and row.department != department):
        raise WorkItemNotFound(f"work item {case_id} not found")
    if row.status not in ALLOWED_FROM[action]:
        if row.status == "linked":
            raise InvalidTransition(f"case is linked as a duplicate of {row.primary_case_id}; act on that case")
        raise InvalidTransition(f"cannot {action.replace('_', ' ')} a case that is {row.status}")
    return row


async def linked_rows(uow: UnitOfWork, primary_case_id: uuid.UUID) -> list[sa.Row]:
    """The duplicates riding on a work item, locked."""
    query = (
        sa.select(work_items)
        .where(work_items.c.primary_case_id == primary_case_id, work_items.c.status == "linked")
        .order_by(work_items.c.dispatched_at)
        .with_for_update()
    )
    return list((await uow.conn.execute(query)).all())


@dataclass(frozen=True)
class Step:
    """One step of a case: `becomes` is the work item's new status (None: unchanged), `values` other columns."""

    row: sa.Row
    status: str
    actor: str
    note: str
    now: datetime
    event_id: uuid.UUID
    becomes: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    photo_urls: tuple[str, ...] = ()
    detail: StatusDetail = NO_DETAIL

    def changes(self) -> dict[str, Any]:
        return {**self.values, **({"status": self.becomes} if self.becomes is not None else {})}


async def record_step(
    uow: UnitOfWork,
    row: sa.Row,
    *,
    status: str,
    actor: str,
    note: str,
    now: datetime,
    event_id: uuid.UUID,
    becomes: str | None = None,
    values: dict[str, Any] | None = None,
    photo_urls: Iterable[str] = (),
    detail: StatusDetail = NO_DETAIL,
) -> None:
    """Record one step of a case: `becomes` is the work item's new status (None: unchanged)."""
    step = Step(row, status, actor, note, now, event_id, becomes, dict(values or {}), tuple(photo_urls), detail)
    await record_steps(uow, [step])


async def record_steps(uow: UnitOfWork, steps: list[Step]) -> None:
    """Record steps of different cases as recording them one by one would, in one statement per table (the
    links of a run of dispatches: in a burst of reports about one broken main, most dispatches are linked).
    Every step must change the same columns."""
    if not steps:
        return
    columns = sorted(steps[0].changes())
    if any(sorted(step.changes()) != columns for step in steps):
        raise ValueError("steps recorded together must change the same columns")
    update = (
        sa.update(work_items)
        .where(work_items.c.case_id == sa.bindparam("step_case_id"))
        .values(updated_at=sa.bindparam("step_at"), **{c: sa.bindparam(f"step_{c}") for c in columns})
    )
    await uow.conn.execute(
        update,
        [
            {"step_case_id": s.row.case_id, "step_at": s.now, **{f"step_{c}": v for c, v in s.changes().items()}}
            for s in steps
        ],
    )
    await uow.conn.execute(
        sa.insert(activity),
        [
            {
                "case_id": s.row.case_id,
                "action": s.status,
                "actor": s.actor,
                "note": s.note,
                "photo_urls": list(s.photo_urls),
                "at": s.now,
            }
            for s in steps
        ],
    )
    for s in steps:
        await uow.publish(
            CaseStatusChanged(
                case_id=s.row.case_id,
                status=s.status,
                at=s.now,
                actor=s.actor,
                department=s.row.department,
                item_code=s.row.item_code,
                note=s.note,
                detail=s.detail,
            ),
            CASES_STATUS,
            event_id=s.event_id,
        )
        metrics.TRANSITIONS.labels(s.row.department, s.status).inc()
