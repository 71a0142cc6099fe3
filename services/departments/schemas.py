"""Departments' HTTP request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, HttpUrl


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    handler: str = Field(min_length=1, max_length=50, description="name of the handler signing for the case")


class ProgressIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    handler: str = Field(min_length=1, max_length=50)
    note: str = Field(min_length=1, max_length=2000)
    photo_urls: list[HttpUrl] = Field(default_factory=list, max_length=9)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    result: str = Field(min_length=2, max_length=2000, description="what was done, told to the resident")
    handler: str | None = Field(default=None, max_length=50)
    photo_urls: list[HttpUrl] = Field(default_factory=list, max_length=9)


class WorkItemView(BaseModel):
    case_id: uuid.UUID
    department: str
    item_code: str
    item_name_zh: str
    status: str
    description: str
    grid_id: str
    community_id: str
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


class WorkItemPage(BaseModel):
    items: list[WorkItemView]
    total: int


class DepartmentStats(BaseModel):
    by_status: dict[str, int]
    by_department: dict[str, dict[str, int]]
