"""Providers' callbacks, in their own formats: delivery receipts link to the message by the provider's id (Aliyun
BizId, Tencent SerialNo) and are idempotent (a repeat sets the same state); a resident's reply rates their latest
resolved case once (the reply is recorded by the provider's id for it, so a repeated callback rates nothing)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.auth.privacy import ResidentCipher
from gridloop.contracts.events import mask_phone
from gridloop.delivery.db import UnitOfWork
from services.notify import metrics
from services.notify.feedback import (
    FeedbackAlreadyGiven,
    Outcome,
    SmsReply,
    awaiting_request_for_phone,
    parse_sms_reply,
    record_feedback,
)
from services.notify.tables import messages, sms_replies

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receipt:
    """A delivery receipt in our words, whatever the provider's format."""

    provider_message_id: str
    delivered: bool
    error_code: str | None = None
    reported_at: datetime | None = None  # when the provider saw the outcome, if it says; else when it told us


async def apply_receipts(conn: AsyncConnection, receipts: list[Receipt], *, now: datetime) -> int:
    """A sent SMS becomes delivered or undeliverable; returns how many messages a receipt named."""
    updated = 0
    for receipt in receipts:
        result = await conn.execute(
            sa.update(messages)
            .where(
                messages.c.provider_message_id == receipt.provider_message_id,
                messages.c.state.in_(("sent", "delivered", "undeliverable")),
            )
            .values(
                state="delivered" if receipt.delivered else "undeliverable",
                receipt_at=receipt.reported_at or now,
                last_error=None if receipt.delivered else f"undeliverable: {receipt.error_code or 'unknown'}",
            )
        )
        updated += result.rowcount
        outcome = ("delivered" if receipt.delivered else "undeliverable") if result.rowcount else "unknown"
        metrics.RECEIPTS.labels(outcome).inc()
    return updated


def tencent_reply_key(mobile: str, at: int, text: str) -> str:
    """Tencent's reply callback has no id: the number, the time and the text identify a reply."""
    return hashlib.sha256(f"{mobile}|{at}|{text}".encode()).hexdigest()


async def take_reply(
    uow: UnitOfWork,
    *,
    provider: str,
    reply_key: str,
    phone: str,
    text: str,
    now: datetime,
    cipher: ResidentCipher,
    reopen_limit: int,
) -> str:
    """Rate the phone's latest resolved case with the reply, once per reply; returns what came of it (closed,
    reopened, escalated, or why nothing: not_a_rating, no_case_awaiting_feedback, already_rated, repeated)."""
    claimed = await uow.conn.execute(
        insert(sms_replies)
        .values(provider=provider, reply_key=reply_key, received_at=now, outcome="pending")
        .on_conflict_do_nothing()
        .returning(sms_replies.c.reply_key)
    )
    if claimed.scalar() is None:
        return "repeated"
    outcome = await _rate(uow, phone=phone, text=text, now=now, cipher=cipher, reopen_limit=reopen_limit)
    await uow.conn.execute(
        sa.update(sms_replies)
        .where(sms_replies.c.provider == provider, sms_replies.c.reply_key == reply_key)
        .values(outcome=outcome)
    )
    return outcome


async def _rate(
    uow: UnitOfWork, *, phone: str, text: str, now: datetime, cipher: ResidentCipher, reopen_limit: int
) -> str:
    reply = parse_sms_reply(text)
    if reply is None:
        return "not_a_rating"
    return await rate_latest_case(uow, reply, phone=phone, now=now, cipher=cipher, reopen_limit=reopen_limit)


# Why a rating reply changed nothing.
NotRated = Literal["no_case_awaiting_feedback", "already_rated"]
NOT_RATED: frozenset[str] = frozenset(get_args(NotRated))


async def rate_latest_case(
    uow: UnitOfWork, reply: SmsReply, *, phone: str, now: datetime, cipher: ResidentCipher, reopen_limit: int
) -> Outcome | NotRated:
    """Rate the phone's latest resolved case awaiting feedback with the reply; returns the outcome (closed, reopened,
    escalated) or why nothing came of it (no_case_awaiting_feedback, already_rated)."""
    request = await awaiting_request_for_phone(uow.conn, cipher.digest(phone))
    if request is None:
        log.info("SMS reply from %s matches no case awaiting feedback", mask_phone(phone))
        return "no_case_awaiting_feedback"
    try:
        return await record_feedback(
            uow,
            token=request.token,
            rating=reply.rating,
            comment=reply.comment,
            via="sms",
            now=now,
            reopen_limit=reopen_limit,
        )
    except FeedbackAlreadyGiven:
        return "already_rated"
