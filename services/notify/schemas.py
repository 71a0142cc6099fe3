"""Notify's HTTP response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gridloop.contracts.schemas import StrictModel


class MessageView(BaseModel):
    idempotency_key: uuid.UUID
    case_id: uuid.UUID
    step: str
    channel: str
    body: str
    state: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None
    provider_message_id: str | None = None


class NotifyStats(BaseModel):
    messages: dict[str, dict[str, int]]
    residents_notified: int


# The two gateway callbacks ignore unknown fields instead of refusing them: a provider that adds a field to its
# receipts must not make every receipt bounce (it would retry them for ever). Lengths stay bounded.
class SmsReceipt(StrictModel):
    """A delivery receipt posted by the SMS gateway (状态报告)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    message_id: str = Field(min_length=1, max_length=200, description="the gateway's id, returned when it accepted")
    status: Literal["delivered", "undeliverable"]
    error_code: str | None = Field(default=None, max_length=100)
    reported_at: datetime | None = None


class ReceiptsAccepted(BaseModel):
    updated: int
    unknown: int


class InboundSms(StrictModel):
    """A resident's SMS reply, forwarded by the gateway (上行短信)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    phone: str = Field(pattern=r"^(\+?86)?1[3-9]\d{9}$")
    text: str = Field(max_length=1000)
    received_at: datetime | None = None

    @property
    def mobile(self) -> str:
        return self.phone[-11:]


class InboundResult(BaseModel):
    matched: bool
    rating: str | None = None
    outcome: str | None = None
    reason: str | None = None


# Provider callbacks, in each provider's documented format. Unknown fields are ignored (see above).
class AliyunReport(StrictModel):
    """Aliyun SmsReport (HTTP 批量推送): one delivery receipt; `biz_id` is SendSms's BizId."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    biz_id: str = Field(min_length=1, max_length=200)
    success: bool
    err_code: str | None = Field(default=None, max_length=100)
    err_msg: str | None = Field(default=None, max_length=500)
    phone_number: str | None = Field(default=None, max_length=20)
    report_time: str | None = Field(default=None, max_length=40)
    out_id: str | None = Field(default=None, max_length=200)


class AliyunUp(StrictModel):
    """Aliyun SmsUp: a resident's reply (上行短信); `sequence_id` identifies it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    phone_number: str = Field(pattern=r"^(\+?86)?1[3-9]\d{9}$")
    content: str = Field(max_length=1000)
    sequence_id: int | Annotated[str, Field(min_length=1, max_length=64)]
    send_time: str | None = Field(default=None, max_length=40)
    sign_name: str | None = Field(default=None, max_length=100)
    dest_code: str | None = Field(default=None, max_length=40)


class TencentReceipt(StrictModel):
    """Tencent SMS status callback (短信下发状态通知): `sid` is SendSms's SerialNo."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    sid: str = Field(min_length=1, max_length=200)
    report_status: Literal["SUCCESS", "FAIL"]
    errmsg: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=500)
    mobile: str | None = Field(default=None, max_length=20)
    user_receive_time: str | None = Field(default=None, max_length=40)


class TencentReply(StrictModel):
    """Tencent SMS reply callback (短信回复): no id of its own; mobile, time and text identify it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    mobile: str = Field(pattern=r"^1[3-9]\d{9}$")
    text: str = Field(max_length=1000)
    time: int
    nationcode: str = Field(default="86", max_length=8)
    sign: str | None = Field(default=None, max_length=100)
    extend: str | None = Field(default=None, max_length=100)


class AliyunAck(BaseModel):
    code: int = 0
    msg: str = "接收成功"


class TencentAck(BaseModel):
    result: int = 0
    errmsg: str = "OK"


OfficialLevel = Literal["handler", "department_head", "district_supervisor"]


class OfficialIn(StrictModel):
    """An official who must act when a case reaches their rung: 科长 (handler), 分管领导 (department_head),
    区督办办 (district_supervisor). `department` '*' means every department."""

    department: Literal["police", "finance", "street_office", "*"]
    level: OfficialLevel
    name: str = Field(min_length=1, max_length=50)
    title: str = Field(min_length=1, max_length=50)
    phone: str | None = Field(default=None, pattern=r"^1[3-9]\d{9}$")
    email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    webhook_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://[^\s]+$")
    active: bool = True

    @model_validator(mode="after")
    def _reachable(self) -> OfficialIn:
        if not (self.phone or self.email or self.webhook_url):
            raise ValueError("an official needs a phone, e-mail or webhook")
        return self


class OfficialView(OfficialIn):
    model_config = ConfigDict(extra="ignore")
    id: int
    updated_at: datetime


class OfficialMessageView(BaseModel):
    case_id: uuid.UUID
    official_id: int
    level: str
    channel: str
    body: str
    state: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None


class EscalationView(BaseModel):
    id: int
    case_id: uuid.UUID
    department: str | None
    item_code: str | None
    reason: str
    comment: str
    owner: str
    state: str
    note: str | None
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime


class EscalationDecisionIn(StrictModel):
    decision: Literal["redispatch", "close", "arbitration"]
    note: str = Field(default="", max_length=500)


class SupervisionStats(BaseModel):
    officials_told: int = Field(description="distinct officials at least one message reached")
    official_messages: dict[str, int]
    escalations: dict[str, int] = Field(description="the queue of escalated cases by state")
    without_owner: int = Field(description="escalation steps no official was told of and no queue entry owns")
