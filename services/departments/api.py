"""Departments' HTTP API: work items (sign for, progress, resolve, return, extensions, duplicates) and rates.

Department callers see and change only their own department's cases: another department's case is a 404
(its existence is not revealed); operator-only steps are a 403. See services/departments/deps.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status

from gridloop.contracts.topics import Department
from gridloop.delivery.db import UnitOfWork
from gridloop.servicekit.app import RuntimeDep
from services.departments import duplicates, extensions, handlers, queries
from services.departments.deps import CallerDep, DeadlinesDep, NowDep, OperatorDep
from services.departments.rates import GroupBy, compute_rates, rate_view
from services.departments.schemas import (
    ActivityView,
    DepartmentStats,
    ExtensionDecisionIn,
    ExtensionIn,
    ExtensionView,
    ProgressIn,
    RatesView,
    ResolveIn,
    ReturnIn,
    SignIn,
    UnlinkIn,
    WorkItemPage,
    WorkItemView,
)
from services.departments.working_time import CalendarNotCovered

router = APIRouter(prefix="/v1", tags=["work items"])

WorkStatus = Literal["dispatched", "signed", "in_progress", "resolved", "returned", "linked"]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such work item (or not yours)"},
    409: {"description": "step not allowed now"},
}
OPERATOR_ERRORS: dict[int | str, dict[str, Any]] = {**ERRORS, 403: {"description": "operators only"}}


@router.get("/work-items", response_model=WorkItemPage)
async def list_work_items(
    runtime: RuntimeDep,
    caller: CallerDep,
    department: Department | None = None,
    status_: Annotated[WorkStatus | None, Query(alias="status")] = None,
    include_linked: Annotated[bool, Query(description="also list duplicates linked to another case")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    escalated: Annotated[bool, Query(description="only cases escalated past their assignee")] = False,
) -> WorkItemPage:
    if caller.scope and department not in (None, caller.scope):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"a {caller.scope} caller cannot list {department} cases")
    async with runtime.db.engine.connect() as conn:
        return await queries.work_item_page(
            conn,
            department=department or caller.scope,
            status=status_,
            include_linked=include_linked,
            escalated=escalated,
            limit=limit,
            offset=offset,
        )


async def _one(runtime: RuntimeDep, case_id: uuid.UUID, caller: CallerDep) -> WorkItemView:
    async with runtime.db.engine.connect() as conn:
        view = await queries.work_item(conn, case_id, scope=caller.scope)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"work item {case_id} not found")
    return view


@router.get("/work-items/{case_id}", response_model=WorkItemView, responses=ERRORS)
async def get_work_item(case_id: uuid.UUID, runtime: RuntimeDep, caller: CallerDep) -> WorkItemView:
    return await _one(runtime, case_id, caller)


@router.get("/work-items/{case_id}/activity", response_model=list[ActivityView], responses=ERRORS)
async def get_activity(case_id: uuid.UUID, runtime: RuntimeDep, caller: CallerDep) -> list[ActivityView]:
    """The department's log of a case: every step, SLA warning, escalation and extension."""
    await _one(runtime, case_id, caller)
    async with runtime.db.engine.connect() as conn:
        return await queries.activity_log(conn, case_id)


async def _transition(
    runtime: RuntimeDep,
    case_id: uuid.UUID,
    caller: CallerDep,
    step: Callable[[UnitOfWork], Awaitable[object]],
) -> WorkItemView:
    try:
        async with runtime.db.unit_of_work() as uow:
            await step(uow)
    except handlers.WorkItemNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except handlers.InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except CalendarNotCovered as exc:  # loudly: a deadline cannot be computed until the year's schedule is entered
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    return await _one(runtime, case_id, caller)


@router.post("/work-items/{case_id}/sign", response_model=WorkItemView, responses=ERRORS)
async def sign(case_id: uuid.UUID, body: SignIn, runtime: RuntimeDep, caller: CallerDep, now: NowDep) -> WorkItemView:
    """Sign for a case (签收): the assignee named takes it on."""
    return await _transition(
        runtime,
        case_id,
        caller,
        lambda uow: handlers.sign_for(
            uow, case_id, assignee=caller.acting(body.assignee), now=now, department=caller.scope
        ),
    )


