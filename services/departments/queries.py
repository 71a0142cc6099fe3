"""Departments' read queries: work lists, one work item with its duplicates and escalation rungs, activity,
extensions and counts. The routes (api.py) call these and hold no SQL themselves."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.contracts.topics import DEPARTMENTS
from services.departments.schemas import (
    ActivityView,
    DepartmentStats,
    ExtensionView,
    Reporter,
    WorkItemPage,
    WorkItemView,
)
from services.departments.sla import LADDER
from services.departments.tables import activity, returns, sla_deadlines, work_items
from services.departments.tables import extensions as extension_requests


async def work_item_page(
    conn: AsyncConnection,
    *,
    department: str | None,
    status: str | None,
    include_linked: bool,
    limit: int,
    offset: int,
    escalated: bool = False,
) -> WorkItemPage:
    """A page of the work list, in dispatch order; duplicates linked to another case only if asked for."""
    conditions = []
    if department:
        conditions.append(work_items.c.department == department)
    if status:
        conditions.append(work_items.c.status == status)
    if not include_linked and status != "linked":
        conditions.append(work_items.c.primary_case_id.is_(None))
    if escalated:  # past the first rung (the assignee) of the supervision ladder
        conditions.append(work_items.c.case_id.in_(sa.select(sla_deadlines.c.case_id).where(sla_deadlines.c.rung > 0)))
    total = await conn.scalar(sa.select(sa.func.count()).select_from(work_items).where(*conditions))
    rows = (
        await conn.execute(
            sa.select(work_items).where(*conditions).order_by(work_items.c.dispatched_at).limit(limit).offset(offset)
        )
    ).all()
    return WorkItemPage(items=await views(conn, rows), total=total or 0)


async def views(conn: AsyncConnection, rows: Sequence[sa.Row[Any]]) -> list[WorkItemView]:
    """Work item views with their linked duplicates, reporters and escalation rungs."""
    ids = [r.case_id for r in rows]
    linked: dict[uuid.UUID, list[sa.Row[Any]]] = {}
    for r in (
        await conn.execute(
            sa.select(work_items)
            .where(work_items.c.primary_case_id.in_(ids), work_items.c.status == "linked")
            .order_by(work_items.c.dispatched_at)
        )
    ).all():
        linked.setdefault(r.primary_case_id, []).append(r)
    rungs: dict[uuid.UUID, dict[str, str]] = {}
    deadlines = sa.select(sla_deadlines.c.case_id, sla_deadlines.c.deadline_name, sla_deadlines.c.rung).where(
        sla_deadlines.c.case_id.in_(ids)
    )
    for case_id, deadline_name, rung in (await conn.execute(deadlines)).all():
        rungs.setdefault(case_id, {})[deadline_name] = LADDER[rung]
    result = []
    for r in rows:
        duplicates_of = linked.get(r.case_id, [])
        result.append(
            WorkItemView.model_validate(
                {
                    **r._asdict(),
                    "linked_case_ids": [d.case_id for d in duplicates_of],
                    "reporters": [Reporter.model_validate(x._asdict()) for x in [r, *duplicates_of]],
                    "escalation": rungs.get(r.case_id, {}),
                }
            )
        )
    return result


async def work_item(conn: AsyncConnection, case_id: uuid.UUID, *, scope: str | None) -> WorkItemView | None:
    """One work item, or None if there is none or it belongs to another department than `scope`."""
    row = (await conn.execute(sa.select(work_items).where(work_items.c.case_id == case_id))).one_or_none()
    if row is None or (scope and row.department != scope):
        return None
    return (await views(conn, [row]))[0]


async def activity_log(conn: AsyncConnection, case_id: uuid.UUID) -> list[ActivityView]:
    rows = (await conn.execute(sa.select(activity).where(activity.c.case_id == case_id).order_by(activity.c.id))).all()
    return [ActivityView.model_validate(r._asdict()) for r in rows]


async def extension_list(conn: AsyncConnection, case_id: uuid.UUID) -> list[ExtensionView]:
    rows = (
        await conn.execute(
            sa.select(extension_requests)
            .where(extension_requests.c.case_id == case_id)
            .order_by(extension_requests.c.requested_at)
        )
    ).all()
    return [ExtensionView.model_validate(r._asdict()) for r in rows]


async def extensions_across_cases(
    conn: AsyncConnection, *, state: str | None, scope: str | None, limit: int
) -> list[ExtensionView]:
    """Extension requests across cases, oldest first; a department sees its own only."""
    query = sa.select(extension_requests).order_by(extension_requests.c.requested_at).limit(limit)
    if state:
        query = query.where(extension_requests.c.state == state)
    if scope:
        query = query.where(extension_requests.c.department == scope)
    return [ExtensionView.model_validate(r._asdict()) for r in (await conn.execute(query)).all()]


async def extension(conn: AsyncConnection, case_id: uuid.UUID, extension_id: uuid.UUID) -> ExtensionView:
    query = sa.select(extension_requests).where(
        extension_requests.c.id == extension_id, extension_requests.c.case_id == case_id
    )
    return ExtensionView.model_validate((await conn.execute(query)).one()._asdict())


async def department_stats(conn: AsyncConnection) -> DepartmentStats:
    """Work items by department and status, and bounces (退单) per department (counts only, no case data)."""
    rows = (
        await conn.execute(
            sa.select(work_items.c.department, work_items.c.status, sa.func.count()).group_by(
                work_items.c.department, work_items.c.status
            )
        )
    ).all()
    bounces = (
        await conn.execute(sa.select(returns.c.department, sa.func.count()).group_by(returns.c.department))
    ).all()
    by_status: dict[str, int] = {}
    by_department: dict[str, dict[str, int]] = {d: {} for d in DEPARTMENTS}
    for department, state, count in rows:
        by_status[state] = by_status.get(state, 0) + count
        by_department.setdefault(department, {})[state] = count
    returns_by_department = {d: 0 for d in DEPARTMENTS} | {department: count for department, count in bounces}
    return DepartmentStats(
        by_status=by_status, by_department=by_department, returns_by_department=returns_by_department
    )
