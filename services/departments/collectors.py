"""Departments gauges read from the work items, refreshed in the background: the counts behind the rates,
and the open cases past a deadline.

Response rate = signed within the sign-for deadline / dispatched (dispatched in the window).
Resolution rate = resolved within the deadline / due, where due = resolved in the window, or the deadline
fell in the window and has passed (an open overdue case counts as not resolved).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from gridloop.delivery.db import Database
from services.departments import metrics
from services.departments.rates import counted, feedback_counts, touched_since, work_counts
from services.departments.tables import feedback, work_items

log = logging.getLogger(__name__)
RATE_WINDOW = timedelta(days=30)
REFRESH_SECONDS = 15.0  # a grouped scan of the window: cheap, but not for every scrape
KINDS = ("dispatched", "signed_on_time", "due", "resolved_on_time", "rated", "satisfied")
CLOCKS = ("sign", "resolve")


def window_counts(now: datetime, window: timedelta = RATE_WINDOW) -> list[sa.ColumnElement]:
    """The counts behind the rates (KINDS, as rates.py defines them, over the window up to now) and the open
    cases past a deadline (CLOCKS), for any grouping of rate_source()."""
    w = work_items.c
    since, own = now - window, counted()
    return [
        *work_counts(since, None, now, only=own),
        *feedback_counts(since, None),  # every reporter's latest rating counts, duplicates' too (as in rates.py)
        sa.func.count()
        .filter(own, w.signed_at.is_(None), w.resolved_at.is_(None), w.sign_deadline < now)
        .label("sign"),
        sa.func.count().filter(own, w.resolved_at.is_(None), w.resolve_deadline < now).label("resolve"),
    ]


def rate_source() -> sa.FromClause:
    """Work items with their resident's latest rating, if any: what window_counts counts over."""
    return work_items.outerjoin(feedback, feedback.c.case_id == work_items.c.case_id)


def rate_counts_query(now: datetime, window: timedelta = RATE_WINDOW) -> sa.Select:
    """One scan, grouped twice: per (department, item) and per (department, community), never by item and
    community together (the cross product is what made /metrics 32,000 lines). `dimension` says which grouping
    a row belongs to; the other column is NULL."""
    w = work_items.c
    dimension = sa.case((sa.func.grouping(w.community_id) == 1, "item"), else_="community").label("dimension")
    query = sa.select(dimension, w.department, w.item_code, w.community_id, *window_counts(now, window))
    # Only rows that can count: touched in the window or open, or rated in the window (two index scans, OR-ed).
    since = now - window
    rated = sa.select(feedback.c.case_id).where(feedback.c.rated_at >= since).scalar_subquery()
    can_count = sa.or_(touched_since(since), w.case_id == sa.any_(sa.func.array(rated)))
    query = query.select_from(rate_source()).where(can_count)
    by_item, by_community = sa.tuple_(w.department, w.item_code), sa.tuple_(w.department, w.community_id)
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
        for clock in CLOCKS:
            overdue.labels(clock, row.department, *labels).set(getattr(row, clock))


async def refresh_rate_counts(db: Database, now: datetime | None = None) -> None:
    """The database-derived gauges made current (every REFRESH_SECONDS); a failed pass keeps the last values."""
    async with db.engine.connect() as conn:
        rows = (await conn.execute(rate_counts_query(now or datetime.now(UTC)))).all()
    set_rate_gauges(rows)

