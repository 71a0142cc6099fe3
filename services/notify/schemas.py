"""Notify's HTTP response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
