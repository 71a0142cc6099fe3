"""Departments' handlers: receive dispatched cases; sign for, work and resolve them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from gridloop.contracts.events import CaseDispatched, CaseStatusChanged
from gridloop.contracts.topics import CASES_STATUS
from gridloop.delivery.consumer import Delivery
from gridloop.delivery.db import UnitOfWork
from services.departments import metrics
from services.departments.tables import activity, work_items


class WorkItemNotFound(LookupError):
    pass


class InvalidTransition(ValueError):
    pass


# action -> statuses it may start from
ALLOWED_FROM: dict[str, frozenset[str]] = {
    "sign": frozenset({"dispatched"}),
    "progress": frozenset({"signed", "in_progress"}),
    "resolve": frozenset({"signed", "in_progress"}),
}


def sign_for_window(resolve_hours: int) -> timedelta:
    """Urgent items (resolution within 12 h) must be signed for within 2 h, others within 24 h."""
    return timedelta(hours=2 if resolve_hours <= 12 else 24)


def step_event_id(case_id: uuid.UUID, dispatch_no: int, step: str) -> uuid.UUID:
    return uuid.uuid5(case_id, f"departments:{dispatch_no}:{step}")


async def receive_dispatch(event: CaseDispatched, uow: UnitOfWork, delivery: Delivery) -> None:
    """Create (or, for a later dispatch of the same case, replace) the department's work item."""
    values = dict(
        case_id=event.case_id,
        department=event.department,
        item_code=event.item_code,
        item_name_zh=event.item_name_zh,
        status="dispatched",
        description=event.description,
        grid_id=event.grid_id,
        community_id=event.community_id,
        location=event.location.model_dump(mode="json") if event.location else None,
        resident_name_masked=event.resident_name_masked,
        resident_phone_masked=event.resident_phone_masked,
        dispatch_no=event.dispatch_no,
        dispatched_at=event.dispatched_at,
        sign_deadline=event.dispatched_at + sign_for_window(event.resolve_hours),
        resolve_deadline=event.dispatched_at + timedelta(hours=event.resolve_hours),
        signed_at=None,
        signed_by=None,
        resolved_at=None,
        result=None,
        updated_at=event.dispatched_at,
    )
    stmt = insert(work_items).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["case_id"], set_=values, where=work_items.c.dispatch_no < stmt.excluded.dispatch_no
    )
    await uow.conn.execute(stmt)
    metrics.WORK_ITEMS_RECEIVED.labels(event.department, event.item_code).inc()
    if event.dispatch_no == 1:  # a re-dispatch after a return would measure the return, not the pipeline
        metrics.REPORT_TO_DEPARTMENT.labels(event.department).observe(_seconds_since(event.reported_at))


def _seconds_since(moment: datetime) -> float:
    return max((datetime.now(UTC) - moment).total_seconds(), 0.0)


async def _lock(uow: UnitOfWork, case_id: uuid.UUID, action: str, department: str | None) -> sa.Row:
    """Lock the work item for this transition, so concurrent steps on one case are serialised."""
    query = sa.select(work_items).where(work_items.c.case_id == case_id).with_for_update()
    row = (await uow.conn.execute(query)).one_or_none()
    if row is None or (department is not None and row.department != department):
        raise WorkItemNotFound(f"work item {case_id} not found")
    if row.status not in ALLOWED_FROM[action]:
        raise InvalidTransition(f"cannot {action} a case that is {row.status}")
    return row


async def _step(
    uow: UnitOfWork,
    row: sa.Row,
    *,
    status: str,
    actor: str,
    note: str,
    now: datetime,
    event_id: uuid.UUID,
    values: dict,
    photo_urls: list[str],
    detail: dict | None = None,
) -> None:
    await uow.conn.execute(
        sa.update(work_items).where(work_items.c.case_id == row.case_id).values(status=status, updated_at=now, **values)
    )
    await uow.conn.execute(
        sa.insert(activity).values(
            case_id=row.case_id, action=status, actor=actor, note=note, photo_urls=photo_urls, at=now
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


async def sign_for(
    uow: UnitOfWork, case_id: uuid.UUID, *, handler: str, now: datetime, department: str | None = None
) -> None:
    row = await _lock(uow, case_id, "sign", department)
    await _step(
        uow,
        row,
        status="signed",
        actor=handler,
        note=f"{row.item_name_zh}：已签收，承办人{handler}",
        now=now,
        event_id=step_event_id(case_id, row.dispatch_no, "signed"),
        values={"signed_at": now, "signed_by": handler},
        photo_urls=[],
    )
    metrics.TIME_TO_SIGN.labels(row.department).observe((now - row.dispatched_at).total_seconds())


async def record_progress(
    uow: UnitOfWork,
    case_id: uuid.UUID,
    *,
    handler: str,
    note: str,
    photo_urls: list[str],
    now: datetime,
    department: str | None = None,
) -> None:
    row = await _lock(uow, case_id, "progress", department)
    await _step(
        uow,
        row,
        status="in_progress",
        actor=handler,
        note=note,
        now=now,
        event_id=uuid.uuid4(),
        values={},
        photo_urls=photo_urls,
    )


async def resolve(
    uow: UnitOfWork,
    case_id: uuid.UUID,
    *,
    result: str,
    handler: str | None,
    photo_urls: list[str],
    now: datetime,
    department: str | None = None,
) -> None:
    row = await _lock(uow, case_id, "resolve", department)
    actor = handler or row.signed_by or row.department
    await _step(
        uow,
        row,
        status="resolved",
        actor=actor,
        note=result,
        now=now,
        event_id=step_event_id(case_id, row.dispatch_no, "resolved"),
        values={"resolved_at": now, "result": result},
        photo_urls=photo_urls,
        detail={"result": result, "within_deadline": now <= row.resolve_deadline},
    )
    metrics.TIME_TO_RESOLVE.labels(row.department).observe((now - row.dispatched_at).total_seconds())
