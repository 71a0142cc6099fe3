"""Departments' handlers: receive dispatched cases; sign for, work, resolve or return them; record feedback."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from gridloop.contracts.events import (
    CaseDispatched,
    CaseStatusChanged,
    FeedbackDetail,
    ProgressDetail,
    ResolvedDetail,
    ReturnedDetail,
    ReturnReason,
    SignedDetail,
)
from gridloop.delivery.consumer import Delivery
from gridloop.delivery.db import UnitOfWork
from services.departments import metrics, tasks
from services.departments.duplicates import link_duplicates
from services.departments.reopen import resolution_step
from services.departments.sla import deadline_rows, deadline_windows, start_deadline_rows
from services.departments.steps import (
    InvalidTransition,
    Step,
    WorkItemNotFound,
    linked_rows,
    lock_work_item,
    record_step,
    record_steps,
    step_event_id,
)
from services.departments.tables import extensions, feedback, returns, work_items
from services.departments.working_time import Deadlines, Timeline

__all__ = ["InvalidTransition", "WorkItemNotFound"]
log = logging.getLogger(__name__)

RETURN_REASONS: dict[ReturnReason, str] = {
    "not_our_remit": "不属于本部门职责",
    "wrong_area": "不属于本辖区",
    "insufficient_information": "信息不足，无法办理",
}


async def receive_dispatches(
    items: list[tuple[CaseDispatched, Delivery]], uow: UnitOfWork, *, deadlines: Deadlines
) -> None:
    """Create (or, for a later dispatch of the same case, replace) the departments' work items of a run of
    dispatches, start their clocks and link each to an open case it duplicates: one statement per table for the
    run, leaving the database as receiving them one by one would. A case twice in the run splits it."""
    chunk: dict[uuid.UUID, CaseDispatched] = {}
    for event, _delivery in items:
        if event.case_id in chunk:
            await _receive(list(chunk.values()), uow, deadlines)
            chunk = {}
        chunk[event.case_id] = event
    await _receive(list(chunk.values()), uow, deadlines)


async def _receive(events: list[CaseDispatched], uow: UnitOfWork, deadlines: Deadlines) -> None:
    if not events:
        return
    await deadlines.refresh(uow.conn)
    items = [_work_item(e, deadlines.timeline(e.item_code)) for e in events]
    written = {row.case_id: row for row in await uow.conn.execute(_UPSERT_WORK_ITEM, items)}
    # A case missing from `written` had a later dispatch already: this one is old news.
    fresh = [(event, written[event.case_id]) for event in events if event.case_id in written]
    if not fresh:
        return
    clocks = []
    for event, _row in fresh:
        windows = deadline_windows(event.resolve_hours)
        clocks += deadline_rows(
            event.case_id,
            dispatch_no=event.dispatch_no,
            start=event.dispatched_at,
            windows=windows,
            timeline=deadlines.timeline(event.item_code),
        )
        metrics.WORK_ITEMS_RECEIVED.labels(event.department, event.item_code).inc()
        if event.dispatch_no == 1:  # a re-dispatch after a return would measure the return, not the pipeline
            metrics.REPORT_TO_DEPARTMENT.labels(event.department).observe(seconds_since(event.reported_at))
    await start_deadline_rows(uow, clocks)
    await tasks.start_tasks(uow, [tasks.task_row(row._asdict()) for _event, row in fresh])
    await link_duplicates(uow, [row for _event, row in fresh])


def _work_item(event: CaseDispatched, timeline: Timeline) -> dict[str, Any]:
    windows = deadline_windows(event.resolve_hours)
    place = event.placed  # the boundaries' grid, community and street: what duplicates and rates use
    return dict(
        case_id=event.case_id,
        department=event.department,
        item_code=event.item_code,
        item_name_zh=event.item_name_zh,
        status="dispatched",
        description=event.description,
        grid_id=place.grid_id,
        community_id=place.community_id,
        street=place.street,
        reported_grid_id=event.grid_id,
        location=event.location.model_dump(mode="json") if event.location else None,
        resident_name_masked=event.resident_name_masked,
        resident_phone_masked=event.resident_phone_masked,
        dispatch_no=event.dispatch_no,
        dispatched_at=event.dispatched_at,
        resolve_hours=event.resolve_hours,
        sign_deadline=timeline.add(event.dispatched_at, windows["sign"]),
        resolve_deadline=timeline.add(event.dispatched_at, windows["resolve"]),
        signed_at=None,
        signed_by=None,
        resolved_at=None,
        result=None,
        primary_case_id=None,
        suspected_duplicate_of=None,
        duplicate_score=None,
        photo_urls=event.photo_urls,
        updated_at=event.dispatched_at,
    )


_insert = insert(work_items)
_REPLACED = [c.name for c in work_items.c if c.name not in ("case_id", "returns")]
# Rows as parameters (one cached multi-row INSERT); an older dispatch of a case re-dispatched since changes nothing.
_UPSERT_WORK_ITEM = _insert.on_conflict_do_update(
    index_elements=["case_id"],
    set_={name: _insert.excluded[name] for name in _REPLACED},
    where=work_items.c.dispatch_no < _insert.excluded.dispatch_no,
).returning(*work_items.c)


def seconds_since(moment: datetime) -> float:
    """Wall-clock seconds since moment (pipeline latency, so not the injectable business clock)."""
    return max((datetime.now(UTC) - moment).total_seconds(), 0.0)


async def sign_for(
    uow: UnitOfWork, case_id: uuid.UUID, *, assignee: str, now: datetime, department: str | None = None
) -> None:
    row = await lock_work_item(uow, case_id, "sign", department)
    note = f"{row.item_name_zh}：已签收，承办人{assignee}"
    await record_step(
        uow,
        row,
        status="signed",
        actor=assignee,
        note=note,
        now=now,
        event_id=step_event_id(case_id, row.dispatch_no, "signed"),
        becomes="signed",
        values={"signed_at": now, "signed_by": assignee},
        detail=SignedDetail(within_deadline=now <= row.sign_deadline),
    )
    await tasks.signed(uow, case_id, row.dispatch_no, now)
    # The reporters of its linked duplicates hear it too (their work items stay linked), recorded together. The step
    # has an id of its own: if a duplicate is unlinked later, its own signing is a new step, not a repeat of this one.
    await record_steps(
        uow,
        [
            Step(
                duplicate,
                status="signed",
                actor=assignee,
                note=note,
                now=now,
                event_id=step_event_id(duplicate.case_id, duplicate.dispatch_no, f"signed-with:{case_id}"),
                detail=SignedDetail(primary_case_id=case_id),
            )
            for duplicate in await linked_rows(uow, case_id)
        ],
    )
    metrics.TIME_TO_SIGN.labels(row.department).observe((now - row.dispatched_at).total_seconds())


async def record_progress(
    uow: UnitOfWork,
    case_id: uuid.UUID,
    *,
    assignee: str,
    note: str,
    photo_urls: list[str],
    now: datetime,
    department: str | None = None,
) -> None:
    row = await lock_work_item(uow, case_id, "progress", department)
    await record_step(
        uow,
        row,
        status="in_progress",
        actor=assignee,
        note=note,
        now=now,
        event_id=(step_id := uuid.uuid4()),  # progress notes repeat; each API call is its own step
        becomes="in_progress",
        photo_urls=photo_urls,
    )
    # The note reaches every linked case too (their work items stay linked), each with an id derived from the step.
    await record_steps(
        uow,
        [
            Step(
                duplicate,
                status="in_progress",
                actor=assignee,
                note=note,
                now=now,
                event_id=uuid.uuid5(step_id, str(duplicate.case_id)),
                photo_urls=tuple(photo_urls),
                detail=ProgressDetail(primary_case_id=case_id),
            )
            for duplicate in await linked_rows(uow, case_id)
        ],
    )


async def resolve(
    uow: UnitOfWork,
    case_id: uuid.UUID,
    *,
    result: str,
    assignee: str | None,
    photo_urls: list[str],
    now: datetime,
    department: str | None = None,
) -> None:
    """Resolve a case (办结) and every duplicate linked to it: each reporter's resident hears of it."""
    row = await lock_work_item(uow, case_id, "resolve", department)
    actor = assignee or row.signed_by or row.department
    within = now <= row.resolve_deadline
    for target in [row, *await linked_rows(uow, case_id)]:
        primary_case_id = case_id if target is not row else None
        detail = ResolvedDetail(result=result, within_deadline=within, primary_case_id=primary_case_id)
        await record_step(
            uow,
            target,
            status="resolved",
            actor=actor,
            note=result,
            now=now,
            event_id=step_event_id(target.case_id, target.dispatch_no, await resolution_step(uow, target.case_id)),
            becomes="resolved",
            values={"resolved_at": now, "result": result},
            photo_urls=photo_urls,
            detail=detail,
        )
    await tasks.resolved(uow, case_id, row.dispatch_no, now)
    metrics.TIME_TO_RESOLVE.labels(row.department).observe((now - row.dispatched_at).total_seconds())


