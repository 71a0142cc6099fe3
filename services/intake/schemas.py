"""Intake's HTTP request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field, HttpUrl

from gridloop.contracts.events import CaseStatus, Location, ResidentContact
from gridloop.servicekit.schemas import StrictModel, Text

RegistryId = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")]
Mobile = Annotated[str, Field(pattern=r"^1[3-9]\d{9}$", description="mainland mobile number, 11 digits")]


class ReportIn(StrictModel):
    """A grid worker's report as the worker app posts it."""

    client_report_id: uuid.UUID = Field(description="UUID generated on the device; the idempotency key")
    worker_id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")
    grid_id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")
    description: Text = Field(min_length=2, max_length=4000)
    item_hint: str | None = Field(default=None, pattern=r"^[PFS]\d{2}$")
    location: Location | None = None
    occurred_at: AwareDatetime
    photo_urls: list[HttpUrl] = Field(default_factory=list, max_length=9)
    resident: ResidentContact
    public_consent: bool = Field(
        default=False,
        description="the resident agreed that the description and photos may be shown publicly (Open311); "
        "the location is shown rounded to about 100 m either way, the address never",
    )


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


# ---- the grid registry (operators) --------------------------------------------------------------------------


class CommunityIn(StrictModel):
    community_id: RegistryId = Field(examples=["JN-C109"])
    name: Text = Field(min_length=1, max_length=50)
    street: Text = Field(min_length=1, max_length=50)


class GridIn(StrictModel):
    grid_id: RegistryId = Field(examples=["JN-G0999"])
    community_id: RegistryId
    name: Text = Field(min_length=1, max_length=80)
    households: int = Field(ge=0, le=100_000)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class WorkerIn(StrictModel):
    worker_id: RegistryId = Field(examples=["JN-W1439"])
    name: Text = Field(min_length=1, max_length=50)
    phone: Mobile
    grid_ids: list[RegistryId] = Field(default_factory=list, max_length=20)


class GridAssignment(StrictModel):
    """The grids a worker walks from now on, main grid first (an empty list takes the worker off every grid)."""

    grid_ids: list[RegistryId] = Field(max_length=20)


class TokenRequest(StrictModel):
    days: float | None = Field(default=None, gt=0, le=365, description="validity (default: the configured one)")


class CommunityView(BaseModel):
    community_id: str
    name: str
    street: str
    grids: int


class GridView(BaseModel):
    grid_id: str
    community_id: str
    name: str
    households: int
    lat: float
    lon: float
    worker_ids: list[str]


class WorkerView(BaseModel):
    worker_id: str
    name: str
    phone: str
    grid_ids: list[str]


class RegistrySummary(BaseModel):
    version: int | None
    counts: dict[str, int]


class IssuedTokenView(BaseModel):
    token: str
    token_id: str
    role: str
    subject: str
    expires_at: datetime
