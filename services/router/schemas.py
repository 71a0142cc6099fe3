"""Router's HTTP response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class DecisionView(BaseModel):
    case_id: uuid.UUID
    round: int
    outcome: str
    item_code: str | None
    department: str | None
    confidence: float
    reason: str
    reason_code: str | None
    runner_up: str | None
    features: list[str]
    list_version: str
    model_version: str  # the classifier model that decided; "" for an operator's decision
    danger: list[str]  # danger signals found in the report ("weapon:菜刀"); see gridloop/admission/danger.py
    decided_by: str
    decided_at: datetime


class RouterStats(BaseModel):
    decisions: dict[str, int]
    by_department: dict[str, int]
