"""Intake's HTTP request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import UploadFile
from pydantic import AwareDatetime, BaseModel, Field, HttpUrl, WithJsonSchema

from gridloop.contracts.events import CaseStatus, Location, ResidentContact
from gridloop.contracts.schemas import StrictModel, Text

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
    worker_id: str
    outside_grid_m: float | None = Field(
        default=None, description="set when the report's location lies this far outside its grid (flagged)"
    )
    located_grid_id: str | None = Field(default=None, description="the grid that does hold a flagged location")
    timeline: list[TimelineEntry]


class OutsideGridCase(BaseModel):
    """A report located outside the grid it names, beyond the GPS tolerance: accepted, flagged for operators."""

    case_id: uuid.UUID
    worker_id: str
    grid_id: str
    located_grid_id: str | None
    outside_grid_m: float
    reported_at: datetime
    status: str


# ---- the grid registry (operators) --------------------------------------------------------------------------


class CommunityIn(StrictModel):
    community_id: RegistryId = Field(examples=["JN-C109"])
    name: Text = Field(min_length=1, max_length=50)
    street: Text = Field(min_length=1, max_length=50)


class GeoJsonPolygon(StrictModel):
    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any] = Field(min_length=1)


class GridIn(StrictModel):
    grid_id: RegistryId = Field(examples=["JN-G0999"])
    community_id: RegistryId
    name: Text = Field(min_length=1, max_length=80)
    households: int = Field(ge=0, le=100_000)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    boundary: GeoJsonPolygon | None = Field(
        default=None, description="GeoJSON Polygon or MultiPolygon, WGS84; the grid's point must lie inside it"
    )


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
    boundary: dict[str, Any] | None = Field(description="GeoJSON geometry, WGS84")
    active: bool
    worker_ids: list[str]


class WorkerView(BaseModel):
    worker_id: str
    name: str
    phone: str
    grid_ids: list[str]
    active: bool


class WorkerGrids(StrictModel):
    worker_id: RegistryId
    grid_ids: list[RegistryId] = Field(max_length=20)


class GridRedraw(StrictModel):
    """Grids merged or split: the grids retired, the grids drawn in their place (each with a boundary; together
    covering what the retired ones covered), and the grids of the workers who walked them."""

    retire: list[RegistryId] = Field(min_length=1, max_length=50)
    grids: list[GridIn] = Field(min_length=1, max_length=50)
    workers: list[WorkerGrids] = Field(default_factory=list, max_length=200)
    dry_run: bool = False


class Activation(StrictModel):
    active: bool = Field(description="false: deactivate (kept for the cases naming it); true: reactivate")


IMPORT_FILE_BYTES = 64 * 1024 * 1024  # the import's default upload limit (GRIDLOOP_INTAKE_REGISTRY_IMPORT_MAX_BYTES)
ImportFile = Annotated[
    UploadFile,
    WithJsonSchema({"type": "string", "contentMediaType": "application/octet-stream", "maxLength": IMPORT_FILE_BYTES}),
]


class RegistryImportForm(StrictModel):
    """A district's registry files (docs/registry.md), as a multipart form."""

    communities: ImportFile = Field(description="GeoJSON FeatureCollection")
    grids: ImportFile = Field(description="GeoJSON FeatureCollection of Polygons/MultiPolygons")
    workers: ImportFile = Field(description="CSV (UTF-8) or XLSX (by the file name): worker_id,name,phone,grids,active")
    streets: ImportFile | None = Field(default=None, description="GeoJSON FeatureCollection (optional)")
    datum: Literal["wgs84", "gcj02"] = Field(default="wgs84", description="the coordinates' datum")
    dry_run: bool = Field(default=False, description="show the difference, apply nothing")


class ImportResult(BaseModel):
    dry_run: bool
    applied: bool = Field(description="false on a dry run or when the files change nothing")
    version: int | None
    summary: dict[str, dict[str, int]]
    preview: list[str]
    changes: dict[str, Any]


class RegistrySummary(BaseModel):
    version: int | None
    counts: dict[str, int]


class IssuedTokenView(BaseModel):
    token: str
    token_id: str
    role: str
    subject: str
    expires_at: datetime


class WorkerUpdateView(BaseModel):
    """One outcome of a case the worker reported (the stream's `data`; `id` is its cursor)."""

    id: int
    case_id: uuid.UUID
    status: str
    at: datetime
    text: str = Field(description="what the worker reads (Chinese)")
    action_needed: bool = Field(description="the worker should act: tell the resident, add information")
    detail: dict[str, str | int | float | bool | None] = Field(
        description="department, department_name, item_code, item_name, resolve_hours, reason, refer_to, result"
    )


class WorkerReportView(BaseModel):
    case_id: uuid.UUID
    status: str
    reported_at: datetime
    updated_at: datetime
    description: str
    latest: WorkerUpdateView | None


class WorkerReportsPage(BaseModel):
    total: int
    page: int
    page_size: int
    reports: list[WorkerReportView]


class WorkerFeedStats(BaseModel):
    workers_told: int
    updates: dict[str, int]
    action_needed: int
