"""Notify's HTTP API: the messages recorded for a case and counts (operators), and the SMS gateway's callbacks
(delivery receipts and residents' replies), which carry the gateway's own bearer token."""

from __future__ import annotations

import hmac
import logging
import uuid
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, HTTPException, Request, status

from gridloop.auth.tokens import Principal
from gridloop.contracts.events import mask_phone
from services.notify import metrics
from services.notify.deps import NotifyDep, OperatorOnly
from services.notify.feedback import FeedbackAlreadyGiven, awaiting_request_for_phone, parse_sms_reply, record_feedback
from services.notify.schemas import (
    InboundResult,
    InboundSms,
    MessageView,
    NotifyStats,
    ReceiptsAccepted,
    SmsReceipt,
)
from services.notify.tables import messages

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["notifications"])


GATEWAY = Principal("gateway", "sms")


async def gateway_only(
    request: Request, runtime: NotifyDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Callbacks carry the gateway's bearer token, always (a token is always configured: see the settings)."""
    expected = runtime.settings.sms_callback_token
    if not expected or not hmac.compare_digest((authorization or "").encode(), f"Bearer {expected}".encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "gateway token required", {"WWW-Authenticate": "Bearer"})
    request.state.principal = GATEWAY  # for the audit log


@router.get("/cases/{case_id}/messages", response_model=list[MessageView], dependencies=[OperatorOnly])
async def case_messages(case_id: uuid.UUID, runtime: NotifyDep) -> list[MessageView]:
    async with runtime.db.engine.connect() as conn:
        rows = (
            await conn.execute(sa.select(messages).where(messages.c.case_id == case_id).order_by(messages.c.id))
        ).all()
    return [MessageView.model_validate(r._asdict()) for r in rows]


@router.get("/stats", response_model=NotifyStats, dependencies=[OperatorOnly])
async def get_stats(runtime: NotifyDep) -> NotifyStats:
    async with runtime.db.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(messages.c.step, messages.c.state, sa.func.count()).group_by(
                    messages.c.step, messages.c.state
                )
            )
        ).all()
        notified = await conn.scalar(
            sa.select(sa.func.count(sa.distinct(messages.c.case_id))).where(messages.c.state.in_(("sent", "delivered")))
        )
    by_step: dict[str, dict[str, int]] = {}
    for step, state, count in rows:
        by_step.setdefault(step, {})[state] = count
    return NotifyStats(messages=by_step, residents_notified=notified or 0)


@router.post("/sms/receipts", response_model=ReceiptsAccepted, dependencies=[Depends(gateway_only)])
async def sms_receipts(receipts: list[SmsReceipt], runtime: NotifyDep) -> ReceiptsAccepted:
    """Delivery receipts: a sent SMS becomes delivered or undeliverable. Repeats are harmless."""
    updated = 0
    async with runtime.db.unit_of_work() as uow:
        for receipt in receipts:
            result = await uow.conn.execute(
                sa.update(messages)
                .where(
                    messages.c.provider_message_id == receipt.message_id,
                    messages.c.state.in_(("sent", "delivered", "undeliverable")),
                )
                .values(
                    state=receipt.status,
                    receipt_at=receipt.reported_at or runtime.clock.now(),
                    last_error=f"undeliverable: {receipt.error_code or 'unknown'}"
                    if receipt.status == "undeliverable"
                    else None,
                )
            )
            updated += result.rowcount
            metrics.RECEIPTS.labels(receipt.status if result.rowcount else "unknown").inc()
    return ReceiptsAccepted(updated=updated, unknown=len(receipts) - updated)


@router.post("/sms/inbound", response_model=InboundResult, dependencies=[Depends(gateway_only)])
async def sms_inbound(sms: InboundSms, runtime: NotifyDep) -> InboundResult:
    """A resident's reply ("回复1满意，2基本满意，3不满意") rates their latest resolved case awaiting feedback."""
    reply = parse_sms_reply(sms.text)
    if reply is None:
        return InboundResult(matched=False, reason="not_a_rating")
    async with runtime.db.unit_of_work() as uow:
        request = await awaiting_request_for_phone(uow.conn, runtime.cipher.digest(sms.mobile))
        if request is None:
            log.info("SMS reply from %s matches no case awaiting feedback", mask_phone(sms.mobile))
            return InboundResult(matched=False, rating=reply.rating, reason="no_case_awaiting_feedback")
        try:
            outcome = await record_feedback(
                uow,
                token=request.token,
                rating=reply.rating,
                comment=reply.comment,
                via="sms",
                now=runtime.clock.now(),
                reopen_limit=runtime.settings.feedback_reopen_limit,
            )
        except FeedbackAlreadyGiven:  # a concurrent answer won the row lock
            return InboundResult(matched=False, rating=reply.rating, reason="already_rated")
    return InboundResult(matched=True, rating=reply.rating, outcome=outcome)
