"""The three rates (三率) per department, item or community over a time window [start, end).

- response rate = signed within the sign-for deadline ÷ dispatched in the window;
- resolution rate = resolved within the (possibly extended) deadline ÷ due, where due = resolved in the window,
  or the deadline fell in the window and has passed — an open overdue case counts as not resolved;
- satisfaction rate = (满意 + 基本满意) ÷ rated, over the residents' latest ratings given in the window.

Work items count once per department task: duplicates linked to another case and returned cases are left
out of the first two rates (returns are counted as bounces instead); every reporter's rating counts.
See docs/departments.md.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.contracts.topics import DEPARTMENTS
from gridloop.delivery.db import Database
from services.departments import metrics
from services.departments.clock import Clock
from services.departments.tables import feedback, work_items

log = logging.getLogger(__name__)

GroupBy = Literal["department", "item", "community"]
GROUP_COLUMNS = {
    "department": work_items.c.department,
    "item": work_items.c.item_code,
    "community": work_items.c.community_id,
}
SATISFIED = ("satisfied", "basically_satisfied")
GAUGE_WINDOW = timedelta(days=30)


def ratio(numerator: int, denominator: int) -> float | None:
    """A rate, or None when nothing was counted (no cases is not 0 %)."""
    return round(numerator / denominator, 4) if denominator else None


@dataclass
class RateCounts:
    group: str
    dispatched: int = 0
    signed_on_time: int = 0
    due: int = 0
    resolved_on_time: int = 0
    rated: int = 0
    satisfied: int = 0

    @property
    def response_rate(self) -> float | None:
        return ratio(self.signed_on_time, self.dispatched)

    @property
    def resolution_rate(self) -> float | None:
        return ratio(self.resolved_on_time, self.due)

    @property
    def satisfaction_rate(self) -> float | None:
        return ratio(self.satisfied, self.rated)


def _scope(department: str | None) -> list[sa.ColumnElement[bool]]:
    return [work_items.c.department == department] if department else []


def work_counts_query(
    group_by: GroupBy, start: datetime, end: datetime, now: datetime, department: str | None = None
) -> sa.Select:
    w = work_items.c
    key = GROUP_COLUMNS[group_by]
    dispatched = (w.dispatched_at >= start) & (w.dispatched_at < end)
    due = ((w.resolved_at >= start) & (w.resolved_at < end)) | (
        (w.resolve_deadline >= start) & (w.resolve_deadline < end) & (w.resolve_deadline <= now)
    )
    return (
        sa.select(
            key.label("group"),
            sa.func.count().filter(dispatched).label("dispatched"),
            sa.func.count().filter(dispatched, w.signed_at <= w.sign_deadline).label("signed_on_time"),
            sa.func.count().filter(due).label("due"),
            sa.func.count().filter(due, w.resolved_at <= w.resolve_deadline).label("resolved_on_time"),
        )
        .where(w.primary_case_id.is_(None), w.status != "returned", w.status != "linked", *_scope(department))
        .group_by(key)
    )


def feedback_counts_query(
    group_by: GroupBy, start: datetime, end: datetime, department: str | None = None
) -> sa.Select:
    key = GROUP_COLUMNS[group_by]
    return (
        sa.select(
            key.label("group"),
            sa.func.count().label("rated"),
            sa.func.count().filter(feedback.c.rating.in_(SATISFIED)).label("satisfied"),
        )
        .select_from(feedback.join(work_items, work_items.c.case_id == feedback.c.case_id))
        .where(feedback.c.rated_at >= start, feedback.c.rated_at < end, *_scope(department))
        .group_by(key)
    )


async def compute_rates(
    conn: AsyncConnection,
    group_by: GroupBy,
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    department: str | None = None,
) -> list[RateCounts]:
    counts: dict[str, RateCounts] = {}
    for row in (await conn.execute(work_counts_query(group_by, start, end, now, department))).all():
        counts[row.group] = RateCounts(row.group, row.dispatched, row.signed_on_time, row.due, row.resolved_on_time)
    for row in (await conn.execute(feedback_counts_query(group_by, start, end, department))).all():
        entry = counts.setdefault(row.group, RateCounts(row.group))
        entry.rated, entry.satisfied = row.rated, row.satisfied
    return [c for _, c in sorted(counts.items()) if c.dispatched or c.due or c.rated]


async def refresh_rate_gauges(db: Database, clock: Clock, *, interval: float = 15.0) -> None:
    """Keep gridloop_department_rate_ratio current (trailing 30 days); an undefined rate has no sample."""
    while True:
        now = clock.now()
        try:
            async with db.engine.connect() as conn:
                rows = await compute_rates(conn, "department", now - GAUGE_WINDOW, now, now)
        except Exception as exc:  # the database is down: the relay and consumers report that already
            log.warning("department rate gauges not refreshed: %s", exc)
        else:
            metrics.DEPARTMENT_RATE.clear()
            for row in rows:
                if row.group not in DEPARTMENTS:
                    continue
                for rate in ("response", "resolution", "satisfaction"):
                    value = getattr(row, f"{rate}_rate")
                    if value is not None:
                        metrics.DEPARTMENT_RATE.labels(row.group, rate).set(value)
        await asyncio.sleep(interval)
