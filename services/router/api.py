"""Router's HTTP API: routing decisions and their counts (operators)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, status
from sqlalchemy.dialects.postgresql import distinct_on

from gridloop.contracts.topics import DEPARTMENTS
from gridloop.servicekit.app import RuntimeDep
from services.router.deps import OperatorOnly
from services.router.schemas import DecisionView, RouterStats
from services.router.tables import decisions

router = APIRouter(prefix="/v1", tags=["routing"], dependencies=[OperatorOnly])


@router.get("/decisions/{case_id}", response_model=DecisionView, responses={404: {"description": "not decided"}})
async def get_decision(case_id: uuid.UUID, runtime: RuntimeDep) -> DecisionView:
    """The latest routing decision for a case, with its explanation."""
    async with runtime.db.engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(decisions).where(decisions.c.case_id == case_id).order_by(decisions.c.round.desc()).limit(1)
            )
        ).one_or_none()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no routing decision for case {case_id}")
    return DecisionView.model_validate(row._asdict())


@router.get("/stats", response_model=RouterStats)
async def get_stats(runtime: RuntimeDep) -> RouterStats:
    """Latest decision per case, counted by outcome and by department."""
    latest = (
        sa.select(decisions.c.outcome, decisions.c.department)
        .ext(distinct_on(decisions.c.case_id))
        .order_by(decisions.c.case_id, decisions.c.round.desc())
        .subquery()
    )
    async with runtime.db.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(latest.c.outcome, latest.c.department, sa.func.count()).group_by(
                    latest.c.outcome, latest.c.department
                )
            )
        ).all()
    outcomes = {"admitted": 0, "not_admitted": 0, "triage": 0}
    by_department = dict.fromkeys(DEPARTMENTS, 0)
    for outcome, department, count in rows:
        outcomes[outcome] = outcomes.get(outcome, 0) + count
        if department:
            by_department[department] += count
    return RouterStats(decisions=outcomes, by_department=by_department)
