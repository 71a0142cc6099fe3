"""Notify's handlers: remember who to tell about a case, keep its timeline, write one message per visible step,
and open a feedback request (回访) when a case is resolved."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from gridloop.auth.privacy import ResidentCipher
from gridloop.contracts.events import (
    RESIDENT_VISIBLE,
    CaseReported,
    CaseStatusChanged,
    DuplicateDetail,
    ForwardedDetail,
    ResolvedDetail,
)
from gridloop.contracts.topics import DEPARTMENT_NAMES_ZH
from gridloop.delivery.consumer import Delivery
from gridloop.delivery.db import UnitOfWork
from gridloop.servicekit.clock import Clock
from services.notify import metrics
from services.notify.escalations import queue_escalations
from services.notify.officials import tell_officials
from services.notify.tables import case_steps, feedback_requests, messages, recipients
from services.notify.templates import Templates
from services.notify.worker import update_messages


def channel_for(resident: dict[str, Any]) -> str | None:
    """The channel the resident chose, or None when they declined to be told."""
    if not resident.get("notify_consent", False) or resident.get("channel", "none") == "none":
        return None
    return str(resident["channel"])


def case_link(public_base_url: str, tracking_token: str | None, feedback_token: str | None = None) -> str:
    """The case page; after resolution the link carries the one-time feedback token."""
    if not tracking_token:
        return ""
    link = f"{public_base_url}/c/{tracking_token}"
    return f"{link}?t={feedback_token}" if feedback_token else link


def message_context(
    event: CaseStatusChanged, *, tracking_token: str | None, public_base_url: str, feedback_token: str | None = None
) -> dict[str, Any]:
    department = event.department or ""
    forwarded = event.detail if isinstance(event.detail, ForwardedDetail) else None
    return {
        "case_no": case_number(event.case_id),
        "item_name": (forwarded.item_name_zh if forwarded else None) or event.item_code or "",
        "department_name": DEPARTMENT_NAMES_ZH.get(department, "相关部门"),
        "resolve_hours": forwarded.resolve_hours if forwarded and forwarded.resolve_hours is not None else "",
        "reason": event.note,
        "result": (event.detail.result if isinstance(event.detail, ResolvedDetail) else None) or event.note,
        "primary_progress": (
            event.detail.primary_progress if isinstance(event.detail, DuplicateDetail) else None
        ) or "正在办理",
        "link": case_link(public_base_url, tracking_token, feedback_token),
        "feedback_token": feedback_token,
    }


def case_number(case_id: uuid.UUID) -> str:
    return str(case_id).replace("-", "")[:10].upper()


async def remember_residents(
    items: list[tuple[CaseReported, Delivery]],
    uow: UnitOfWork,
    *,
    templates: Templates,
    public_base_url: str,
    cipher: ResidentCipher,
    wake: Callable[[], None] | None = None,
) -> None:
    """Store each resident's contact for the case (sealed); render and release messages that were waiting for it
    (and `wake` the delivery worker for them once committed).

    A run of reported cases is one insert, one select and, for the messages that were waiting (usually the
    `received` step: intake publishes it first, on another topic, so it often arrives before the report), one
    batched update."""
    contacts = {event.case_id: event.contact(cipher.open) for event, _ in items}
    residents = {case_id: contact.model_dump(mode="json") for case_id, contact in contacts.items()}
    await uow.conn.execute(
        insert(recipients).on_conflict_do_nothing(index_elements=["case_id"]),
        [
            {
                "case_id": event.case_id,
                "tracking_token": event.tracking_token,
                # Kept as intake sealed it; only an event from before sealing is sealed here.
                "resident": event.resident_sealed or cipher.seal(residents[event.case_id]),
                "phone_digest": cipher.digest(contacts[event.case_id].phone),
                "summary": {
                    "description": event.description,
                    "address": event.location.address if event.location else None,
                    "reported_at": event.reported_at.isoformat(),
                },
                "created_at": event.reported_at,
            }
            for event, _ in items
        ],
    )
    reported = {event.case_id: event for event, _ in items}
    waiting = (
        await uow.conn.execute(
            sa.select(messages)
            .where(messages.c.case_id.in_(list(reported)), messages.c.state == "awaiting_contact")
            .order_by(messages.c.id)
        )
    ).all()
    released = []
    for row in waiting:
        event = reported[row.case_id]
        channel = channel_for(residents[row.case_id])
        link = case_link(public_base_url, event.tracking_token, row.context.get("feedback_token"))
        context = {**row.context, "link": link}
        released.append(
            (
                row.id,
                {
                    "state": "pending" if channel else "skipped",
                    "channel": channel or "none",
                    "context": context,
                    "body": templates.render(row.step, context),
                },
            )
        )
    await update_messages(uow.conn, released)
    if wake is not None and any(changes["state"] == "pending" for _, changes in released):
        uow.after_commit(wake)


async def on_statuses(
    items: list[tuple[CaseStatusChanged, Delivery]],
    uow: UnitOfWork,
    *,
    templates: Templates,
    public_base_url: str,
    clock: Clock,
    feedback_timeout: timedelta,
    wake: Callable[[], None] | None = None,
    official_case_url: str = "",
    officials_wake: Callable[[], None] | None = None,
) -> None:
    """Steps of cases, in order: add them to the timeline, ask for feedback after a resolution, tell the resident
    (`wake` is called once the messages are committed), tell the officials of the rung an escalation reached and
    queue cases escalated after repeated dissatisfaction (officials.py, escalations.py).

    A run is one insert for the timeline, one select of the recipients and one insert for the messages (plus two
    statements per resolution)."""
    now = clock.now()
    await record_steps(items, uow)
    feedback_tokens = {
        delivery.event_id: await open_feedback(event, uow, delivery, due_at=now + feedback_timeout)
        for event, delivery in items
        if event.status == "resolved"
    }
    pending = await notify_residents(
        items, uow, templates=templates, public_base_url=public_base_url, now=now, feedback_tokens=feedback_tokens
    )
    if wake is not None and pending:
        uow.after_commit(wake)
    if any(event.status == "escalated" for event, _ in items):
        await tell_officials(items, uow, case_url=official_case_url, now=now, wake=officials_wake)
        await queue_escalations(items, uow, now=now)


async def record_steps(items: list[tuple[CaseStatusChanged, Delivery]], uow: UnitOfWork) -> None:
    await uow.conn.execute(
        insert(case_steps).on_conflict_do_nothing(index_elements=["event_id"]),
        [
            {**event.step_row(delivery.event_id), "detail": event.detail.model_dump(mode="json")}
            for event, delivery in items
        ],
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
    return str(token)


async def notify_residents(
    items: list[tuple[CaseStatusChanged, Delivery]],
    uow: UnitOfWork,
    *,
    templates: Templates,
    public_base_url: str,
    now: datetime,
    feedback_tokens: dict[uuid.UUID, str],
) -> bool:
    """Write the resident's message for each visible step; the delivery worker sends them. True if a message can
    be sent now (not waiting for the resident's contact, and not skipped for want of a channel)."""
    visible = [(event, delivery) for event, delivery in items if event.status in RESIDENT_VISIBLE]
    if not visible:
        return False
    case_ids = list({event.case_id for event, _ in visible})
    known = {
        row.case_id: row
        for row in await uow.conn.execute(
            sa.select(recipients.c.case_id, recipients.c.tracking_token, recipients.c.resident).where(
                recipients.c.case_id.in_(case_ids)
            )
        )
    }
    rows = []
    for event, delivery in visible:
        recipient = known.get(event.case_id)
        context = message_context(
            event,
            tracking_token=recipient.tracking_token if recipient else None,
            public_base_url=public_base_url,
            feedback_token=feedback_tokens.get(delivery.event_id),
        )
        if recipient is None:  # the reported event has not reached notify yet; render when it does
            state, channel, body = "awaiting_contact", "unknown", ""
        else:
            channel = channel_for(recipient.resident) or "none"
            state = "pending" if channel != "none" else "skipped"
            body = templates.render(event.status, context)
        rows.append(
            {
                "idempotency_key": uuid.uuid5(delivery.event_id, "message"),
                "case_id": event.case_id,
                "step": event.status,
                "channel": channel,
                "body": body,
                "context": context,
                "state": state,
                "urgent": bool(event.detail.urgent),
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    created = await uow.conn.execute(
        insert(messages).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(messages.c.step),
        rows,
    )
    for step in created.scalars():
        metrics.MESSAGES_CREATED.labels(step).inc()
    return any(row["state"] == "pending" for row in rows)
