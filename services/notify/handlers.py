"""Notify's handlers: remember who to tell about a case, keep its timeline, write one message per visible step,
and open a feedback request (回访) when a case is resolved."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from gridloop.auth.privacy import ResidentCipher
from gridloop.contracts.events import RESIDENT_VISIBLE, CaseReported, CaseStatusChanged
from gridloop.contracts.topics import DEPARTMENT_NAMES_ZH
from gridloop.delivery.consumer import Delivery
from gridloop.delivery.db import UnitOfWork
from services.notify import metrics
from services.notify.tables import case_steps, feedback_requests, messages, recipients
from services.notify.templates import Templates
from services.notify.worker import Clock


def channel_for(resident: dict) -> str | None:
    """The channel the resident chose, or None when they declined to be told."""
    if not resident.get("notify_consent", False) or resident.get("channel", "none") == "none":
        return None
    return resident["channel"]


def case_link(public_base_url: str, tracking_token: str | None, feedback_token: str | None = None) -> str:
    """The case page; after resolution the link carries the one-time feedback token."""
    if not tracking_token:
        return ""
    link = f"{public_base_url}/c/{tracking_token}"
    return f"{link}?t={feedback_token}" if feedback_token else link


def message_context(
    event: CaseStatusChanged, *, tracking_token: str | None, public_base_url: str, feedback_token: str | None = None
) -> dict:
    department = event.department or ""
    return {
        "case_no": case_number(event.case_id),
        "item_name": event.detail.get("item_name_zh") or event.item_code or "",
        "department_name": DEPARTMENT_NAMES_ZH.get(department, "相关部门"),
        "resolve_hours": event.detail.get("resolve_hours", ""),
        "reason": event.note,
        "result": event.detail.get("result") or event.note,
        "link": case_link(public_base_url, tracking_token, feedback_token),
        "feedback_token": feedback_token,
    }


def case_number(case_id: uuid.UUID) -> str:
    return str(case_id).replace("-", "")[:10].upper()


async def remember_resident(
    event: CaseReported,
    uow: UnitOfWork,
    delivery: Delivery,
    *,
    templates: Templates,
    public_base_url: str,
    cipher: ResidentCipher,
) -> None:
    """Store the resident's contact for the case (sealed); render and release messages that were waiting for it."""
    resident = event.resident.model_dump(mode="json")
    summary = {
        "description": event.description,
        "address": event.location.address if event.location else None,
        "reported_at": event.reported_at.isoformat(),
    }
    await uow.conn.execute(
        insert(recipients)
        .values(
            case_id=event.case_id,
            tracking_token=event.tracking_token,
            resident=cipher.seal(resident),
            phone_digest=cipher.digest(event.resident.phone),
            summary=summary,
            created_at=event.reported_at,
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
        link = case_link(public_base_url, event.tracking_token, row.context.get("feedback_token"))
        context = {**row.context, "link": link}
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


async def on_status(
    event: CaseStatusChanged,
    uow: UnitOfWork,
    delivery: Delivery,
    *,
    templates: Templates,
    public_base_url: str,
    clock: Clock,
    feedback_timeout: timedelta,
) -> None:
    """One step of a case: add it to the timeline, ask for feedback after a resolution, tell the resident."""
    now = clock()
    await record_step(event, uow, delivery)
    feedback_token = None
    if event.status == "resolved":
        feedback_token = await open_feedback(event, uow, delivery, due_at=now + feedback_timeout)
    await notify_resident(
        event,
        uow,
        delivery,
        templates=templates,
        public_base_url=public_base_url,
        now=now,
        feedback_token=feedback_token,
    )


async def record_step(event: CaseStatusChanged, uow: UnitOfWork, delivery: Delivery) -> None:
    await uow.conn.execute(
        insert(case_steps)
        .values(
            event_id=delivery.event_id,
            case_id=event.case_id,
            status=event.status,
            at=event.at,
            actor=event.actor,
            department=event.department,
            item_code=event.item_code,
            note=event.note,
            detail=event.detail,
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
    )


async def open_feedback(event: CaseStatusChanged, uow: UnitOfWork, delivery: Delivery, *, due_at: datetime) -> str:
    """Ask the resident to rate this resolution; an earlier unanswered request for the case is superseded."""
    await uow.conn.execute(
        sa.update(feedback_requests)
        .where(feedback_requests.c.case_id == event.case_id, feedback_requests.c.state == "awaiting")
        .values(state="superseded")
    )
    token = await uow.conn.scalar(
        insert(feedback_requests)
        .values(
            token=secrets.token_urlsafe(16),
            case_id=event.case_id,
            resolved_event_id=delivery.event_id,
            department=event.department,
            item_code=event.item_code,
            resolved_at=event.at,
            due_at=due_at,
            state="awaiting",
        )
        .on_conflict_do_update(index_elements=["resolved_event_id"], set_={"due_at": due_at})
        .returning(feedback_requests.c.token)
    )
    return token


async def notify_resident(
    event: CaseStatusChanged,
    uow: UnitOfWork,
    delivery: Delivery,
    *,
    templates: Templates,
    public_base_url: str,
    now: datetime,
    feedback_token: str | None = None,
) -> None:
    """Write the resident's message for a visible step; the delivery worker sends it."""
    if event.status not in RESIDENT_VISIBLE:
        return
    recipient = (
        await uow.conn.execute(sa.select(recipients).where(recipients.c.case_id == event.case_id))
    ).one_or_none()
    token = recipient.tracking_token if recipient else None
    context = message_context(
        event, tracking_token=token, public_base_url=public_base_url, feedback_token=feedback_token
    )
    if recipient is None:  # the reported event has not reached notify yet; render when it does
        state, channel, body = "awaiting_contact", "unknown", ""
    else:
        channel = channel_for(recipient.resident) or "none"
        state = "pending" if channel != "none" else "skipped"
        body = templates.render(event.status, context)
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
            urgent=bool(event.detail.get("urgent", False)),
            next_attempt_at=now,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    if inserted.rowcount:
        metrics.MESSAGES_CREATED.labels(event.status).inc()
