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

from gridloop.contracts.events import DuplicateDetail
from gridloop.delivery.db import UnitOfWork
from services.departments import metrics
from services.departments.sla import deadline_windows, start_deadlines
from services.departments.steps import OPEN_STATUSES, Step, lock_work_item, record_step, record_steps, step_event_id
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


def _box(row: Any) -> tuple[float | None, float | None, float | None, float | None]:
    """The box around a work item's 100 m circle (lat from, lat to, lon from, lon to), or Nones without a location.
    The database narrows candidates to the same grid or this box; `is_duplicate` then measures exactly."""
    location = row.location or {}
    lat, lon = location.get("lat"), location.get("lon")
    if lat is None or lon is None:
        return None, None, None, None
    dlat = math.degrees(RADIUS_METRES / EARTH_RADIUS_METRES) * 1.01
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def _sighting(row: Any) -> Sighting:
    return Sighting(row.item_code, row.grid_id, row.dispatched_at, row.location)


def _lock_key(row: Any) -> int:
    return zlib.crc32(f"dup:{row.department}:{row.item_code}".encode())


_OPEN = ", ".join(f"'{status}'" for status in sorted(OPEN_STATUSES))
# Per new work item (in the order given): the first 100 open, unlinked work items of its department and item
# dispatched within the window of it, in its grid or its box, earliest first. One round trip for a whole run.
_CANDIDATES = sa.text(
    f"""
    SELECT r.n, w.*
    FROM unnest(
        CAST(:case_ids AS uuid[]), CAST(:departments AS text[]), CAST(:items AS text[]), CAST(:grids AS text[]),
        CAST(:times AS timestamptz[]), CAST(:lat_from AS float8[]), CAST(:lat_to AS float8[]),
        CAST(:lon_from AS float8[]), CAST(:lon_to AS float8[])
    ) WITH ORDINALITY AS r(case_id, department, item_code, grid_id, at, lat_from, lat_to, lon_from, lon_to, n)
    CROSS JOIN LATERAL (
        SELECT * FROM work_items
        WHERE work_items.case_id IN (
                -- Two index scans: same grid (ix_work_items_item_grid), inside the box (ix_work_items_item_box).
                SELECT case_id FROM work_items AS g
                WHERE g.item_code = r.item_code AND g.grid_id = r.grid_id
                  AND g.dispatched_at BETWEEN r.at - CAST(:window AS interval) AND r.at + CAST(:window AS interval)
                UNION ALL
                SELECT case_id FROM work_items AS b
                WHERE b.item_code = r.item_code
                  AND CAST((b.location ->> 'lat') AS FLOAT) BETWEEN r.lat_from AND r.lat_to
                  AND CAST((b.location ->> 'lon') AS FLOAT) BETWEEN r.lon_from AND r.lon_to
                  AND b.dispatched_at BETWEEN r.at - CAST(:window AS interval) AND r.at + CAST(:window AS interval)
            )
          AND work_items.department = r.department
          AND work_items.status IN ({_OPEN}) AND work_items.primary_case_id IS NULL
          AND work_items.case_id <> r.case_id
        ORDER BY work_items.dispatched_at
        LIMIT 100
    ) AS w
    ORDER BY r.n, w.dispatched_at
    """
)
_LOCK_ITEMS = sa.text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:keys AS bigint[])) AS k")


