"""Duplicates: a new case that reports the same problem as an open case — same item, within 24 h, within 100 m, and
descriptions alike (the classifier's features) — is linked to it, so the department works one item with all its
reporters. A likelier-than-not match below the confident score (or with no coordinates to measure, only the same
grid) is only *suspected*: the case stays its own task until a clerk confirms or rejects the link in one call.

Cases about a person (police items, domestic violence, mental health, minors, a household's money, fraud
victims, …) are never linked, confirmed or not: two families' reports are never the same problem because they
are near each other (`may_be_linked`: the admission list's `is_personal`). Precision and recall on a labelled
set: docs/departments.md."""

from __future__ import annotations

import math
import re
import unicodedata
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

import sqlalchemy as sa

from gridloop.admission.admission_list import is_personal
from gridloop.admission.features import _ADDRESS, Tokenizer
from gridloop.contracts.events import DuplicateDetail
from gridloop.delivery.db import UnitOfWork
from services.departments import metrics, tasks
from services.departments.sla import deadline_windows, start_deadlines
from services.departments.steps import (
    OPEN_STATUSES,
    InvalidTransition,
    Step,
    linked_rows,
    lock_work_item,
    record_step,
    record_steps,
    step_event_id,
)
from services.departments.tables import activity, work_items
from services.departments.working_time import Deadlines

WINDOW = timedelta(hours=24)
RADIUS_METRES = 100.0
EARTH_RADIUS_METRES = 6_371_000.0
# Description similarity (cosine of the classifier's features plus the places named) above which two reports
# within 100 m are linked, and above which they are only suspected. Chosen on half of the labelled pairs
# (tests/data/duplicate_pairs.jsonl) for no wrong automatic link; measured on the other half (docs/departments.md).
CONFIDENT_SCORE = 0.22
SUSPECTED_SCORE = 0.12
Match = Literal["linked", "suspected"]
PROGRESS_ZH = {"dispatched": "已转派，待部门签收", "signed": "部门已签收，正在办理", "in_progress": "正在办理"}


@dataclass(frozen=True)
class Sighting:
    """Where, when and in what words a case of an item was reported, as far as duplicate matching cares."""

    item_code: str
    grid_id: str
    dispatched_at: datetime
    location: dict[str, Any] | None = None
    description: str = ""


_TOKENIZER = Tokenizer()  # jieba loads on first use, not at import
_PLACE_NUMBER = re.compile(r"\d+(栋|幢|号院|号楼|号|单元|段)?")


@lru_cache(maxsize=4096)
def _weights(text: str) -> tuple[tuple[str, float], ...]:
    """The classifier's features of a description (what it says) plus the addresses and numbered places it names
    (the classifier masks those; here they tell two lamps apart), with sublinear term weights."""
    counts: Counter[str] = _TOKENIZER.features(text)
    plain = unicodedata.normalize("NFKC", text).lower()
    counts.update("p:" + m.group(0) for m in _ADDRESS.finditer(plain))
    counts.update("n:" + m.group(0) for m in _PLACE_NUMBER.finditer(plain))
    return tuple((feature, 1 + math.log(n)) for feature, n in counts.items())


def similarity(a: str, b: str) -> float:
    """Cosine similarity of two descriptions' features, 0..1."""
    wa, wb = dict(_weights(a)), dict(_weights(b))
    dot = sum(w * wb.get(f, 0.0) for f, w in wa.items())
    norm = math.sqrt(sum(w * w for w in wa.values()) * sum(w * w for w in wb.values()))
    return dot / norm if norm else 0.0


def match(new: Sighting, open_case: Sighting) -> tuple[Match | None, float]:
    """Whether a new report is the open case's problem: linked (sure), suspected (a clerk decides) or not, and the
    description score. Place first: more than 100 m apart is another problem; with no coordinates to measure,
    only the same grid (hundreds of households) — at most a suspicion. The grids are the cases' places by the
    registry's boundaries (CaseDispatched.placed), never the reporting worker's grid."""
    if not may_be_linked(new.item_code) or new.item_code != open_case.item_code:
        return None, 0.0
    if abs(new.dispatched_at - open_case.dispatched_at) > WINDOW:
        return None, 0.0
    distance = distance_metres(new.location, open_case.location)
    if distance is None and new.grid_id != open_case.grid_id:
        return None, 0.0
    if distance is not None and distance > RADIUS_METRES:
        return None, 0.0
    score = similarity(new.description, open_case.description)
    if score >= CONFIDENT_SCORE and distance is not None:
        return "linked", score
    return ("suspected", score) if score >= SUSPECTED_SCORE else (None, score)


