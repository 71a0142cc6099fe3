"""Department tasks: one row per dispatch of a case to a department, written next to each step, never replaced by
a later dispatch. The three rates (rates.py) count these rows; the rules are in docs/departments.md."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from gridloop.delivery.db import UnitOfWork
from services.departments.tables import department_tasks

_insert = insert(department_tasks)
# Rows as parameters (one cached statement for a run of dispatches); a dispatch already recorded stays as it is.
_START = _insert.on_conflict_do_nothing(index_elements=["case_id", "dispatch_no"])


def task_row(work_item: dict[str, Any]) -> dict[str, Any]:
    """The task a freshly written work item (a dispatch) starts, from the work item's columns."""
    return {
        "case_id": work_item["case_id"],
        "dispatch_no": work_item["dispatch_no"],
        "department": work_item["department"],
        "item_code": work_item["item_code"],
        "community_id": work_item["community_id"],
        "street": work_item["street"],
        "dispatched_at": work_item["dispatched_at"],
        "sign_deadline": work_item["sign_deadline"],
        "original_deadline": work_item["resolve_deadline"],
        "deadline": work_item["resolve_deadline"],
    }


async def start_tasks(uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    if rows:
        await uow.conn.execute(_START, rows)


def _key(case_id: uuid.UUID, dispatch_no: int) -> sa.ColumnElement[bool]:
    return sa.and_(department_tasks.c.case_id == case_id, department_tasks.c.dispatch_no == dispatch_no)


async def signed(uow: UnitOfWork, case_id: uuid.UUID, dispatch_no: int, at: datetime) -> None:
    t = department_tasks.c
    await uow.conn.execute(
        sa.update(department_tasks)
        .where(_key(case_id, dispatch_no))
        .values(signed_at=sa.func.coalesce(t.signed_at, at))
    )


async def returned(uow: UnitOfWork, case_id: uuid.UUID, dispatch_no: int, at: datetime) -> None:
    t = department_tasks.c
    await uow.conn.execute(
        sa.update(department_tasks)
        .where(_key(case_id, dispatch_no))
        .values(returned_at=sa.func.coalesce(t.returned_at, at))
    )


async def resolved(uow: UnitOfWork, case_id: uuid.UUID, dispatch_no: int, at: datetime) -> None:
    """Only the first resolution is the task's: a later one (after a reopening) does not make it resolved."""
    t = department_tasks.c
    await uow.conn.execute(
        sa.update(department_tasks)
        .where(_key(case_id, dispatch_no))
        .values(first_resolved_at=sa.func.coalesce(t.first_resolved_at, at))
    )


async def reopened(uow: UnitOfWork, case_id: uuid.UUID, dispatch_no: int) -> None:
    t = department_tasks.c
    await uow.conn.execute(sa.update(department_tasks).where(_key(case_id, dispatch_no)).values(reopens=t.reopens + 1))


async def extended(
    uow: UnitOfWork,
    case_id: uuid.UUID,
    dispatch_no: int,
    *,
    move: Callable[[datetime], datetime],
    requested_at: datetime,
) -> None:
    """An approved extension moves the task's deadline (`move`: the deadline after the extension) only if it was
    asked for before the deadline then in force: an extension granted after a breach does not erase it. The
    original deadline never moves."""
    t = department_tasks.c
    deadline = await uow.conn.scalar(sa.select(t.deadline).where(_key(case_id, dispatch_no)).with_for_update())
    if deadline is not None and requested_at <= deadline:
        await uow.conn.execute(
            sa.update(department_tasks).where(_key(case_id, dispatch_no)).values(deadline=move(deadline))
        )


async def linked(uow: UnitOfWork, keys: list[tuple[uuid.UUID, int]]) -> None:
    """Duplicates riding on a primary are worked as the primary's task, not tasks of their own."""
    if keys:
        t = department_tasks.c
        await uow.conn.execute(
            sa.update(department_tasks).where(sa.tuple_(t.case_id, t.dispatch_no).in_(keys)).values(linked=True)
        )


async def unlinked(
    uow: UnitOfWork, case_id: uuid.UUID, dispatch_no: int, *, sign_deadline: datetime, deadline: datetime
) -> None:
    """An unlinked duplicate becomes a task of its own, with the deadlines it gets from the unlinking."""
    await uow.conn.execute(
        sa.update(department_tasks)
        .where(_key(case_id, dispatch_no))
        .values(linked=False, sign_deadline=sign_deadline, original_deadline=deadline, deadline=deadline)
    )
