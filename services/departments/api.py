"""Departments' HTTP API: list, read, sign for, record progress on and resolve work items."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Query, status

from gridloop.contracts.topics import DEPARTMENTS
from gridloop.delivery.db import UnitOfWork
from gridloop.servicekit.app import RuntimeDep
from services.departments import handlers
from services.departments.schemas import (
    DepartmentStats,
    ProgressIn,
    ResolveIn,
    SignIn,
    WorkItemPage,
    WorkItemView,
)
from services.departments.tables import work_items

router = APIRouter(prefix="/v1", tags=["work items"])

DepartmentName = Literal["police", "finance", "street_office"]
WorkStatus = Literal["dispatched", "signed", "in_progress", "resolved"]
ERRORS = {404: {"description": "no such work item"}, 409: {"description": "step not allowed in this status"}}


@router.get("/work-items", response_model=WorkItemPage)
async def list_work_items(
    runtime: RuntimeDep,
    department: DepartmentName | None = None,
    status_: Annotated[WorkStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> WorkItemPage:
    conditions = []
    if department:
        conditions.append(work_items.c.department == department)
    if status_:
        conditions.append(work_items.c.status == status_)
    async with runtime.db.engine.connect() as conn:
        total = await conn.scalar(sa.select(sa.func.count()).select_from(work_items).where(*conditions))
        rows = (
            await conn.execute(
                sa.select(work_items)
                .where(*conditions)
                .order_by(work_items.c.dispatched_at)
                .limit(limit)
                .offset(offset)
            )
        ).all()
    return WorkItemPage(items=[WorkItemView.model_validate(r._asdict()) for r in rows], total=total or 0)


@router.get("/work-items/{case_id}", response_model=WorkItemView, responses=ERRORS)
async def get_work_item(case_id: uuid.UUID, runtime: RuntimeDep) -> WorkItemView:
    async with runtime.db.engine.connect() as conn:
        row = (await conn.execute(sa.select(work_items).where(work_items.c.case_id == case_id))).one_or_none()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"work item {case_id} not found")
    return WorkItemView.model_validate(row._asdict())


async def _transition(
    runtime: RuntimeDep, case_id: uuid.UUID, step: Callable[[UnitOfWork, datetime], Awaitable[None]]
) -> WorkItemView:
    try:
        async with runtime.db.unit_of_work() as uow:
            await step(uow, datetime.now(UTC))
    except handlers.WorkItemNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except handlers.InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return await get_work_item(case_id, runtime)


@router.post("/work-items/{case_id}/sign", response_model=WorkItemView, responses=ERRORS)
async def sign(case_id: uuid.UUID, body: SignIn, runtime: RuntimeDep) -> WorkItemView:
    """Sign for a case (签收): the handler named takes it on."""
    return await _transition(
        runtime, case_id, lambda uow, now: handlers.sign_for(uow, case_id, handler=body.handler, now=now)
    )


@router.post("/work-items/{case_id}/progress", response_model=WorkItemView, responses=ERRORS)
async def progress(case_id: uuid.UUID, body: ProgressIn, runtime: RuntimeDep) -> WorkItemView:
    return await _transition(
        runtime,
        case_id,
        lambda uow, now: handlers.record_progress(
            uow, case_id, handler=body.handler, note=body.note, photo_urls=[str(u) for u in body.photo_urls], now=now
        ),
    )


@router.post("/work-items/{case_id}/resolve", response_model=WorkItemView, responses=ERRORS)
async def resolve(case_id: uuid.UUID, body: ResolveIn, runtime: RuntimeDep) -> WorkItemView:
    """Resolve a case (办结) with the result the resident will be told."""
    return await _transition(
        runtime,
        case_id,
        lambda uow, now: handlers.resolve(
            uow,
            case_id,
            result=body.result,
            handler=body.handler,
            photo_urls=[str(u) for u in body.photo_urls],
            now=now,
        ),
    )


@router.get("/stats", response_model=DepartmentStats)
async def get_stats(runtime: RuntimeDep) -> DepartmentStats:
    async with runtime.db.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(work_items.c.department, work_items.c.status, sa.func.count()).group_by(
                    work_items.c.department, work_items.c.status
                )
            )
        ).all()
    by_status: dict[str, int] = {}
    by_department: dict[str, dict[str, int]] = {d: {} for d in DEPARTMENTS}
    for department, state, count in rows:
        by_status[state] = by_status.get(state, 0) + count
        by_department.setdefault(department, {})[state] = count
    return DepartmentStats(by_status=by_status, by_department=by_department)
