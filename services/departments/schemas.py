"""Departments' HTTP request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, HttpUrl

from gridloop.contracts.events import Location
from gridloop.servicekit.schemas import StrictModel

ReturnReason = Literal["not_our_remit", "wrong_area", "insufficient_information"]


class SignIn(StrictModel):
    handler: str = Field(min_length=1, max_length=50, description="name of the handler signing for the case")


class ProgressIn(StrictModel):
    handler: str = Field(min_length=1, max_length=50)
    note: str = Field(min_length=1, max_length=2000)
    photo_urls: list[HttpUrl] = Field(default_factory=list, max_length=9)


class ResolveIn(StrictModel):
    result: str = Field(min_length=2, max_length=2000, description="what was done, told to the resident")
    handler: str | None = Field(default=None, max_length=50)
    photo_urls: list[HttpUrl] = Field(default_factory=list, max_length=9)


class ReturnIn(StrictModel):
    reason_code: ReturnReason
    note: str = Field(default="", max_length=2000)
    handler: str = Field(min_length=1, max_length=50)


class ExtensionIn(StrictModel):
    handler: str = Field(min_length=1, max_length=50)
    reason: str = Field(min_length=2, max_length=2000)
    hours: int = Field(ge=1, le=24 * 30, description="how many more hours the resolution needs")


class ExtensionDecisionIn(StrictModel):
    approve: bool
    operator: str = Field(min_length=1, max_length=50)
    note: str = Field(default="", max_length=2000)


class UnlinkIn(StrictModel):
    operator: str = Field(min_length=1, max_length=50)


class ExtensionView(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    dispatch_no: int
    department: str
    requested_by: str
    reason: str
    hours: int
    state: str
    requested_at: datetime
    decided_by: str | None
    decision_note: str | None
    decided_at: datetime | None


class Reporter(BaseModel):
    case_id: uuid.UUID
    resident_name_masked: str
    resident_phone_masked: str
    dispatched_at: datetime


class WorkItemView(BaseModel):
    case_id: uuid.UUID
    department: str
    item_code: str
    item_name_zh: str
    status: str
    description: str
    grid_id: str
    community_id: str
    location: Location | None = None
    resident_name_masked: str
    resident_phone_masked: str
    dispatch_no: int
    dispatched_at: datetime
    sign_deadline: datetime
    resolve_deadline: datetime
    signed_at: datetime | None
    signed_by: str | None
    resolved_at: datetime | None
    result: str | None
    returns: int = 0
    primary_case_id: uuid.UUID | None = None
    linked_case_ids: list[uuid.UUID] = Field(default_factory=list, description="duplicates worked with this case")
    reporters: list[Reporter] = Field(default_factory=list, description="this case's reporter and its duplicates'")
    escalation: dict[str, str] = Field(default_factory=dict, description="clock -> rung of the supervision ladder")
    photo_urls: list[str] = Field(default_factory=list, description="the worker's photos (served by signed link)")


class WorkItemPage(BaseModel):
    items: list[WorkItemView]
    total: int


class ActivityView(BaseModel):
    action: str
    actor: str
    note: str
    photo_urls: list[str]
    at: datetime


class DepartmentStats(BaseModel):
    by_status: dict[str, int]
    by_department: dict[str, dict[str, int]]
    returns_by_department: dict[str, int] = Field(default_factory=dict, description="bounces (退单) per department")


class RateView(BaseModel):
    group: str
    dispatched: int
    signed_on_time: int
    due: int
    resolved_on_time: int
    rated: int
    satisfied: int
    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None


class RatesView(BaseModel):
    group_by: str
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    rows: list[RateView]
