"""Feedback (回访): the resident rates a resolution once, on the case page or by SMS reply.

满意 / 基本满意 close the case; 不满意 reopens it to the same department up to a limit, then escalates it to
the district supervisor. A request nobody answers closes the case as 未评价 when it falls due."""

from __future__ import annotations

import logging
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.contracts.events import (
    RATINGS_ZH,
    CaseStatusChanged,
    ClosedDetail,
    EscalationDetail,
    FeedbackDetail,
    Rating,
    ReopenedDetail,
)
from gridloop.contracts.topics import CASES_STATUS
from gridloop.delivery.db import Database, UnitOfWork
from gridloop.servicekit.clock import Clock
from services.notify import metrics
from services.notify.tables import feedback_requests, recipients

log = logging.getLogger(__name__)

Outcome = Literal["closed", "reopened", "escalated"]

SMS_DIGITS: dict[str, Rating] = {"1": "satisfied", "2": "basically_satisfied", "3": "dissatisfied"}
NOT_RATED_NOTE = "未评价"


class FeedbackNotFound(LookupError):
    """No feedback request has this token."""


class FeedbackAlreadyGiven(Exception):
    """The one-time token was used, or the request was superseded or expired."""

    def __init__(self, state: str) -> None:
        super().__init__(f"feedback request is {state}")
        self.state = state


# The words a reply may start with instead of a digit; "不满意" before "满意", which it contains.
SMS_WORDS: tuple[tuple[str, Rating], ...] = (
    ("不满意", "dissatisfied"),
    ("基本满意", "basically_satisfied"),
    ("满意", "satisfied"),
)


@dataclass(frozen=True)
class SmsReply:
    rating: Rating
    comment: str


def parse_sms_reply(text: str) -> SmsReply | None:
    """'3 还是很臭' -> dissatisfied with a comment; also accepts the words themselves. None if it is no rating."""
    clean = unicodedata.normalize("NFKC", text).strip()
    if not clean:
        return None
    if clean[0] in SMS_DIGITS:
        return SmsReply(SMS_DIGITS[clean[0]], _comment(clean[1:]))
    for word, rating in SMS_WORDS:
        if clean.startswith(word):
            return SmsReply(rating, _comment(clean[len(word) :]))
    return None


def _comment(rest: str) -> str:
    return rest.strip(" ,，.。:：;；-—、").strip()[:500]


def decide_outcome(rating: Rating, *, reopens_so_far: int, reopen_limit: int) -> Outcome:
    """What a rating does to the case."""
    if rating != "dissatisfied":
        return "closed"
    return "reopened" if reopens_so_far < reopen_limit else "escalated"


def outcome_event(
    request: sa.Row[Any], outcome: Outcome, *, rating: Rating, comment: str, round_no: int, now: datetime
) -> CaseStatusChanged:
    """The status event a rating leads to."""
    common = {"case_id": request.case_id, "at": now, "department": request.department, "item_code": request.item_code}
    if outcome == "closed":
        return CaseStatusChanged(
            **common,
            status="closed",
            actor="resident",
            note=f"居民评价：{RATINGS_ZH[rating]}",
            detail=ClosedDetail(rating=rating),
        )
    if outcome == "reopened":
        return CaseStatusChanged(
            **common,
            status="reopened",
            actor="resident",
            note=comment or "居民对办理结果不满意",
            detail=ReopenedDetail(round=round_no, rating=rating),
        )
    return CaseStatusChanged(
        **common,
        status="escalated",
        actor="notify",
        note=comment or "居民多次不满意，提交区级督办",
        detail=EscalationDetail(level="district_supervisor", reason="resident_dissatisfied", reopens=round_no - 1),
    )


