"""Routes for the SMS providers' callbacks, each in the provider's documented format and answered as it expects.

Neither provider signs its callbacks, so the callback URL configured in the provider's console carries our secret:
`?token=<GRIDLOOP_NOTIFY_SMS_CALLBACK_TOKEN>` (or `Authorization: Bearer <token>`); without it: 401."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status

from gridloop.auth.tokens import Principal
from services.notify.deps import NotifyDep
from services.notify.schemas import AliyunAck, AliyunReport, AliyunUp, TencentAck, TencentReceipt, TencentReply
from services.notify.sms_callbacks import Receipt, apply_receipts, take_reply, tencent_reply_key

router = APIRouter(prefix="/v1/sms", tags=["sms provider callbacks"])


async def provider_only(
    request: Request,
    runtime: NotifyDep,
    token: Annotated[
        str | None, Query(description="the callback token, as configured in the provider's console")
    ] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    expected = runtime.settings.sms_callback_token  # always set (the settings refuse a missing one in production)
    bearer = (authorization or "").removeprefix("Bearer ")
    if not expected or not (_same(token or "", expected) or _same(bearer, expected)):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "callback token required")
    request.state.principal = Principal("sms-provider", "sms")  # for the audit log


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison of text of any kind (compare_digest refuses non-ASCII str; a fuzzer sends it)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


ProviderOnly = [Depends(provider_only)]


@router.post("/aliyun/report", response_model=AliyunAck, dependencies=ProviderOnly)
async def aliyun_report(reports: list[AliyunReport], runtime: NotifyDep) -> AliyunAck:
    """Aliyun SmsReport: delivery receipts by BizId."""
    receipts = [Receipt(r.biz_id, r.success, r.err_code) for r in reports]
    async with runtime.db.unit_of_work() as uow:
        await apply_receipts(uow.conn, receipts, now=runtime.clock.now())
    return AliyunAck()


@router.post("/aliyun/up", response_model=AliyunAck, dependencies=ProviderOnly)
async def aliyun_up(replies: list[AliyunUp], runtime: NotifyDep) -> AliyunAck:
    """Aliyun SmsUp: residents' replies (a 1/2/3 rating), each taken once by its sequence_id."""
    for reply in replies:
        async with runtime.db.unit_of_work() as uow:
            await take_reply(
                uow,
                provider="aliyun",
                reply_key=str(reply.sequence_id),
                phone=reply.phone_number[-11:],
                text=reply.content,
                now=runtime.clock.now(),
                cipher=runtime.cipher,
                reopen_limit=runtime.settings.feedback_reopen_limit,
            )
    return AliyunAck()


@router.post("/tencent/status", response_model=TencentAck, dependencies=ProviderOnly)
async def tencent_status(receipts: list[TencentReceipt], runtime: NotifyDep) -> TencentAck:
    """Tencent 短信下发状态通知: delivery receipts by SerialNo (sid)."""
    ours = [Receipt(r.sid, r.report_status == "SUCCESS", r.errmsg) for r in receipts]
    async with runtime.db.unit_of_work() as uow:
        await apply_receipts(uow.conn, ours, now=runtime.clock.now())
    return TencentAck()


@router.post("/tencent/reply", response_model=TencentAck, dependencies=ProviderOnly)
async def tencent_reply(reply: TencentReply, runtime: NotifyDep) -> TencentAck:
    """Tencent 短信回复: a resident's reply, taken once."""
    async with runtime.db.unit_of_work() as uow:
        await take_reply(
            uow,
            provider="tencent",
            reply_key=tencent_reply_key(reply.mobile, reply.time, reply.text),
            phone=reply.mobile,
            text=reply.text,
            now=runtime.clock.now(),
            cipher=runtime.cipher,
            reopen_limit=runtime.settings.feedback_reopen_limit,
        )
    return TencentAck()
