"""The grid worker app's logic: the items a worker may hint, the worker's grids, photos, and how a case's status
reads to the worker (routes in worker_app_pages.py; docs/consoles.md)."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.admission.admission_list import AdmissionItem
from gridloop.registry import Grid, Registry
from services.intake.admission_list import RouterAdmissionList
from services.intake.schemas import WorkerReportView
from services.intake.tables import photos

# What the worker reads for a case's current status.
STATUS_ZH: dict[str, str] = {
    "received": "已受理",
    "forwarded": "已转派",
    "not_admitted": "不属于准入事项",
    "triage": "待人工分拨",
    "signed": "已签收",
    "in_progress": "办理中",
    "returned": "已退单，重新分拨中",
    "resolved": "已办结",
    "reopened": "重新办理",
    "closed": "已结案",
}
# Photo types the app accepts, told apart by their first bytes (the browser's declared type is not trusted).
PHOTO_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}
MAX_PHOTOS = 9  # as ReportIn.photo_urls


def admission_items(in_force: RouterAdmissionList) -> list[AdmissionItem]:
    """The items a worker may hint: the router's list in force, as this intake replica follows it."""
    return list(in_force.current.items.values())


def grids_of(registry: Registry, worker_id: str) -> list[Grid]:
    return list(registry.grids_of(worker_id))


class PhotoRefused(ValueError):
    """Not a JPEG or PNG, empty, or larger than allowed (the message is shown to the worker)."""


def photo_type(data: bytes, *, max_bytes: int) -> str:
    if not data:
        raise PhotoRefused("照片为空")
    if len(data) > max_bytes:
        raise PhotoRefused(f"照片超过 {max_bytes // (1024 * 1024)} MB，请压缩后再传")
    for content_type, signatures in PHOTO_SIGNATURES.items():
        if data.startswith(signatures):
            return content_type
    raise PhotoRefused("只接受 JPEG 或 PNG 照片")


def photo_id_for(worker_id: str, client_report_id: uuid.UUID, index: int) -> str:
    """The photo's id derives from the worker and the device's report id (reports are idempotent per worker), so
    a retried upload is the same photo."""
    return str(uuid.uuid5(client_report_id, f"photo:{worker_id}:{index}"))


async def store_photo(
    conn: AsyncConnection, *, photo_id: str, worker_id: str, content_type: str, data: bytes, now: datetime
) -> bool:
    """Store a photo once; False if the id belongs to another worker's upload."""
    await conn.execute(
        insert(photos)
        .values(photo_id=photo_id, worker_id=worker_id, content_type=content_type, data=data, uploaded_at=now)
        .on_conflict_do_nothing(index_elements=["photo_id"])
    )
    owner = await conn.scalar(sa.select(photos.c.worker_id).where(photos.c.photo_id == photo_id))
    return owner == worker_id


async def load_photo(conn: AsyncConnection, photo_id: str) -> tuple[str, bytes] | None:
    row = (
        await conn.execute(sa.select(photos.c.content_type, photos.c.data).where(photos.c.photo_id == photo_id))
    ).one_or_none()
    return (row.content_type, row.data) if row else None


@dataclass(frozen=True)
class ReportCard:
    """A report as "my reports" shows it (worker.js draws a streamed update the same way: `card` there)."""

    case_id: str
    status: str
    label: str
    summary: str  # the description's start
    reported_at: str
    note: str  # the latest outcome as the worker reads it; for a case not admitted, the reason
    tell_resident: str | None  # for a case not admitted: what to tell the resident
    action_needed: bool


def report_card(report: WorkerReportView) -> dict[str, object]:
    """One of the worker feed's reports (`GET /v1/workers/me/reports`) as the app draws it."""
    latest = report.latest
    note, tell = (latest.text if latest else ""), None
    if latest is not None and latest.status == "not_admitted":
        note = f"不予受理：{latest.detail.get('reason') or ''}"
        refer_to = latest.detail.get("refer_to")  # already an instruction: "请告知居民拨打12315…"
        tell = str(refer_to) if refer_to else f"请告知居民：{latest.detail.get('reason') or ''}"
    card = ReportCard(
        case_id=str(report.case_id),
        status=report.status,
        label=STATUS_ZH.get(report.status, report.status),
        summary=report.description[:40],
        reported_at=report.reported_at.isoformat(),
        note=note,
        tell_resident=tell,
        action_needed=bool(latest and latest.action_needed),
    )
    return asdict(card)
