"""The district's weekly assessment report (三率周报): the three rates by department, street, community and item,
the week against the previous four; the slowest items; overdue and escalated cases; returns and arbitration;
residents' comments on cases they were not satisfied with (masked). Numbers come from the rate queries (rates.py);
weekly_render.py turns a WeeklyReport into HTML, charts and a PDF page. Weeks are ISO weeks in Asia/Shanghai."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.admission.admission_list import default_admission_list
from gridloop.registry.generate import default_registry
from gridloop.servicekit.logs import mask_phones
from services.departments.handlers import RETURN_REASONS
from services.departments.rates import WORK_KINDS, RateCounts, compute_rates
from services.departments.sla import DEADLINE_ZH, LADDER, LADDER_ZH
from services.departments.tables import activity, department_tasks, feedback, returns, sla_marks, work_items
from services.departments.working_time import DISTRICT_TZ

WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
TREND_WEEKS = 4  # the week against the previous four
COUNTS = (*WORK_KINDS, "rated", "satisfied")
_ID_NUMBER = re.compile(r"(?<!\d)\d{6}(19|20)\d{2}\d{6}[\dXx](?!\d)")


class BadWeek(ValueError):
    pass


def week_bounds(week: str) -> tuple[datetime, datetime]:
    """[Monday 00:00, next Monday 00:00) of an ISO week such as 2026-W49, in the district's time zone."""
    found = WEEK.match(week)
    if not found:
        raise BadWeek(f"week must look like 2026-W49, got {week!r}")
    try:
        monday = date.fromisocalendar(int(found[1]), int(found[2]), 1)
    except ValueError as exc:
        raise BadWeek(str(exc)) from None
    start = datetime.combine(monday, time(0), DISTRICT_TZ)
    return start, start + timedelta(days=7)


def week_label(start: datetime) -> str:
    year, number, _ = start.date().isocalendar()
    return f"{year}-W{number:02d}"


def mask(text: str) -> str:
    """Residents' words as shown to leadership: phone and ID numbers masked."""
    return _ID_NUMBER.sub("******************", mask_phones(text))


def total(rows: list[RateCounts], group: str) -> RateCounts:
    summed = RateCounts(group)
    for row in rows:
        for kind in COUNTS:
            setattr(summed, kind, getattr(summed, kind) + getattr(row, kind))
    return summed


@dataclass
class SlowItem:
    item_code: str
    item_name: str
    department: str
    resolved: int
    median_hours: float
    longest_hours: float


@dataclass
class CaseLine:
    case_no: str
    department: str
    item_name: str
    community: str
    at: datetime
    what: str  # why it is listed, in Chinese


@dataclass
class WeeklyReport:
    week: str
    start: datetime
    end: datetime
    now: datetime
    district: RateCounts
    departments: list[RateCounts]
    streets: list[RateCounts]
    communities: list[RateCounts]
    items: list[RateCounts]
    trend: list[tuple[str, RateCounts, dict[str, RateCounts]]]  # oldest first: week, district, by department
    slowest: list[SlowItem] = field(default_factory=list)
    overdue: list[CaseLine] = field(default_factory=list)
    escalations: list[CaseLine] = field(default_factory=list)
    returns: list[tuple[str, str, int]] = field(default_factory=list)  # department, reason (zh), count
    arbitration: list[CaseLine] = field(default_factory=list)
    comments: list[CaseLine] = field(default_factory=list)
    item_names: dict[str, str] = field(default_factory=dict)
    community_names: dict[str, str] = field(default_factory=dict)


def case_no(case_id: object) -> str:
    return str(case_id).replace("-", "")[:10].upper()  # as the resident's messages number it


async def build_weekly(conn: AsyncConnection, week: str, now: datetime) -> WeeklyReport:
    start, end = week_bounds(week)
    departments = await compute_rates(conn, "department", start, end, now)
    communities = await compute_rates(conn, "community", start, end, now)
    items = await compute_rates(conn, "item", start, end, now)
    # Streets as the boundaries placed each case (department_tasks.street); work items from before places were
    # recorded have no street and are shown together.
    streets = [
        row if row.group else replace(row, group="（未登记街道）")
        for row in await compute_rates(conn, "street", start, end, now)
    ]
    known = {c.community_id: c for c in default_registry().communities}
    trend = []
    for back in range(TREND_WEEKS, -1, -1):
        week_start = start - timedelta(days=7 * back)
        rows = (
            departments
            if back == 0
            else await compute_rates(conn, "department", week_start, week_start + timedelta(days=7), now)
        )
        trend.append((week_label(week_start), total(rows, "全区"), {r.group: r for r in rows}))
    # Item names from the admission list (a returned dispatch's item may no longer be on any work item).
    names = {code: item.name_zh for code, item in default_admission_list().items.items()}
    report = WeeklyReport(
        week=week_label(start),
        start=start,
        end=end,
        now=now,
        district=total(departments, "全区"),
        departments=departments,
        streets=streets,
        communities=communities,
        items=items,
        trend=trend,
        item_names=names,
        community_names={cid: c.name for cid, c in known.items()},
    )
    report.slowest = await _slowest(conn, start, end, names)
    report.overdue = await _overdue(conn, start, end, now, names)
    report.escalations = await _escalations(conn, start, end, names)
    report.returns, report.arbitration = await _returns(conn, start, end, names)
    report.comments = await _comments(conn, start, end, names)
    return report


