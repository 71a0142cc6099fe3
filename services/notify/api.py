"""Notify's HTTP API: the messages recorded for a case, and counts."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from fastapi import APIRouter

from gridloop.servicekit.app import RuntimeDep
from services.notify.schemas import MessageView, NotifyStats
from services.notify.tables import messages

router = APIRouter(prefix="/v1", tags=["notifications"])


@router.get("/cases/{case_id}/messages", response_model=list[MessageView])
async def case_messages(case_id: uuid.UUID, runtime: RuntimeDep) -> list[MessageView]:
    async with runtime.db.engine.connect() as conn:
        rows = (
            await conn.execute(sa.select(messages).where(messages.c.case_id == case_id).order_by(messages.c.id))
        ).all()
    return [MessageView.model_validate(r._asdict()) for r in rows]


@router.get("/stats", response_model=NotifyStats)
async def get_stats(runtime: RuntimeDep) -> NotifyStats:
    async with runtime.db.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(messages.c.step, messages.c.state, sa.func.count()).group_by(
                    messages.c.step, messages.c.state
                )
            )
        ).all()
        notified = await conn.scalar(
            sa.select(sa.func.count(sa.distinct(messages.c.case_id))).where(messages.c.state == "sent")
        )
    by_step: dict[str, dict[str, int]] = {}
    for step, state, count in rows:
        by_step.setdefault(step, {})[state] = count
    return NotifyStats(messages=by_step, residents_notified=notified or 0)