@router.post("/work-items/{case_id}/progress", response_model=WorkItemView, responses=ERRORS)
async def progress(
    case_id: uuid.UUID, body: ProgressIn, runtime: RuntimeDep, caller: CallerDep, now: NowDep
) -> WorkItemView:
    return await _transition(
        runtime,
        case_id,
        caller,
        lambda uow: handlers.record_progress(
            uow,
            case_id,
            assignee=caller.acting(body.assignee),
            note=body.note,
            photo_urls=[str(u) for u in body.photo_urls],
            now=now,
            department=caller.scope,
        ),
    )


@router.post("/work-items/{case_id}/resolve", response_model=WorkItemView, responses=ERRORS)
async def resolve(
    case_id: uuid.UUID, body: ResolveIn, runtime: RuntimeDep, caller: CallerDep, now: NowDep
) -> WorkItemView:
    """Resolve a case (办结) with the result the resident will be told; its linked duplicates are resolved too."""
    return await _transition(
        runtime,
        case_id,
        caller,
        lambda uow: handlers.resolve(
            uow,
            case_id,
            result=body.result,
            assignee=caller.person or body.assignee,
            photo_urls=[str(u) for u in body.photo_urls],
            now=now,
            department=caller.scope,
        ),
    )


@router.post("/work-items/{case_id}/return", response_model=WorkItemView, responses=ERRORS)
async def return_case(
    case_id: uuid.UUID, body: ReturnIn, runtime: RuntimeDep, caller: CallerDep, now: NowDep
) -> WorkItemView:
    """Return a case (退单) with a reason: the router re-decides without this department."""
    return await _transition(
        runtime,
        case_id,
        caller,
        lambda uow: handlers.return_case(
            uow,
            case_id,
            reason_code=body.reason_code,
            note=body.note,
            assignee=caller.acting(body.assignee),
            now=now,
            department=caller.scope,
        ),
    )


@router.post("/work-items/{case_id}/extensions", response_model=ExtensionView, status_code=201, responses=ERRORS)
async def request_extension(
    case_id: uuid.UUID, body: ExtensionIn, runtime: RuntimeDep, caller: CallerDep, now: NowDep
) -> ExtensionView:
    """Ask for more time (延期); the deadline moves only if an operator approves."""
    created: list[uuid.UUID] = []

    async def step(uow: UnitOfWork) -> None:
        created.append(
            await extensions.request_extension(
                uow,
                case_id,
                assignee=caller.acting(body.assignee),
                reason=body.reason,
                hours=body.hours,
                now=now,
                department=caller.scope,
            )
        )

    await _transition(runtime, case_id, caller, step)
    return await _extension(runtime, case_id, created[0])


@router.get("/extensions", response_model=list[ExtensionView])
async def list_all_extensions(
    runtime: RuntimeDep,
    caller: CallerDep,
    state: Literal["pending", "approved", "refused"] | None = "pending",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ExtensionView]:
    """Extension requests across cases (a department's own only), oldest first: what operators decide."""
    async with runtime.db.engine.connect() as conn:
        return await queries.extensions_across_cases(conn, state=state, scope=caller.scope, limit=limit)


@router.get("/work-items/{case_id}/extensions", response_model=list[ExtensionView], responses=ERRORS)
async def list_extensions(case_id: uuid.UUID, runtime: RuntimeDep, caller: CallerDep) -> list[ExtensionView]:
    await _one(runtime, case_id, caller)
    async with runtime.db.engine.connect() as conn:
        return await queries.extension_list(conn, case_id)


async def _extension(runtime: RuntimeDep, case_id: uuid.UUID, extension_id: uuid.UUID) -> ExtensionView:
    async with runtime.db.engine.connect() as conn:
        return await queries.extension(conn, case_id, extension_id)


