"""The triage queue over HTTP, for operators: list it, assign an item, or mark a case not admitted."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from gridloop.contracts.schemas import StrictModel, Text
from gridloop.servicekit.app import RuntimeDep
from services.router import triage
from services.router.deps import AdmissionListDep, OperatorOnly

router = APIRouter(prefix="/v1/triage", tags=["triage"], dependencies=[OperatorOnly])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no or bad credentials"},
    403: {"description": "not an operator"},
    404: {"description": "case unknown to the router"},
    409: {"description": "case not waiting in triage"},
    422: {"description": "item or reason code unknown"},
}
Operator = Annotated[Text, Field(min_length=1, max_length=50)]


class Assignment(StrictModel):
    item_code: str = Field(pattern=r"^[A-Z]\d{2}$", examples=["S03"])
    operator: Operator


class NotAdmitted(StrictModel):
    reason_code: str = Field(max_length=40, examples=["CERT_ABOLISHED"])
    reason: Text = Field(default="", max_length=500, description="told to the resident (default: the code's text)")
    operator: Operator


class Resolution(BaseModel):
    outcome: str
    item_code: str | None
    department: str | None
    decided_by: str
    decided_at: datetime


class TriageCase(BaseModel):
    case_id: uuid.UUID
    round: int
    description: str
    item_hint: str | None
    grid_id: str
    community_id: str
    reported_at: datetime
    returns: int
    excluded_departments: list[str]
    confidence: float
    reason: str
    reason_code: str | None
    runner_up: str | None
    features: list[str]
    list_version: str
    triaged_at: datetime
    resolution: Resolution | None


class OperatorDecisionView(BaseModel):
    case_id: uuid.UUID
    outcome: str
    item_code: str | None
    department: str | None
    reason: str
    reason_code: str | None
    list_version: str
    decided_by: str


@router.get("", response_model=list[TriageCase])
async def list_triage(
    runtime: RuntimeDep,
    status_: Annotated[Literal["open", "decided"], Query(alias="status")] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[TriageCase]:
    """Open: waiting for an operator, oldest first, with the router's explanation (confidence, features,
    runner-up). Decided: triaged cases operators have decided, newest first."""
    async with runtime.db.engine.connect() as conn:
        rows = await triage.triage_queue(conn, status=status_, limit=limit)
    return [TriageCase.model_validate(r) for r in rows]


@router.post("/{case_id}/assign", response_model=OperatorDecisionView, responses=ERRORS)
async def assign(
    case_id: uuid.UUID, body: Assignment, runtime: RuntimeDep, active: AdmissionListDep
) -> OperatorDecisionView:
    """Route the case to the item's department, as if the classifier had decided it."""
    return await _decide(
        runtime,
        body.operator,
        case_id,
        lambda uow, now: triage.assign_item(
            case_id,
            item_code=body.item_code,
            operator=body.operator,
            uow=uow,
            admission_list=active,
            cipher=runtime.cipher,
            now=now,
        ),
    )


@router.post("/{case_id}/not-admitted", response_model=OperatorDecisionView, responses=ERRORS)
async def not_admitted(
    case_id: uuid.UUID, body: NotAdmitted, runtime: RuntimeDep, active: AdmissionListDep
) -> OperatorDecisionView:
    """Close the case as not on the admission list; the resident is told the reason."""
    return await _decide(
        runtime,
        body.operator,
        case_id,
        lambda uow, now: triage.mark_not_admitted(
            case_id,
            reason_code=body.reason_code,
            reason=body.reason,
            operator=body.operator,
            uow=uow,
            admission_list=active,
            cipher=runtime.cipher,
            now=now,
        ),
    )


async def _decide(
    runtime: Any, operator: str, case_id: uuid.UUID, apply: Callable[[Any, datetime], Awaitable[Any]]
) -> OperatorDecisionView:
    try:
        async with runtime.db.unit_of_work() as uow:
            decision = await apply(uow, runtime.clock.now())
    except triage.CaseNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except triage.NotInTriage as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except triage.UnknownItem as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return OperatorDecisionView(
        case_id=case_id,
        outcome=decision.outcome,
        item_code=decision.item_code,
        department=decision.department,
        reason=decision.reason,
        reason_code=decision.reason_code,
        list_version=decision.list_version,
        decided_by=f"operator:{operator}",
    )
