"""What every work item transition shares: the allowed starting statuses, the row lock, and recording a step
(work item update + activity log + status event through the outbox, in the caller's unit of work)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gridloop.contracts.events import CaseStatusChanged
from gridloop.contracts.topics import CASES_STATUS
from gridloop.delivery.db import UnitOfWork
from services.departments import metrics
from services.departments.tables import activity, work_items


class WorkItemNotFound(LookupError):
    pass


class InvalidTransition(ValueError):
    pass


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
    detail: dict[str, Any] | None = None,
) -> None:
    """Record one step of a case: `becomes` is the work item's new status (None: unchanged)."""
    changes = dict(values or {})
    if becomes is not None:
        changes["status"] = becomes
    await uow.conn.execute(
        sa.update(work_items).where(work_items.c.case_id == row.case_id).values(updated_at=now, **changes)
    )
    await uow.conn.execute(
        sa.insert(activity).values(
            case_id=row.case_id, action=status, actor=actor, note=note, photo_urls=list(photo_urls), at=now
        )
    )
    await uow.publish(
        CaseStatusChanged(
            case_id=row.case_id,
            status=status,
            at=now,
            actor=actor,
            department=row.department,
            item_code=row.item_code,
            note=note,
            detail=detail or {},
        ),
        CASES_STATUS,
        event_id=event_id,
    )
    metrics.TRANSITIONS.labels(row.department, status).inc()