def distance_metres(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    """Great-circle distance between two locations, or None unless both have coordinates."""
    if not a or not b or None in (a.get("lat"), a.get("lon"), b.get("lat"), b.get("lon")):
        return None
    lat1, lon1, lat2, lon2 = map(math.radians, (a["lat"], a["lon"], b["lat"], b["lon"]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_METRES * math.asin(math.sqrt(h))


def may_be_linked(item_code: str) -> bool:
    """The guard every duplicate rule keeps: a case about a person is never merged with another."""
    return not is_personal(item_code)


def is_duplicate(new: Sighting, open_case: Sighting) -> bool:
    return match(new, open_case)[0] == "linked"


def _box(row: Any) -> tuple[float | None, float | None, float | None, float | None]:
    """The box around a work item's 100 m circle (lat from, lat to, lon from, lon to), or Nones without a location.
    The database narrows candidates to this box; `is_duplicate` then measures exactly."""
    location = row.location or {}
    lat, lon = location.get("lat"), location.get("lon")
    if lat is None or lon is None:
        return None, None, None, None
    dlat = math.degrees(RADIUS_METRES / EARTH_RADIUS_METRES) * 1.01
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def _sighting(row: Any) -> Sighting:
    return Sighting(row.item_code, row.grid_id, row.dispatched_at, row.location, row.description)


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
                -- Two index scans: same grid (ix_work_items_item_grid: the grid alone is at most a suspicion, `match`
                -- decides) and inside the box (ix_work_items_item_box).
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
    rows = [row for row in rows if may_be_linked(row.item_code)]  # personal cases: not even looked up
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
    matches = {
        (n, candidate.case_id): match(_sighting(rows[n]), _sighting(candidate))
        for n, found_for_row in candidates.items()
        for candidate in found_for_row
    }
    # Lock every open item from before the run that a new one matches, and look again (one statement).
    outside = {case_id for (n, case_id), (kind, _) in matches.items() if kind is not None and case_id not in position}
    still_open = await _lock_open(uow, outside)
    linked: dict[uuid.UUID, tuple[Any, Any, float]] = {}  # case id -> (its row, its primary, score), in run order
    suspected: list[tuple[Any, Any, float]] = []
    for n, row in enumerate(rows):
        # A candidate from the run was there when one by one would have looked only if it came earlier and did not
        # become a duplicate itself (a candidate from before the run sorts as -1); one closed meanwhile is gone.
        there = [
            c
            for c in candidates.get(n, [])
            if position.get(c.case_id, -1) < n
            and c.case_id not in linked
            and (c.case_id in position or c.case_id in still_open)
        ]
        sure = [(c, matches[(n, c.case_id)][1]) for c in there if matches[(n, c.case_id)][0] == "linked"]
        if sure:
            linked[row.case_id] = (row, *sure[0])  # the earliest sure match
            continue
        maybe = [(c, matches[(n, c.case_id)][1]) for c in there if matches[(n, c.case_id)][0] == "suspected"]
        if maybe:
            suspected.append((row, *max(maybe, key=lambda pair: pair[1])))  # the likeliest
    await record_steps(
        uow, [_link(row, primary, score, actor="departments") for row, primary, score in linked.values()]
    )
    await tasks.linked(uow, [(row.case_id, row.dispatch_no) for row, _, _ in linked.values()])
    for row, _, _ in linked.values():
        metrics.DUPLICATES.labels(row.department, "linked").inc()
    await _suspect(uow, suspected)


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


def _link(row: Any, primary: Any, score: float, *, actor: str, now: datetime | None = None) -> Step:
    """The step that links a case to its primary; the resident is told 已并案 with the primary's progress."""
    progress = PROGRESS_ZH.get(primary.status, "正在办理")
    return Step(
        row,
        status="duplicate_linked",
        actor=actor,
        note=f"与100米内24小时内反映的同一问题并案办理（主件 {primary.case_id}，{progress}）",
        now=now or row.dispatched_at,
        event_id=step_event_id(row.case_id, row.dispatch_no, "duplicate_linked"),
        becomes="linked",
        values={"primary_case_id": primary.case_id, "suspected_duplicate_of": None, "duplicate_score": round(score, 4)},
        detail=DuplicateDetail(
            primary_case_id=primary.case_id, grid_id=row.grid_id, score=round(score, 4), primary_progress=progress
        ),
    )


async def _suspect(uow: UnitOfWork, suspected: list[tuple[Any, Any, float]]) -> None:
    """Mark cases as suspected duplicates: they stay their own tasks until a clerk confirms or rejects the link. No
    status event (the resident hears only a decision)."""
    if not suspected:
        return
    await uow.conn.execute(
        sa.update(work_items)
        .where(work_items.c.case_id == sa.bindparam("suspect_case_id"))
        .values(suspected_duplicate_of=sa.bindparam("suspect_of"), duplicate_score=sa.bindparam("suspect_score")),
        [
            {"suspect_case_id": r.case_id, "suspect_of": p.case_id, "suspect_score": round(s, 4)}
            for r, p, s in suspected
        ],
    )
    await uow.conn.execute(
        sa.insert(activity),
        [
            {
                "case_id": r.case_id,
                "action": "duplicate_suspected",
                "actor": "departments",
                "note": f"疑似与 {p.case_id} 为同一问题（相似度{s:.2f}），待人工确认",
                "photo_urls": [],
                "at": r.dispatched_at,
            }
            for r, p, s in suspected
        ],
    )
    for row, _, _ in suspected:
        metrics.DUPLICATES.labels(row.department, "suspected").inc()


async def confirm_duplicate(
    uow: UnitOfWork, case_id: uuid.UUID, *, operator: str, now: datetime, department: str | None = None
) -> None:
    """A clerk (of the case's department, `department` set) or an operator confirms a suspected duplicate: it is
    linked to its primary as a sure match would have been."""
    row = await lock_work_item(uow, case_id, "confirm_duplicate", department)
    if row.suspected_duplicate_of is None:
        raise InvalidTransition("case is not a suspected duplicate")
    if not may_be_linked(row.item_code):
        raise InvalidTransition(f"cases of item {row.item_code} are about a person and are never merged")
    if await linked_rows(uow, case_id):
        raise InvalidTransition("other cases are linked to this one; unlink them first")
    primary = (
        await uow.conn.execute(
            sa.select(work_items).where(work_items.c.case_id == row.suspected_duplicate_of).with_for_update()
        )
    ).one_or_none()
    if primary is None or primary.status not in OPEN_STATUSES or primary.primary_case_id is not None:
        raise InvalidTransition(f"the suspected primary {row.suspected_duplicate_of} is no longer open")
    await record_steps(uow, [_link(row, primary, row.duplicate_score or 0.0, actor=operator, now=now)])
    await tasks.linked(uow, [(row.case_id, row.dispatch_no)])
    metrics.DUPLICATES.labels(row.department, "confirmed").inc()


async def reject_duplicate(
    uow: UnitOfWork, case_id: uuid.UUID, *, operator: str, now: datetime, department: str | None = None
) -> None:
    """A clerk (of the case's department) or an operator rejects a suspected duplicate: it stays its own case, and
    is not suspected again of that primary."""
    row = await lock_work_item(uow, case_id, "confirm_duplicate", department)
    if row.suspected_duplicate_of is None:
        raise InvalidTransition("case is not a suspected duplicate")
    await uow.conn.execute(
        sa.update(work_items).where(work_items.c.case_id == case_id).values(suspected_duplicate_of=None, updated_at=now)
    )
    await uow.conn.execute(
        sa.insert(activity).values(
            case_id=case_id,
            action="duplicate_rejected",
            actor=operator,
            note=f"经核实与 {row.suspected_duplicate_of} 不是同一问题，单独办理",
            photo_urls=[],
            at=now,
        )
    )
    metrics.DUPLICATES.labels(row.department, "rejected").inc()


async def unlink(uow: UnitOfWork, case_id: uuid.UUID, *, operator: str, now: datetime, deadlines: Deadlines) -> None:
    """Make a linked case its own work item again; its deadlines restart now, as nobody was working it alone."""
    row = await lock_work_item(uow, case_id, "unlink", None)
    await deadlines.refresh(uow.conn)
    timeline = deadlines.timeline(row.item_code)
    hours = row.resolve_hours or max(round((row.resolve_deadline - row.dispatched_at).total_seconds() / 3600), 1)
    windows = deadline_windows(hours)
    sign_deadline, resolve_deadline = timeline.add(now, windows["sign"]), timeline.add(now, windows["resolve"])
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
            "sign_deadline": sign_deadline,
            "resolve_deadline": resolve_deadline,
        },
        detail=DuplicateDetail(primary_case_id=row.primary_case_id),
    )
    await start_deadlines(uow, case_id, dispatch_no=row.dispatch_no, start=now, windows=windows, timeline=timeline)
    await tasks.unlinked(uow, case_id, row.dispatch_no, sign_deadline=sign_deadline, deadline=resolve_deadline)
    metrics.DUPLICATES.labels(row.department, "unlinked").inc()
