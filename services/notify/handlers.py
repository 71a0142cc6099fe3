"""Notify's handlers: remember who to tell about a case, and write one message per visible step."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from gridloop.contracts.events import RESIDENT_VISIBLE, CaseReported, CaseStatusChanged
from gridloop.contracts.topics import DEPARTMENT_NAMES_ZH
from gridloop.delivery.consumer import Delivery
from gridloop.delivery.db import UnitOfWork
from services.notify import metrics
from services.notify.tables import messages, recipients
from services.notify.templates import Templates


def channel_for(resident: dict) -> str | None:
    """The channel the resident chose, or None when they declined to be told."""
    if not resident.get("notify_consent", False) or resident.get("channel", "none") == "none":
        return None
    return resident["channel"]


def message_context(event: CaseStatusChanged, *, tracking_token: str | None, public_base_url: str) -> dict:
    department = event.department or ""
    return {
        "case_no": str(event.case_id).replace("-", "")[:10].upper(),
        "item_name": event.detail.get("item_name_zh") or event.item_code or "",
        "department_name": DEPARTMENT_NAMES_ZH.get(department, "相关部门"),
        "resolve_hours": event.detail.get("resolve_hours", ""),
        "reason": event.note,
        "result": event.detail.get("result") or event.note,
        "link": f"{public_base_url}/c/{tracking_token}" if tracking_token else "",
        "step_at": event.at.isoformat(),  # for gridloop_report_to_notification_seconds
    }


async def remember_resident(
    event: CaseReported, uow: UnitOfWork, delivery: Delivery, *, templates: Templates, public_base_url: str
) -> None:
    """Store the resident's contact for the case; render and release messages that were waiting for it."""
    resident = event.resident.model_dump(mode="json")
    await uow.conn.execute(
        insert(recipients)
        .values(
            case_id=event.case_id, tracking_token=event.tracking_token, resident=resident, created_at=datetime.now(UTC)
        )
        .on_conflict_do_nothing(index_elements=["case_id"])
    )
    waiting = (
        await uow.conn.execute(
            sa.select(messages).where(messages.c.case_id == event.case_id, messages.c.state == "awaiting_contact")
        )
    ).all()
    channel = channel_for(resident)
    for row in waiting:
        context = {**row.context, "link": f"{public_base_url}/c/{event.tracking_token}"}
        await uow.conn.execute(
            sa.update(messages)
            .where(messages.c.id == row.id)
            .values(
                state="pending" if channel else "skipped",
                channel=channel or "none",
                context=context,
                body=templates.render(row.step, context),
            )
        )


async def notify_resident(
    event: CaseStatusChanged, uow: UnitOfWork, delivery: Delivery, *, templates: Templates, public_base_url: str
) -> None:
    """Write the resident's message for a visible step; the delivery worker sends it."""
    if event.status not in RESIDENT_VISIBLE:
        return
    recipient = (
        await uow.conn.execute(sa.select(recipients).where(recipients.c.case_id == event.case_id))
    ).one_or_none()
    token = recipient.tracking_token if recipient else None
    context = message_context(event, tracking_token=token, public_base_url=public_base_url)
    if recipient is None:  # the reported event has not reached notify yet; render when it does
        state, channel, body = "awaiting_contact", "unknown", ""
    else:
        channel = channel_for(recipient.resident) or "none"
        state = "pending" if channel != "none" else "skipped"
        body = templates.render(event.status, context)
    now = datetime.now(UTC)
    inserted = await uow.conn.execute(
        insert(messages)
        .values(
            idempotency_key=uuid.uuid5(delivery.event_id, "message"),
            case_id=event.case_id,
            step=event.status,
            channel=channel,
            body=body,
            context=context,
            state=state,
            next_attempt_at=now,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    if inserted.rowcount:
        metrics.MESSAGES_CREATED.labels(event.status).inc()
