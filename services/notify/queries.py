"""Notify's read queries for its operators' routes (api.py): the messages recorded for a case and their counts."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify.schemas import MessageView, NotifyStats
from services.notify.tables import messages


async def case_messages(conn: AsyncConnection, case_id: uuid.UUID) -> list[MessageView]:
    """The messages written for a case's residents, in the order they were written."""
    rows = (await conn.execute(sa.select(messages).where(messages.c.case_id == case_id).order_by(messages.c.id))).all()
    return [MessageView.model_validate(r._asdict()) for r in rows]


async def message_stats(conn: AsyncConnection) -> NotifyStats:
    """Messages by step and state, and how many cases' residents were reached (a message sent or delivered)."""
    rows = (
        await conn.execute(
            sa.select(messages.c.step, messages.c.state, sa.func.count()).group_by(messages.c.step, messages.c.state)
        )
    ).all()
    notified = await conn.scalar(
        sa.select(sa.func.count(sa.distinct(messages.c.case_id))).where(messages.c.state.in_(("sent", "delivered")))
    )
    by_step: dict[str, dict[str, int]] = {}
    for step, state, count in rows:
        by_step.setdefault(step, {})[state] = count
    return NotifyStats(messages=by_step, residents_notified=notified or 0)
