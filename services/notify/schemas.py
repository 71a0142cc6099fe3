"""Notify's HTTP response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class MessageView(BaseModel):
    case_id: uuid.UUID
    step: str
    channel: str
    body: str
    state: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None


class NotifyStats(BaseModel):
    messages: dict[str, dict[str, int]]
    residents_notified: int
