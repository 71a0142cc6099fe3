"""Reopening (重新办理): a resident's 不满意 puts the resolved work item back to work for the same department.

Notify publishes `reopened` on the status topic; the department then resolves the case again, and that new
resolution needs its own event id (consumers drop a repeated id), so `resolution_step` numbers the rounds."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import sqlalchemy as sa

from gridloop.contracts.events import CaseStatusChanged
from gridloop.delivery.consumer import Delivery
from gridloop.delivery.db import UnitOfWork
from services.departments import tasks
from services.departments.sla import start_deadlines
from services.departments.tables import activity, sla_deadlines, work_items
from services.departments.working_time import Deadlines

log = logging.getLogger(__name__)


async def reopen_work_item(
    event: CaseStatusChanged, uow: UnitOfWork, delivery: Delivery, *, deadlines: Deadlines
) -> None:
    """On `reopened`, a resolved work item goes back to `signed` (its assignee keeps it), with the resident's note,
    and its resolution clock starts again."""
    if event.status != "reopened":
        return
    row = (
        await uow.conn.execute(sa.select(work_items).where(work_items.c.case_id == event.case_id).with_for_update())
    ).one_or_none()
    if row is None or row.status != "resolved" or (event.department and event.department != row.department):
        log.warning("reopen of %s ignored: work item is %s", event.case_id, row.status if row else "missing")
        return
    # The department gets its item's full resolution window again, on a new clock generation (fresh warnings).
    window_seconds = await uow.conn.scalar(
        sa.select(sla_deadlines.c.window_seconds).where(
            sla_deadlines.c.case_id == event.case_id, sla_deadlines.c.deadline_name == "resolve"
        )
    )
    window = timedelta(seconds=window_seconds) if window_seconds else row.resolve_deadline - row.dispatched_at
    await deadlines.refresh(uow.conn)
    timeline = deadlines.timeline(row.item_code)
    await start_deadlines(
        uow, event.case_id, dispatch_no=row.dispatch_no, start=event.at, windows={"resolve": window}, timeline=timeline
    )
    await tasks.reopened(uow, event.case_id, row.dispatch_no)  # its first resolution did not resolve it
    await uow.conn.execute(
        sa.update(work_items)
        .where(work_items.c.case_id == event.case_id)
        .values(
            status="signed" if row.signed_at else "dispatched",
            resolved_at=None,
            result=None,
            updated_at=event.at,
            resolve_deadline=timeline.add(event.at, window),
        )
    )
    await uow.conn.execute(
        sa.insert(activity).values(
            case_id=event.case_id, action="reopened", actor=event.actor, note=event.note, photo_urls=[], at=event.at
        )
    )


async def resolution_step(uow: UnitOfWork, case_id: uuid.UUID) -> str:
    """`resolved` for the first resolution, `resolved:reopen<n>` after the n-th reopening."""
    rounds = await uow.conn.scalar(
        sa.select(sa.func.count()).where(activity.c.case_id == case_id, activity.c.action == "reopened")
    )
    return f"resolved:reopen{rounds}" if rounds else "resolved"
