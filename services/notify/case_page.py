"""What the case page (/c/{tracking_token}, routes in pages.py) reads: the case found by its tracking token, its
steps, the open feedback request; and which case page a feedback token belongs to."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.contracts.events import StatusDetail, status_detail
from services.notify.tables import case_steps, feedback_requests, recipients


@dataclass(frozen=True)
class Step:
    status: str
    at: datetime
    department: str | None
    note: str
    detail: StatusDetail


@dataclass(frozen=True)
class CaseRecord:
    case_id: uuid.UUID
    resident: dict[str, Any]  # sealed by the residents' cipher
    summary: dict[str, Any]  # description, address, reported_at
    steps: list[Step]  # oldest first
    feedback_token: str | None  # the one-time token of the feedback request awaiting an answer, if any


async def find_case(conn: AsyncConnection, tracking_token: str, *, statuses: Collection[str]) -> CaseRecord | None:
    """The case behind a tracking token with its steps of the given statuses; None for an unknown token."""
    recipient = (
        await conn.execute(sa.select(recipients).where(recipients.c.tracking_token == tracking_token))
    ).one_or_none()
    if recipient is None:
        return None
    steps = (
        await conn.execute(
            sa.select(case_steps)
            .where(case_steps.c.case_id == recipient.case_id, case_steps.c.status.in_(statuses))
            .order_by(case_steps.c.at, case_steps.c.event_id)
        )
    ).all()
    awaiting = (
        await conn.execute(
            sa.select(feedback_requests.c.token)
            .where(feedback_requests.c.case_id == recipient.case_id, feedback_requests.c.state == "awaiting")
            .order_by(feedback_requests.c.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return CaseRecord(
        case_id=recipient.case_id,
        resident=recipient.resident,
        summary=recipient.summary or {},
        steps=[Step(s.status, s.at, s.department, s.note, status_detail(s.status, s.detail)) for s in steps],
        feedback_token=awaiting,
    )


async def tracking_token_of(conn: AsyncConnection, feedback_token: str) -> str | None:
    """The tracking token of the case a feedback token was issued for; None for an unknown feedback token."""
    owner: str | None = await conn.scalar(
        sa.select(recipients.c.tracking_token)
        .join(feedback_requests, feedback_requests.c.case_id == recipients.c.case_id)
        .where(feedback_requests.c.token == feedback_token)
    )
    return owner
