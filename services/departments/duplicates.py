"""Duplicates: a new case of the same item in the same grid (or within 100 m) within 24 h of an open case is
linked to it, so the department works one item with all its reporters; operators can unlink a wrong match."""

from __future__ import annotations

import math
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from gridloop.delivery.db import UnitOfWork
from services.departments import metrics
from services.departments.sla import sign_for_window, start_clocks
from services.departments.steps import OPEN_STATUSES, lock_work_item, record_step, step_event_id
from services.departments.tables import work_items

WINDOW = timedelta(hours=24)
RADIUS_METRES = 100.0
EARTH_RADIUS_METRES = 6_371_000.0


@dataclass(frozen=True)
class Sighting:
    """Where and when a case of an item was reported, as far as duplicate matching cares."""

    item_code: str
    grid_id: str
    dispatched_at: datetime
    location: dict[str, Any] | None = None


def distance_metres(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    """Great-circle distance between two locations, or None unless both have coordinates."""
    if not a or not b or None in (a.get("lat"), a.get("lon"), b.get("lat"), b.get("lon")):
        return None
    lat1, lon1, lat2, lon2 = map(math.radians, (a["lat"], a["lon"], b["lat"], b["lon"]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_METRES * math.asin(math.sqrt(h))


def is_duplicate(new: Sighting, open_case: Sighting) -> bool:
    if new.item_code != open_case.item_code or abs(new.dispatched_at - open_case.dispatched_at) > WINDOW:
        return False
    if new.grid_id == open_case.grid_id:
        return True
    distance = distance_metres(new.location, open_case.location)
    return distance is not None and distance <= RADIUS_METRES


def _near(row: Any) -> sa.ColumnElement[bool]:
    """SQL for "same grid, or inside the box around the 100 m circle": the database narrows the candidates to the
    neighbourhood (not the whole district's open cases of the item), `is_duplicate` then measures exactly."""
    near = [work_items.c.grid_id == row.grid_id]
    location = row.location or {}
    lat, lon = location.get("lat"), location.get("lon")
    if lat is not None and lon is not None:
        dlat = math.degrees(RADIUS_METRES / EARTH_RADIUS_METRES) * 1.01
        dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
        near.append(
            sa.and_(
                work_items.c.location["lat"].as_float().between(lat - dlat, lat + dlat),
                work_items.c.location["lon"].as_float().between(lon - dlon, lon + dlon),
            )
        )
    return sa.or_(*near)


def _sighting(row: Any) -> Sighting:
    return Sighting(row.item_code, row.grid_id, row.dispatched_at, row.location)


async def link_if_duplicate(uow: UnitOfWork, row: sa.Row, *, now: datetime) -> uuid.UUID | None:
    """Link a freshly dispatched work item (`row`, as just written) to the earliest open work item it duplicates;
    returns that case id."""
    case_id = row.case_id
    # Serialise matching per department and item, so two new duplicates cannot both become the primary.
    await uow.conn.execute(
        sa.select(sa.func.pg_advisory_xact_lock(zlib.crc32(f"dup:{row.department}:{row.item_code}".encode())))
    )
    candidates = (
        await uow.conn.execute(
            sa.select(work_items)
            .where(
                work_items.c.department == row.department,
                work_items.c.item_code == row.item_code,
                work_items.c.status.in_(OPEN_STATUSES),
                work_items.c.primary_case_id.is_(None),
                work_items.c.case_id != case_id,
                work_items.c.dispatched_at.between(row.dispatched_at - WINDOW, row.dispatched_at + WINDOW),
                _near(row),
            )
            .order_by(work_items.c.dispatched_at)
            .limit(100)
        )
    ).all()
    primary = next((c for c in candidates if is_duplicate(_sighting(row), _sighting(c))), None)
    if primary is None:
        return None
    # Lock the primary and look again: a resolve or return that committed meanwhile did not see this link,
    # so linking now would leave this case waiting on a closed work item and its resident never told.
    primary = (
        await uow.conn.execute(
            sa.select(work_items)
            .where(
                work_items.c.case_id == primary.case_id,
                work_items.c.status.in_(OPEN_STATUSES),
                work_items.c.primary_case_id.is_(None),
            )
            .with_for_update()
        )
    ).one_or_none()
    if primary is None:
        return None
    await record_step(
        uow,
        row,
        status="duplicate_linked",
        actor="departments",
        note=f"与同一网格（或100米内）24小时内的同类事项合并办理（主件 {primary.case_id}）",
        now=now,
        event_id=step_event_id(case_id, row.dispatch_no, "duplicate_linked"),
        becomes="linked",
        values={"primary_case_id": primary.case_id},
        detail={"primary_case_id": str(primary.case_id), "grid_id": row.grid_id},
    )
    metrics.DUPLICATES.labels(row.department, "linked").inc()
    return primary.case_id


async def unlink(uow: UnitOfWork, case_id: uuid.UUID, *, operator: str, now: datetime) -> None:
    """Make a linked case its own work item again; its clocks restart now, as nobody was working it alone."""
    row = await lock_work_item(uow, case_id, "unlink", None)
    hours = row.resolve_hours or max(round((row.resolve_deadline - row.dispatched_at).total_seconds() / 3600), 1)
    windows = {"sign": sign_for_window(hours), "resolve": timedelta(hours=hours)}
    await record_step(
        uow,
        row,
        status="duplicate_unlinked",
        actor=operator,
        note=f"取消与 {row.primary_case_id} 的合并，单独办理",
        now=now,
        event_id=step_event_id(case_id, row.dispatch_no, "duplicate_unlinked"),  # a case links once per dispatch
        becomes="dispatched",
        values={
            "primary_case_id": None,
            "sign_deadline": now + windows["sign"],
            "resolve_deadline": now + windows["resolve"],
        },
        detail={"primary_case_id": str(row.primary_case_id)},
    )
    await start_clocks(uow, case_id, dispatch_no=row.dispatch_no, start=now, windows=windows)
    metrics.DUPLICATES.labels(row.department, "unlinked").inc()
