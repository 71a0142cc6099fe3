"""Intake's HTTP request and response bodies."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl

from gridloop.contracts.events import CaseStatus, Location, ResidentContact


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


Text = Annotated[str, AfterValidator(_nfc)]


class ReportIn(BaseModel):
    """A grid worker's report as the worker app posts it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    client_report_id: uuid.UUID = Field(description="UUID generated on the device; the idempotency key")
    worker_id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")
    grid_id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")
    description: Text = Field(min_length=2, max_length=4000)
    item_hint: str | None = Field(default=None, pattern=r"^[PFS]\d{2}$")
    location: Location | None = None
    occurred_at: AwareDatetime
    photo_urls: list[HttpUrl] = Field(default_factory=list, max_length=9)
    resident: ResidentContact


class ReportAccepted(BaseModel):
    case_id: uuid.UUID
    tracking_token: str
    status: str


class TimelineEntry(BaseModel):
    status: CaseStatus
    at: datetime
    actor: str
    department: str | None
    item_code: str | None
    note: str


class CaseView(BaseModel):
    case_id: uuid.UUID
    status: str
    grid_id: str
    community_id: str
    reported_at: datetime
    description: str
    timeline: list[TimelineEntry]
