"""Intake's read queries for its routes (api.py): a case with its timeline, the cases located outside their grid,
a case's sealed resident contact."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.intake.schemas import CaseView, OutsideGridCase, TimelineEntry
from services.intake.tables import cases, timeline


async def cases_outside_grid(conn: AsyncConnection, *, since: datetime | None, limit: int) -> list[OutsideGridCase]:
    """Reports located outside the grid they name (beyond the GPS tolerance), newest first."""
    query = (
        sa.select(cases).where(cases.c.outside_grid_m.is_not(None)).order_by(cases.c.reported_at.desc()).limit(limit)
    )
    if since is not None:
        query = query.where(cases.c.reported_at >= since)
    rows = (await conn.execute(query)).all()
    return [
        OutsideGridCase(
            case_id=r.case_id,
            worker_id=r.worker_id,
            grid_id=r.grid_id,
            located_grid_id=r.located_grid_id,
            outside_grid_m=r.outside_grid_m,
            reported_at=r.reported_at,
            status=r.status,
        )
        for r in rows
    ]


async def case_with_timeline(conn: AsyncConnection, case_id: uuid.UUID, *, worker_id: str | None) -> CaseView | None:
    """The case and its timeline; None if there is no such case, or (worker_id given) another worker reported it."""
    case = (await conn.execute(sa.select(cases).where(cases.c.case_id == case_id))).one_or_none()
    if case is None or (worker_id is not None and case.worker_id != worker_id):
        return None
    steps = (await conn.execute(sa.select(timeline).where(timeline.c.case_id == case_id).order_by(timeline.c.at))).all()
    return CaseView(
        case_id=case.case_id,
        status=case.status,
        grid_id=case.grid_id,
        community_id=case.community_id,
        reported_at=case.reported_at,
        description=case.description,
        worker_id=case.worker_id,
        outside_grid_m=case.outside_grid_m,
        located_grid_id=case.located_grid_id,
        timeline=[
            TimelineEntry(
                status=s.status, at=s.at, actor=s.actor, department=s.department, item_code=s.item_code, note=s.note
            )
            for s in steps
        ],
    )


async def sealed_resident(conn: AsyncConnection, case_id: uuid.UUID) -> dict[str, Any] | None:
    """The case's resident contact as stored (sealed by the residents' cipher, or erased); None if no such case."""
    stored: dict[str, Any] | None = await conn.scalar(sa.select(cases.c.resident).where(cases.c.case_id == case_id))
    return stored
