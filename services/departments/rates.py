"""The three rates (三率) per department, item or community over a time window [start, end), counted over
department tasks (one per dispatch of a case, tables.department_tasks). The rules (docs/departments.md):

- response rate = answered within the sign-for deadline ÷ due for an answer, over the tasks dispatched in the
  window; a task is due for an answer once it was signed for or returned, or its sign-for deadline has passed
  (a fresh case still inside its sign-for window is not counted either way). Signing or returning answers it;
- resolution rate = resolved within the deadline ÷ due, over the tasks whose resolution fell due in the window:
  at their first outcome (first resolution, or a return), or at the deadline in force if nothing came by then.
  A task reopened after its resolution is not resolved; a return after signing, or after the sign-for deadline,
  is an unresolved task; a prompt return (before signing, within the sign-for deadline) is not due at all.
  Two deadlines are counted: the one in force (moved by extensions asked for before it passed) and the original;
- satisfaction rate = (满意 + 基本满意) ÷ rated, over the residents' latest ratings given in the window, each
  counted for the department task the resident was answered by.

Duplicates linked to another case are not tasks of their own (their primary's is); every reporter's rating counts.
Returns are counted too (`returned`), so bounces stay visible next to the rates.
"""

from __future__ import annotations

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
from services.departments.schemas import RateView
from services.departments.tables import department_tasks, feedback

log = logging.getLogger(__name__)

GroupBy = Literal["department", "item", "community", "street"]
# Communities and streets are the case's place by the registry's boundaries (CaseDispatched.placed), never the
# reporting worker's grid: a report across a community border counts where its location lies (docs/registry.md).
GROUP_COLUMNS = {
    "department": department_tasks.c.department,
    "item": department_tasks.c.item_code,
    "community": department_tasks.c.community_id,
    "street": department_tasks.c.street,
}
GAUGE_WINDOW = timedelta(days=30)


def ratio(numerator: int, denominator: int) -> float | None:
    """A rate, or None when nothing was counted (no cases is not 0 %)."""
    return round(numerator / denominator, 4) if denominator else None


@dataclass
class RateCounts:
    group: str
    dispatched: int = 0  # tasks dispatched in the window
    response_due: int = 0  # of those, answered or past the sign-for deadline
    signed_on_time: int = 0  # answered (signed for, or returned) within the sign-for deadline
    due: int = 0  # tasks whose resolution fell due in the window
    resolved_on_time: int = 0  # resolved within the deadline in force, not reopened
    resolved_within_original: int = 0  # resolved within the original deadline, not reopened
    reopened: int = 0  # due tasks whose resolution a resident's 不满意 reopened
    returned: int = 0  # tasks returned (退单) in the window: bounces
    rated: int = 0
    satisfied: int = 0

    @property
    def response_rate(self) -> float | None:
        return ratio(self.signed_on_time, self.response_due)

    @property
    def resolution_rate(self) -> float | None:
        return ratio(self.resolved_on_time, self.due)

    @property
    def resolution_rate_original(self) -> float | None:
        return ratio(self.resolved_within_original, self.due)

    @property
    def satisfaction_rate(self) -> float | None:
        return ratio(self.satisfied, self.rated)


def _scope(department: str | None) -> list[sa.ColumnElement[bool]]:
    return [department_tasks.c.department == department] if department else []


def touched_since(start: datetime) -> sa.ColumnElement[bool]:
    """Tasks that can count in a window from `start`: dispatched or due since (ix_department_tasks_touched_at), or
    returned since (a prompt return is never due). Exact: every count below needs one of those times >= start."""
    t = department_tasks.c
    return sa.or_(t.touched_at >= start, t.returned_at >= start)


def _within(column: sa.ColumnElement, start: datetime, end: datetime | None) -> sa.ColumnElement[bool]:
    return sa.and_(column >= start, column < end) if end is not None else column >= start


