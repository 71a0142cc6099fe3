"""Departments' HTTP request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AliasChoices, BaseModel, Field, HttpUrl

from gridloop.contracts.events import Location, ReturnReason
from gridloop.contracts.schemas import StrictModel

# The person who works a case is its assignee; requests may still name the field `handler` (the old name).
ASSIGNEE = AliasChoices("assignee", "handler")


class SignIn(StrictModel):
    assignee: str = Field(
        min_length=1, max_length=50, validation_alias=ASSIGNEE, description="who signs for the case and works it"
    )


class ProgressIn(StrictModel):
    assignee: str = Field(min_length=1, max_length=50, validation_alias=ASSIGNEE)
    note: str = Field(min_length=1, max_length=2000)
    photo_urls: list[HttpUrl] = Field(default_factory=list, max_length=9)


class ResolveIn(StrictModel):
    result: str = Field(min_length=2, max_length=2000, description="what was done, told to the resident")
    assignee: str | None = Field(default=None, max_length=50, validation_alias=ASSIGNEE)
    photo_urls: list[HttpUrl] = Field(default_factory=list, max_length=9)


class ReturnIn(StrictModel):
    reason_code: ReturnReason
    note: str = Field(default="", max_length=2000)
    assignee: str = Field(min_length=1, max_length=50, validation_alias=ASSIGNEE)


class ExtensionIn(StrictModel):
    assignee: str = Field(min_length=1, max_length=50, validation_alias=ASSIGNEE)
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
    grid_id: str = Field(description="the grid whose boundary holds the location (the reported grid without one)")
    community_id: str = Field(description="that grid's community: what the rates by community count")
    street: str = Field(default="", description="that community's street (empty for cases dispatched before places)")
    reported_grid_id: str | None = Field(default=None, description="the grid the report named (its worker's)")
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
    suspected_duplicate_of: uuid.UUID | None = Field(
        default=None, description="a likely duplicate of this open case: confirm or reject it"
    )
    duplicate_score: float | None = Field(default=None, description="description similarity to that case, 0..1")
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
    """One group's three rates and the counts behind them (rules: docs/departments.md)."""

    group: str
    dispatched: int = Field(description="department tasks dispatched in the window")
    response_due: int = Field(description="of those, signed for, returned, or past the sign-for deadline")
    signed_on_time: int = Field(description="answered (signed for or returned) within the sign-for deadline")
    due: int = Field(description="tasks whose resolution fell due in the window")
    resolved_on_time: int = Field(description="resolved within the deadline in force and not reopened")
    resolved_within_original: int = Field(description="resolved within the original deadline and not reopened")
    reopened: int = Field(description="due tasks reopened by a resident's 不满意 (counted as not resolved)")
    returned: int = Field(description="tasks returned (退单) in the window")
    rated: int
    satisfied: int
    response_rate: float | None
    resolution_rate: float | None
    resolution_rate_original: float | None = Field(description="resolution rate against the original deadline")
    satisfaction_rate: float | None


class RatesView(BaseModel):
    group_by: str
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    rows: list[RateView]


class PublishedFileView(BaseModel):
    name: str = Field(description="the file's name in the reports directory, e.g. weekly-2026-W49.pdf")
    url: str = Field(description="where departments serves it")
    media_type: str
    size: int = Field(description="bytes")


class PublishedReportView(BaseModel):
    """A weekly assessment report the schedule published (docs/departments.md)."""

    week: str = Field(examples=["2026-W49"])
    built_at: datetime = Field(description="the numbers are as of this moment")
    paths: list[str] = Field(description="where the publishing replica wrote the files")
    files: list[PublishedFileView]
