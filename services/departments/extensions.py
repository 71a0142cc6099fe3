"""Extensions (延期): a department asks for more time with a reason; an operator approves or refuses it.
The resolution deadline moves only on approval."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from gridloop.contracts.events import ExtensionDecidedDetail, ExtensionRequestedDetail
from gridloop.delivery.db import UnitOfWork
from services.departments import metrics, tasks
from services.departments.sla import move_deadline
from services.departments.steps import InvalidTransition, WorkItemNotFound, lock_work_item, record_step
from services.departments.tables import extensions
from services.departments.working_time import Deadlines


async def request_extension(
    uow: UnitOfWork,
    case_id: uuid.UUID,
    *,
    assignee: str,
    reason: str,
    hours: int,
    now: datetime,
    department: str | None = None,
) -> uuid.UUID:
    row = await lock_work_item(uow, case_id, "request_extension", department)
    pending = await uow.conn.scalar(
        sa.select(extensions.c.id).where(extensions.c.case_id == case_id, extensions.c.state == "pending")
    )
    if pending is not None:
        raise InvalidTransition(f"extension {pending} is still waiting for a decision")
    extension_id = uuid.uuid4()
    await uow.conn.execute(
        sa.insert(extensions).values(
            id=extension_id,
            case_id=case_id,
            dispatch_no=row.dispatch_no,
            department=row.department,
            requested_by=assignee,
            reason=reason,
            hours=hours,
            state="pending",
            requested_at=now,
        )
    )
    await record_step(
        uow,
        row,
        status="extension_requested",
        actor=assignee,
        note=f"申请延期{hours}小时：{reason}",
        now=now,
        event_id=uuid.uuid5(extension_id, "requested"),
        detail=ExtensionRequestedDetail(extension_id=extension_id, hours=hours, reason=reason),
    )
    metrics.EXTENSIONS.labels(row.department, "requested").inc()
    return extension_id


async def decide_extension(
    uow: UnitOfWork,
    case_id: uuid.UUID,
    extension_id: uuid.UUID,
    *,
    approve: bool,
    operator: str,
    note: str,
    now: datetime,
    deadlines: Deadlines,
) -> None:
    row = await lock_work_item(uow, case_id, "decide_extension", None)
    await deadlines.refresh(uow.conn)
    timeline = deadlines.timeline(row.item_code)
    query = sa.select(extensions).where(extensions.c.id == extension_id, extensions.c.case_id == case_id)
    request = (await uow.conn.execute(query.with_for_update())).one_or_none()
    if request is None:
        raise WorkItemNotFound(f"extension {extension_id} of case {case_id} not found")
    if request.state != "pending":
        raise InvalidTransition(f"extension {extension_id} was already {request.state}")
    state = "approved" if approve else "refused"
    await uow.conn.execute(
        sa.update(extensions)
        .where(extensions.c.id == extension_id)
        .values(state=state, decided_by=operator, decision_note=note, decided_at=now)
    )
    deadline = row.resolve_deadline
    if approve:
        deadline = timeline.add(deadline, timedelta(hours=request.hours))
        await move_deadline(uow, case_id, "resolve", timedelta(hours=request.hours), now, timeline)
        await tasks.extended(
            uow,
            case_id,
            row.dispatch_no,
            move=lambda deadline: timeline.add(deadline, timedelta(hours=request.hours)),
            requested_at=request.requested_at,
        )
    await record_step(
        uow,
        row,
        status="extension_decided",
        actor=operator,
        note=(
            f"同意延期{request.hours}小时，办结时限调整为{deadline.isoformat(timespec='minutes')}"
            if approve
            else "不同意延期，办结时限不变"
        )
        + (f"：{note}" if note else ""),
        now=now,
        event_id=uuid.uuid5(extension_id, "decided"),
        values={"resolve_deadline": deadline},
        detail=ExtensionDecidedDetail(
            extension_id=extension_id, approved=approve, hours=request.hours, resolve_deadline=deadline
        ),
    )
    metrics.EXTENSIONS.labels(row.department, state).inc()