async def return_case(
    uow: UnitOfWork,
    case_id: uuid.UUID,
    *,
    reason_code: ReturnReason,
    note: str,
    assignee: str,
    now: datetime,
    department: str | None = None,
) -> None:
    """Return a case (退单) to the router with a reason; its linked duplicates go back with it."""
    if reason_code not in RETURN_REASONS:
        raise InvalidTransition(f"unknown return reason {reason_code!r}")
    row = await lock_work_item(uow, case_id, "return", department)
    for target in [row, *await linked_rows(uow, case_id)]:
        await _return_one(uow, target, reason_code=reason_code, note=note, assignee=assignee, now=now)


async def _return_one(
    uow: UnitOfWork, row: sa.Row[Any], *, reason_code: ReturnReason, note: str, assignee: str, now: datetime
) -> None:
    await uow.conn.execute(
        insert(returns)
        .values(
            case_id=row.case_id,
            dispatch_no=row.dispatch_no,
            department=row.department,
            reason_code=reason_code,
            note=note,
            actor=assignee,
            returned_at=now,
        )
        .on_conflict_do_nothing()
    )
    await record_step(
        uow,
        row,
        status="returned",
        actor=assignee,
        note=f"退单（{RETURN_REASONS[reason_code]}）" + (f"：{note}" if note else ""),
        now=now,
        event_id=step_event_id(row.case_id, row.dispatch_no, "returned"),
        becomes="returned",
        values={"returns": row.returns + 1, "primary_case_id": None},
        detail=ReturnedDetail(reason_code=reason_code, department=row.department, dispatch_no=row.dispatch_no),
    )
    await tasks.returned(uow, row.case_id, row.dispatch_no, now)
    # An extension asked for by the returning department is not the next department's to be granted.
    await uow.conn.execute(
        sa.update(extensions)
        .where(extensions.c.case_id == row.case_id, extensions.c.state == "pending")
        .values(state="withdrawn", decided_by=assignee, decision_note="退单，申请撤回", decided_at=now)
    )
    metrics.RETURNS.labels(row.department, reason_code).inc()


async def record_feedback(event: CaseStatusChanged, uow: UnitOfWork, delivery: Delivery) -> None:
    """Keep the resident's latest rating of a case, for the satisfaction rate."""
    rating = event.detail_as(FeedbackDetail).rating
    if rating is None:
        log.info("feedback for %s without a rating (%r): not counted", event.case_id, rating)
        return
    # The rating belongs to the department task the resident was answered by: the case's dispatch now.
    rated_task = sa.select(work_items.c.dispatch_no).where(work_items.c.case_id == event.case_id).scalar_subquery()
    stmt = insert(feedback).values(case_id=event.case_id, rating=rating, rated_at=event.at, dispatch_no=rated_task)
    stmt = stmt.on_conflict_do_update(
        index_elements=["case_id"],
        set_={
            "rating": stmt.excluded.rating,
            "rated_at": stmt.excluded.rated_at,
            "dispatch_no": stmt.excluded.dispatch_no,
        },
        where=feedback.c.rated_at <= stmt.excluded.rated_at,
    )
    await uow.conn.execute(stmt)
    metrics.FEEDBACK.labels(rating).inc()