def work_counts(
    start: datetime, end: datetime | None, now: datetime, *, only: sa.ColumnElement[bool] | None = None
) -> list[sa.ColumnElement[int]]:
    """The counts behind the response and resolution rates over [start, end) (open-ended without `end`), as
    labelled columns for any grouping of department_tasks; `only` narrows them further."""
    t = department_tasks.c
    own = sa.and_(~t.linked, only) if only is not None else ~t.linked
    answered_at = sa.func.least(t.signed_at, t.returned_at)
    dispatched = sa.and_(own, _within(t.dispatched_at, start, end))
    response_due = sa.and_(dispatched, sa.or_(answered_at.is_not(None), t.sign_deadline <= now))
    due = sa.and_(own, _within(t.due_at, start, end), t.due_at <= now)
    resolved = sa.and_(due, t.reopens == 0, t.first_resolved_at.is_not(None))
    return [
        sa.func.count().filter(dispatched).label("dispatched"),
        sa.func.count().filter(response_due).label("response_due"),
        sa.func.count().filter(response_due, answered_at <= t.sign_deadline).label("signed_on_time"),
        sa.func.count().filter(due).label("due"),
        sa.func.count().filter(resolved, t.first_resolved_at <= t.deadline).label("resolved_on_time"),
        sa.func.count().filter(resolved, t.first_resolved_at <= t.original_deadline).label("resolved_within_original"),
        sa.func.count().filter(due, t.reopens > 0).label("reopened"),
        sa.func.count().filter(own, _within(t.returned_at, start, end)).label("returned"),
    ]


WORK_KINDS = (
    "dispatched",
    "response_due",
    "signed_on_time",
    "due",
    "resolved_on_time",
    "resolved_within_original",
    "reopened",
    "returned",
)


def feedback_counts(start: datetime, end: datetime | None) -> list[sa.ColumnElement[int]]:
    """The counts behind the satisfaction rate: residents' latest ratings given over [start, end)."""
    rated = _within(feedback.c.rated_at, start, end)
    return [
        sa.func.count().filter(rated).label("rated"),
        sa.func.count().filter(rated, feedback.c.rating.in_(sorted(SATISFIED))).label("satisfied"),
    ]


def rated_task() -> sa.FromClause:
    """Ratings joined to the department task they rate."""
    return feedback.join(
        department_tasks,
        sa.and_(
            department_tasks.c.case_id == feedback.c.case_id, department_tasks.c.dispatch_no == feedback.c.dispatch_no
        ),
    )


def work_counts_query(
    group_by: GroupBy, start: datetime, end: datetime, now: datetime, department: str | None = None
) -> sa.Select:
    key = GROUP_COLUMNS[group_by]
    return (
        sa.select(key.label("group"), *work_counts(start, end, now))
        .where(touched_since(start), *_scope(department))
        .group_by(key)
    )


def feedback_counts_query(
    group_by: GroupBy, start: datetime, end: datetime, department: str | None = None
) -> sa.Select:
    key = GROUP_COLUMNS[group_by]
    return (
        sa.select(key.label("group"), *feedback_counts(start, end))
        .select_from(rated_task())
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
        counts[row.group] = RateCounts(row.group, **{kind: getattr(row, kind) for kind in WORK_KINDS})
    for row in (await conn.execute(feedback_counts_query(group_by, start, end, department))).all():
        entry = counts.setdefault(row.group, RateCounts(row.group))
        entry.rated, entry.satisfied = row.rated, row.satisfied
    return [c for _, c in sorted(counts.items()) if c.dispatched or c.due or c.rated or c.returned]


def rate_view(counts: RateCounts) -> RateView:
    return RateView(
        **{kind: getattr(counts, kind) for kind in (*WORK_KINDS, "group", "rated", "satisfied")},
        response_rate=counts.response_rate,
        resolution_rate=counts.resolution_rate,
        resolution_rate_original=counts.resolution_rate_original,
        satisfaction_rate=counts.satisfaction_rate,
    )


async def refresh_rate_gauges(db: Database, clock: Clock) -> None:
    """gridloop_department_rate_ratio made current (trailing 30 days; run periodically); an undefined rate has no
    sample. A failed pass keeps the last values."""
    now = clock.now()
    async with db.engine.connect() as conn:
        rows = await compute_rates(conn, "department", now - GAUGE_WINDOW, now, now)
    metrics.DEPARTMENT_RATE.clear()
    for row in rows:
        if row.group not in DEPARTMENTS:
            continue
        for rate in ("response", "resolution", "satisfaction"):
            value = getattr(row, f"{rate}_rate")
            if value is not None:
                metrics.DEPARTMENT_RATE.labels(row.group, rate).set(value)
