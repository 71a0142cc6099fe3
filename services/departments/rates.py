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

from gridloop.contracts.events import SATISFIED
from gridloop.contracts.topics import DEPARTMENTS
from gridloop.delivery.db import Database
from gridloop.servicekit.clock import Clock
from services.departments import metrics
from services.departments.tables import TOUCHED_AT, feedback, work_items

log = logging.getLogger(__name__)

GroupBy = Literal["department", "item", "community"]
GROUP_COLUMNS = {
    "department": work_items.c.department,
    "item": work_items.c.item_code,
    "community": work_items.c.community_id,
}
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


def counted() -> sa.ColumnElement[bool]:
    """A duplicate rides on its primary and a returned item is a bounce, not this department's case."""
    w = work_items.c
    return sa.and_(w.primary_case_id.is_(None), w.status != "returned", w.status != "linked")


def touched_since(start: datetime) -> sa.ColumnElement[bool]:
    """Work items that can count in a window from `start`: dispatched, resolved or due since, or still open. The
    others (resolved before the window, due before it) cannot, and the index ix_work_items_touched leaves them out,
    so the rates read the window's rows, not every case since the district started. Exact: every count below
    needs one of those times at or after `start`, or an open case (an unresolved case's time is infinity)."""
    return TOUCHED_AT >= start


def _within(column: sa.ColumnElement, start: datetime, end: datetime | None) -> sa.ColumnElement[bool]:
    return sa.and_(column >= start, column < end) if end is not None else column >= start


def work_counts(
    start: datetime, end: datetime | None, now: datetime, *, only: sa.ColumnElement[bool] | None = None
) -> list[sa.ColumnElement[int]]:
    """The counts behind the response and resolution rates over [start, end) (open-ended without `end`), as
    labelled columns for any grouping; `only` narrows them inside the counts (the gauges group what the WHERE
    clause cannot leave out)."""
    w = work_items.c
    dispatched = _within(w.dispatched_at, start, end)
    due = sa.or_(
        _within(w.resolved_at, start, end), sa.and_(_within(w.resolve_deadline, start, end), w.resolve_deadline <= now)
    )
    if only is not None:
        dispatched, due = sa.and_(only, dispatched), sa.and_(only, due)
    return [
        sa.func.count().filter(dispatched).label("dispatched"),
        sa.func.count().filter(dispatched, w.signed_at <= w.sign_deadline).label("signed_on_time"),
        sa.func.count().filter(due).label("due"),
        sa.func.count().filter(due, w.resolved_at <= w.resolve_deadline).label("resolved_on_time"),
    ]


def feedback_counts(start: datetime, end: datetime | None) -> list[sa.ColumnElement[int]]:
    """The counts behind the satisfaction rate: residents' latest ratings given over [start, end)."""
    rated = _within(feedback.c.rated_at, start, end)
    return [
        sa.func.count().filter(rated).label("rated"),
        sa.func.count().filter(rated, feedback.c.rating.in_(sorted(SATISFIED))).label("satisfied"),
    ]


def work_counts_query(
    group_by: GroupBy, start: datetime, end: datetime, now: datetime, department: str | None = None
) -> sa.Select:
    key = GROUP_COLUMNS[group_by]
    return (
        sa.select(key.label("group"), *work_counts(start, end, now))
        .where(counted(), touched_since(start), *_scope(department))
        .group_by(key)
    )


def feedback_counts_query(
    group_by: GroupBy, start: datetime, end: datetime, department: str | None = None
) -> sa.Select:
    key = GROUP_COLUMNS[group_by]
    return (
        sa.select(key.label("group"), *feedback_counts(start, end))
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