async def record_feedback(
    uow: UnitOfWork, *, token: str, rating: Rating, comment: str, via: str, now: datetime, reopen_limit: int
) -> Outcome:
    """Record a rating once; publish feedback_received and what it leads to (closed / reopened / escalated)."""
    request = (
        await uow.conn.execute(sa.select(feedback_requests).where(feedback_requests.c.token == token).with_for_update())
    ).one_or_none()
    if request is None:
        raise FeedbackNotFound(token)
    if request.state != "awaiting":
        raise FeedbackAlreadyGiven(request.state)
    reopens = await uow.conn.scalar(
        sa.select(sa.func.count()).where(
            feedback_requests.c.case_id == request.case_id, feedback_requests.c.outcome == "reopened"
        )
    )
    outcome = decide_outcome(rating, reopens_so_far=reopens or 0, reopen_limit=reopen_limit)
    await uow.conn.execute(
        sa.update(feedback_requests)
        .where(feedback_requests.c.id == request.id)
        .values(state="answered", rating=rating, comment=comment, answered_via=via, answered_at=now, outcome=outcome)
    )
    received = CaseStatusChanged(
        case_id=request.case_id,
        status="feedback_received",
        at=now,
        actor="resident",
        department=request.department,
        item_code=request.item_code,
        note=comment,
        detail=FeedbackDetail(rating=rating, comment=comment, via=via),
    )
    await uow.publish(received, CASES_STATUS, event_id=_event_id(request, "feedback_received"))
    follow_up = outcome_event(request, outcome, rating=rating, comment=comment, round_no=(reopens or 0) + 1, now=now)
    await uow.publish(follow_up, CASES_STATUS, event_id=_event_id(request, outcome))
    metrics.FEEDBACK.labels(rating, via).inc()
    metrics.FEEDBACK_OUTCOMES.labels(outcome).inc()
    return outcome


def _event_id(request: sa.Row[Any], step: str) -> uuid.UUID:
    """Derived from the resolution being rated, so each reopen round has its own ids."""
    return uuid.uuid5(request.resolved_event_id, f"notify:{step}")


async def awaiting_request_for_phone(conn: AsyncConnection, phone_digest: str) -> sa.Row[Any] | None:
    """The latest resolved case of this phone number (by its keyed digest) still waiting for feedback."""
    query = (
        sa.select(feedback_requests)
        .join(recipients, recipients.c.case_id == feedback_requests.c.case_id)
        .where(recipients.c.phone_digest == phone_digest, feedback_requests.c.state == "awaiting")
        .order_by(feedback_requests.c.resolved_at.desc(), feedback_requests.c.id.desc())
        .limit(1)
    )
    request: sa.Row[Any] | None = (await conn.execute(query)).one_or_none()
    return request


async def close_unanswered(uow: UnitOfWork, *, now: datetime, limit: int = 100) -> int:
    """Close cases whose feedback request fell due unanswered (未评价); returns how many."""
    due = (
        await uow.conn.execute(
            sa.select(feedback_requests)
            .where(feedback_requests.c.state == "awaiting", feedback_requests.c.due_at <= now)
            .order_by(feedback_requests.c.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for request in due:
        await uow.conn.execute(
            sa.update(feedback_requests)
            .where(feedback_requests.c.id == request.id)
            .values(state="expired", outcome="closed")
        )
        closed = CaseStatusChanged(
            case_id=request.case_id,
            status="closed",
            at=now,
            actor="notify",
            department=request.department,
            item_code=request.item_code,
            note=NOT_RATED_NOTE,
            detail=ClosedDetail(reason="no_feedback"),
        )
        await uow.publish(closed, CASES_STATUS, event_id=_event_id(request, "closed"))
        metrics.FEEDBACK_OUTCOMES.labels("expired").inc()
    return len(due)


async def close_due_requests(db: Database, clock: Clock) -> None:
    """Close the cases whose feedback request fell due unanswered (run periodically). Safe with several replicas
    (SKIP LOCKED)."""
    async with db.unit_of_work() as uow:
        closed = await close_unanswered(uow, now=clock.now())
    if closed:
        log.info("closed %d cases whose feedback request fell due unanswered", closed)
