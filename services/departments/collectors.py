"""Departments gauges read from the department tasks, refreshed in the background: the counts behind the rates
(as rates.py defines them) and the open cases past a deadline."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from gridloop.delivery.db import Database
from services.departments import metrics
from services.departments.rates import WORK_KINDS, feedback_counts, touched_since, work_counts
from services.departments.steps import OPEN_STATUSES
from services.departments.tables import department_tasks, feedback, work_items

log = logging.getLogger(__name__)
RATE_WINDOW = timedelta(days=30)
REFRESH_SECONDS = 15.0  # a grouped scan of the window: cheap, but not for every scrape
KINDS = (*WORK_KINDS, "rated", "satisfied")
DEADLINES = ("sign", "resolve")


def window_counts(now: datetime, window: timedelta = RATE_WINDOW) -> list[sa.ColumnElement]:
    """The counts behind the rates (KINDS, over the window up to now) and the open tasks past a deadline
    (DEADLINES), for any grouping of rate_source()."""
    t, w = department_tasks.c, work_items.c
    since = now - window
    open_task = sa.and_(~t.linked, w.dispatch_no == t.dispatch_no, w.status.in_(OPEN_STATUSES))
    return [
        *work_counts(since, None, now),
        *feedback_counts(since, None),  # every reporter's latest rating counts, duplicates' too (as in rates.py)
        sa.func.count().filter(open_task, w.status == "dispatched", w.sign_deadline < now).label("sign"),
        sa.func.count().filter(open_task, w.resolve_deadline < now).label("resolve"),
    ]


def rate_source() -> sa.FromClause:
    """Department tasks with their case's work item and the rating given to the task, if any."""
    t = department_tasks.c
    return department_tasks.join(work_items, work_items.c.case_id == t.case_id).outerjoin(
        feedback, sa.and_(feedback.c.case_id == t.case_id, feedback.c.dispatch_no == t.dispatch_no)
    )


def rate_counts_query(now: datetime, window: timedelta = RATE_WINDOW) -> sa.Select:
    """One scan, grouped twice: per (department, item) and per (department, community), never by item and
    community together (the cross product is what made /metrics 32,000 lines). `dimension` says which grouping
    a row belongs to; the other column is NULL."""
    t = department_tasks.c
    dimension = sa.case((sa.func.grouping(t.community_id) == 1, "item"), else_="community").label("dimension")
    query = sa.select(dimension, t.department, t.item_code, t.community_id, *window_counts(now, window))
    # Only rows that can count: touched in the window, open, or rated in the window.
    since = now - window
    rated = sa.select(feedback.c.case_id).where(feedback.c.rated_at >= since).scalar_subquery()
    still_open = sa.and_(work_items.c.dispatch_no == t.dispatch_no, work_items.c.status.in_(OPEN_STATUSES))
    can_count = sa.or_(touched_since(since), still_open, t.case_id == sa.any_(sa.func.array(rated)))
    query = query.select_from(rate_source()).where(can_count)
    by_item, by_community = sa.tuple_(t.department, t.item_code), sa.tuple_(t.department, t.community_id)
    return query.group_by(sa.func.grouping_sets(by_item, by_community))


def set_rate_gauges(rows: Iterable[sa.Row]) -> None:
    """Replace the four gauges' series with these rows (from rate_counts_query)."""
    gauges = (
        metrics.ITEM_RATE_CASES,
        metrics.COMMUNITY_RATE_CASES,
        metrics.ITEM_OVERDUE_CASES,
        metrics.COMMUNITY_OVERDUE_CASES,
    )
    for gauge in gauges:  # a combination that left the window must disappear, not stay at its last value
        gauge.clear()
    for row in rows:
        if row.dimension == "item":
            rates, overdue, labels = metrics.ITEM_RATE_CASES, metrics.ITEM_OVERDUE_CASES, (row.item_code,)
        else:
            rates, overdue, labels = metrics.COMMUNITY_RATE_CASES, metrics.COMMUNITY_OVERDUE_CASES, (row.community_id,)
        for kind in KINDS:
            rates.labels(kind, row.department, *labels).set(getattr(row, kind))
        for name in DEADLINES:
            overdue.labels(name, row.department, *labels).set(getattr(row, name))


async def refresh_rate_counts(db: Database, now: datetime | None = None) -> None:
    """The database-derived gauges made current (every REFRESH_SECONDS); a failed pass keeps the last values."""
    async with db.engine.connect() as conn:
        rows = (await conn.execute(rate_counts_query(now or datetime.now(UTC)))).all()
    set_rate_gauges(rows)