async def _slowest(conn: AsyncConnection, start: datetime, end: datetime, names: dict[str, str]) -> list[SlowItem]:
    """Items by median time from dispatch to first resolution, over the tasks first resolved in the week."""
    t = department_tasks.c
    hours = sa.func.extract("epoch", t.first_resolved_at - t.dispatched_at) / 3600
    query = (
        sa.select(
            t.item_code,
            t.department,
            sa.func.count().label("resolved"),
            sa.func.percentile_cont(0.5).within_group(hours).label("median"),
            sa.func.max(hours).label("longest"),
        )
        .where(~t.linked, t.first_resolved_at >= start, t.first_resolved_at < end)
        .group_by(t.item_code, t.department)
        .order_by(sa.text("median DESC"))
        .limit(10)
    )
    return [
        SlowItem(
            r.item_code,
            names.get(r.item_code, r.item_code),
            r.department,
            r.resolved,
            float(r.median),
            float(r.longest),
        )
        for r in await conn.execute(query)
    ]


async def _overdue(
    conn: AsyncConnection, start: datetime, end: datetime, now: datetime, names: dict[str, str]
) -> list[CaseLine]:
    """Tasks that fell due in the week without a resolution by their deadline (the resolution rate's misses)."""
    t = department_tasks.c
    query = (
        sa.select(
            t.case_id,
            t.department,
            t.item_code,
            t.community_id,
            t.deadline,
            t.first_resolved_at,
            t.returned_at,
            t.reopens,
        )
        .where(~t.linked, t.due_at >= start, t.due_at < end, t.due_at <= now)
        .where(sa.or_(t.first_resolved_at.is_(None), t.first_resolved_at > t.deadline, t.reopens > 0))
        .order_by(t.deadline)
    )
    lines = []
    for r in await conn.execute(query):
        if r.returned_at is not None and (r.first_resolved_at is None or r.returned_at < r.first_resolved_at):
            what = "退单（未办结）"
        elif r.reopens:
            what = "群众不满意，重新办理"
        elif r.first_resolved_at is None:
            what = "逾期未办结"
        else:
            what = f"逾期{(r.first_resolved_at - r.deadline).total_seconds() / 3600:.0f}小时办结"
        lines.append(
            CaseLine(
                case_no(r.case_id), r.department, names.get(r.item_code, r.item_code), r.community_id, r.deadline, what
            )
        )
    return lines


async def _escalations(conn: AsyncConnection, start: datetime, end: datetime, names: dict[str, str]) -> list[CaseLine]:
    m, w = sla_marks.c, work_items.c
    query = (
        sa.select(m.case_id, m.deadline_name, m.rung, m.fired_at, w.department, w.item_code, w.community_id)
        .join(work_items, w.case_id == m.case_id)
        .where(m.kind == "escalated", m.fired_at >= start, m.fired_at < end)
        .order_by(m.fired_at)
    )
    return [
        CaseLine(
            case_no(r.case_id),
            r.department,
            names.get(r.item_code, r.item_code),
            r.community_id,
            r.fired_at,
            f"{DEADLINE_ZH[r.deadline_name]}超时，升级至{LADDER_ZH[r.rung]}" if r.rung < len(LADDER) else "升级督办",
        )
        for r in await conn.execute(query)
    ]


async def _returns(
    conn: AsyncConnection, start: datetime, end: datetime, names: dict[str, str]
) -> tuple[list[tuple[str, str, int]], list[CaseLine]]:
    r_, w = returns.c, work_items.c
    counts = await conn.execute(
        sa.select(r_.department, r_.reason_code, sa.func.count())
        .where(r_.returned_at >= start, r_.returned_at < end)
        .group_by(r_.department, r_.reason_code)
        .order_by(r_.department, r_.reason_code)
    )
    by_reason = [(d, RETURN_REASONS.get(code, code), n) for d, code, n in counts]
    second = await conn.execute(
        sa.select(r_.case_id, r_.department, r_.returned_at, w.item_code, w.community_id)
        .join(work_items, w.case_id == r_.case_id)
        .where(r_.dispatch_no >= 2, r_.returned_at >= start, r_.returned_at < end)
        .order_by(r_.returned_at)
    )
    arbitration = [
        CaseLine(
            case_no(r.case_id),
            r.department,
            names.get(r.item_code, r.item_code),
            r.community_id,
            r.returned_at,
            "二次退单，待仲裁",
        )
        for r in second
    ]
    return by_reason, arbitration


async def _comments(conn: AsyncConnection, start: datetime, end: datetime, names: dict[str, str]) -> list[CaseLine]:
    """What residents said when they were not satisfied (the reopening's note), and bare 不满意 ratings."""
    a, w, f = activity.c, work_items.c, feedback.c
    said = await conn.execute(
        sa.select(a.case_id, a.note, a.at, w.department, w.item_code, w.community_id)
        .join(work_items, w.case_id == a.case_id)
        .where(a.action == "reopened", a.at >= start, a.at < end)
        .order_by(a.at)
    )
    lines = [
        CaseLine(
            case_no(r.case_id),
            r.department,
            names.get(r.item_code, r.item_code),
            r.community_id,
            r.at,
            mask(r.note or "（未留言）"),
        )
        for r in said
    ]
    seen = {line.case_no for line in lines}
    rated = await conn.execute(
        sa.select(f.case_id, f.rated_at, w.department, w.item_code, w.community_id)
        .join(work_items, w.case_id == f.case_id)
        .where(f.rating == "dissatisfied", f.rated_at >= start, f.rated_at < end)
        .order_by(f.rated_at)
    )
    lines += [
        CaseLine(
            case_no(r.case_id),
            r.department,
            names.get(r.item_code, r.item_code),
            r.community_id,
            r.rated_at,
            "评价“不满意”（未留言）",
        )
        for r in rated
        if case_no(r.case_id) not in seen
    ]
    return lines


def counts_of(row: RateCounts) -> dict[str, int]:
    return {f.name: getattr(row, f.name) for f in fields(row) if f.name != "group"}