@router.post(
    "/work-items/{case_id}/extensions/{extension_id}/decision",
    response_model=ExtensionView,
    responses=OPERATOR_ERRORS,
)
async def decide_extension(
    case_id: uuid.UUID,
    extension_id: uuid.UUID,
    body: ExtensionDecisionIn,
    runtime: RuntimeDep,
    caller: OperatorDep,
    now: NowDep,
    deadlines: DeadlinesDep,
) -> ExtensionView:
    """An operator approves (the resolution deadline moves) or refuses (it stays) an extension request."""
    await _transition(
        runtime,
        case_id,
        caller,
        lambda uow: extensions.decide_extension(
            uow,
            case_id,
            extension_id,
            approve=body.approve,
            operator=body.operator,
            note=body.note,
            now=now,
            deadlines=deadlines,
        ),
    )
    return await _extension(runtime, case_id, extension_id)


@router.post("/work-items/{case_id}/unlink", response_model=WorkItemView, responses=OPERATOR_ERRORS)
async def unlink(
    case_id: uuid.UUID, body: UnlinkIn, runtime: RuntimeDep, caller: OperatorDep, now: NowDep, deadlines: DeadlinesDep
) -> WorkItemView:
    """Undo a wrong duplicate link: the case becomes its own work item, with fresh deadlines."""
    return await _transition(
        runtime,
        case_id,
        caller,
        lambda uow: duplicates.unlink(uow, case_id, operator=body.operator, now=now, deadlines=deadlines),
    )


@router.post("/work-items/{case_id}/duplicate/confirm", response_model=WorkItemView, responses=ERRORS)
async def confirm_duplicate(
    case_id: uuid.UUID, body: UnlinkIn, runtime: RuntimeDep, caller: CallerDep, now: NowDep
) -> WorkItemView:
    """Confirm a suspected duplicate (one click): it is linked to its primary and its resident is told 已并案. A clerk
    decides for their own department's cases (the clerk the credential names is recorded); an operator for any."""
    return await _transition(
        runtime,
        case_id,
        caller,
        lambda uow: duplicates.confirm_duplicate(
            uow, case_id, operator=caller.acting(body.operator), now=now, department=caller.scope
        ),
    )


@router.post("/work-items/{case_id}/duplicate/reject", response_model=WorkItemView, responses=ERRORS)
async def reject_duplicate(
    case_id: uuid.UUID, body: UnlinkIn, runtime: RuntimeDep, caller: CallerDep, now: NowDep
) -> WorkItemView:
    """Reject a suspected duplicate (one click): the case stays its own. Clerks and operators, as confirming."""
    return await _transition(
        runtime,
        case_id,
        caller,
        lambda uow: duplicates.reject_duplicate(
            uow, case_id, operator=caller.acting(body.operator), now=now, department=caller.scope
        ),
    )


def _bad_window(message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own (the documented HTTPValidationError), so clients parse one form."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [{"loc": ["query", "from"], "msg": message, "type": "value_error"}],
    )


@router.get("/rates", response_model=RatesView)
async def get_rates(
    runtime: RuntimeDep,
    caller: CallerDep,
    now: NowDep,
    group_by: GroupBy = "department",
    start: Annotated[datetime | None, Query(alias="from", description="window start (default: 30 days ago)")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="window end, exclusive (default: now)")] = None,
) -> RatesView:
    """The three rates (三率) — response, resolution, satisfaction — per group over [from, to)."""
    end = end or now
    start = start or end - timedelta(days=30)
    if start.tzinfo is None or end.tzinfo is None:
        raise _bad_window("from and to need a time zone offset")
    if start >= end:
        raise _bad_window("from must be before to")
    async with runtime.db.engine.connect() as conn:
        rows = await compute_rates(conn, group_by, start, end, now, department=caller.scope)
    views = [rate_view(r) for r in rows]
    return RatesView(group_by=group_by, start=start, end=end, rows=views)


@router.get("/stats", response_model=DepartmentStats)
async def get_stats(runtime: RuntimeDep, caller: CallerDep) -> DepartmentStats:
    """Work items by department and status, and bounces (退单) per department (counts only, no case data)."""
    async with runtime.db.engine.connect() as conn:
        return await queries.department_stats(conn)
