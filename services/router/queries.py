"""Router's read queries for its routes (api.py): a case's latest routing decision and the decisions' counts."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.contracts.topics import DEPARTMENTS
from services.router.schemas import DecisionView, RouterStats
from services.router.tables import decisions


async def latest_decision(conn: AsyncConnection, case_id: uuid.UUID) -> DecisionView | None:
    """The case's latest routing decision (the highest round), or None if it was never decided."""
    row = (
        await conn.execute(
            sa.select(decisions).where(decisions.c.case_id == case_id).order_by(decisions.c.round.desc()).limit(1)
        )
    ).one_or_none()
    return None if row is None else DecisionView.model_validate(row._asdict())


async def decision_stats(conn: AsyncConnection) -> RouterStats:
    """Latest decision per case, counted by outcome and by department."""
    latest = (
        sa.select(decisions.c.outcome, decisions.c.department)
        .ext(distinct_on(decisions.c.case_id))
        .order_by(decisions.c.case_id, decisions.c.round.desc())
        .subquery()
    )
    rows = (
        await conn.execute(
            sa.select(latest.c.outcome, latest.c.department, sa.func.count()).group_by(
                latest.c.outcome, latest.c.department
            )
        )
    ).all()
    outcomes = {"admitted": 0, "not_admitted": 0, "triage": 0}
    by_department: dict[str, int] = dict.fromkeys(DEPARTMENTS, 0)
    for outcome, department, count in rows:
        outcomes[outcome] = outcomes.get(outcome, 0) + count
        if department:
            by_department[department] += count
    return RouterStats(decisions=outcomes, by_department=by_department)
