"""Notify's HTTP API: the messages recorded for a case and counts (operators), and the SMS gateway's callbacks
(delivery receipts and residents' replies), which carry the gateway's own bearer token."""

from __future__ import annotations

import hmac
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status

from gridloop.auth.tokens import Principal
from services.notify import queries
from services.notify.deps import NotifyDep, OperatorOnly
from services.notify.feedback import parse_sms_reply
from services.notify.schemas import (
    InboundResult,
    InboundSms,
    MessageView,
    NotifyStats,
    ReceiptsAccepted,
    SmsReceipt,
)
from services.notify.sms_callbacks import NOT_RATED, Receipt, apply_receipts, rate_latest_case

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
        return await queries.case_messages(conn, case_id)


@router.get("/stats", response_model=NotifyStats, dependencies=[OperatorOnly])
async def get_stats(runtime: NotifyDep) -> NotifyStats:
    async with runtime.db.engine.connect() as conn:
        return await queries.message_stats(conn)


@router.post("/sms/receipts", response_model=ReceiptsAccepted, dependencies=[Depends(gateway_only)])
async def sms_receipts(receipts: list[SmsReceipt], runtime: NotifyDep) -> ReceiptsAccepted:
    """Delivery receipts: a sent SMS becomes delivered or undeliverable. Repeats are harmless."""
    ours = [Receipt(r.message_id, r.status == "delivered", r.error_code, r.reported_at) for r in receipts]
    async with runtime.db.unit_of_work() as uow:
        updated = await apply_receipts(uow.conn, ours, now=runtime.clock.now())
    return ReceiptsAccepted(updated=updated, unknown=len(receipts) - updated)


@router.post("/sms/inbound", response_model=InboundResult, dependencies=[Depends(gateway_only)])
async def sms_inbound(sms: InboundSms, runtime: NotifyDep) -> InboundResult:
    """A resident's reply ("回复1满意，2基本满意，3不满意") rates their latest resolved case awaiting feedback."""
    reply = parse_sms_reply(sms.text)
    if reply is None:
        return InboundResult(matched=False, reason="not_a_rating")
    async with runtime.db.unit_of_work() as uow:
        outcome = await rate_latest_case(
            uow,
            reply,
            phone=sms.mobile,
            now=runtime.clock.now(),
            cipher=runtime.cipher,
            reopen_limit=runtime.settings.feedback_reopen_limit,
        )
    if outcome in NOT_RATED:
        return InboundResult(matched=False, rating=reply.rating, reason=outcome)
    return InboundResult(matched=True, rating=reply.rating, outcome=outcome)