async def link_duplicates(uow: UnitOfWork, rows: list[sa.Row]) -> None:
    """Link each of a run of freshly dispatched work items (`rows`, as just written, in dispatch order) to the
    earliest open work item it duplicates, as linking them one by one would: an item of the run can be the primary
    of a later one, never of an earlier one."""
    if not rows:
        return
    # Serialise matching per department and item, so two new duplicates cannot both become the primary. Keys in
    # one order, so two runs never wait for each other crosswise.
    await uow.conn.execute(_LOCK_ITEMS, {"keys": sorted({_lock_key(row) for row in rows})})
    boxes = [_box(row) for row in rows]
    found = await uow.conn.execute(
        _CANDIDATES,
        {
            "case_ids": [row.case_id for row in rows],
            "departments": [row.department for row in rows],
            "items": [row.item_code for row in rows],
            "grids": [row.grid_id for row in rows],
            "times": [row.dispatched_at for row in rows],
            "lat_from": [box[0] for box in boxes],
            "lat_to": [box[1] for box in boxes],
            "lon_from": [box[2] for box in boxes],
            "lon_to": [box[3] for box in boxes],
            "window": WINDOW,
        },
    )
    candidates: dict[int, list[Any]] = {}
    for candidate in found:
        candidates.setdefault(candidate.n - 1, []).append(candidate)
    position = {row.case_id: n for n, row in enumerate(rows)}
    # Lock every open item from before the run that a new one duplicates, and look again (one statement).
    outside = {
        candidate.case_id
        for n, found_for_row in candidates.items()
        for candidate in found_for_row
        if candidate.case_id not in position and is_duplicate(_sighting(rows[n]), _sighting(candidate))
    }
    still_open = await _lock_open(uow, outside)
    linked: dict[uuid.UUID, tuple[Any, uuid.UUID]] = {}  # case id -> (its row, its primary), in the run's order
    for n, row in enumerate(rows):
        # A candidate from the run was there when one by one would have looked only if it came earlier and did not
        # become a duplicate itself (a candidate from before the run sorts as -1).
        there = (c for c in candidates.get(n, []) if position.get(c.case_id, -1) < n and c.case_id not in linked)
        primary = next((c for c in there if is_duplicate(_sighting(row), _sighting(c))), None)
        if primary is None or (primary.case_id not in position and primary.case_id not in still_open):
            continue  # none, or closed meanwhile: one by one would not have linked it either
        linked[row.case_id] = (row, primary.case_id)
    await record_steps(uow, [_link(row, primary) for row, primary in linked.values()])
    for row, _ in linked.values():
        metrics.DUPLICATES.labels(row.department, "linked").inc()


async def _lock_open(uow: UnitOfWork, case_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Lock the chosen primaries and look again: a resolve or return that committed meanwhile did not see the link,
    so linking now would leave the new case waiting on a closed work item and its resident never told."""
    if not case_ids:
        return set()
    query = (
        sa.select(work_items.c.case_id)
        .where(
            work_items.c.case_id.in_(sorted(case_ids)),
            work_items.c.status.in_(OPEN_STATUSES),
            work_items.c.primary_case_id.is_(None),
        )
        .order_by(work_items.c.case_id)
        .with_for_update()
    )
    return set((await uow.conn.execute(query)).scalars())


def _link(row: Any, primary_case_id: uuid.UUID) -> Step:
    return Step(
        row,
        status="duplicate_linked",
        actor="departments",
        note=f"与同一网格（或100米内）24小时内的同类事项合并办理（主件 {primary_case_id}）",
        now=row.dispatched_at,
        event_id=step_event_id(row.case_id, row.dispatch_no, "duplicate_linked"),
        becomes="linked",
        values={"primary_case_id": primary_case_id},
        detail=DuplicateDetail(primary_case_id=primary_case_id, grid_id=row.grid_id),
    )


async def unlink(uow: UnitOfWork, case_id: uuid.UUID, *, operator: str, now: datetime) -> None:
    """Make a linked case its own work item again; its clocks restart now, as nobody was working it alone."""
    row = await lock_work_item(uow, case_id, "unlink", None)
    hours = row.resolve_hours or max(round((row.resolve_deadline - row.dispatched_at).total_seconds() / 3600), 1)
    windows = deadline_windows(hours)
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
        detail=DuplicateDetail(primary_case_id=row.primary_case_id),
    )
    await start_deadlines(uow, case_id, dispatch_no=row.dispatch_no, start=now, windows=windows)
    metrics.DUPLICATES.labels(row.department, "unlinked").inc()
