"""The weekly assessment report built from a scripted week (2023-W49) recorded through the departments' own steps
in PostgreSQL: its numbers equal the rate queries and the week's known answers, and it renders in Chinese."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from gridloop.contracts.events import CaseStatusChanged
from gridloop.delivery.db import Database
from gridloop.registry.generate import default_registry
from gridloop.servicekit.clock import FixedClock
from services.departments import handlers, rates, reopen, report_cli
from services.departments.sla import SlaScheduler
from services.departments.tables import outbox
from services.departments.weekly import build_weekly, counts_of, week_bounds
from services.departments.weekly_render import percent, render, write
from services.departments.working_time import DISTRICT_TZ, Deadlines
from tests.support.departments import dispatched

pytestmark = pytest.mark.integration

CALENDAR_HOURS = Deadlines(working=False)
WEEK = "2023-W49"  # Monday 2023-12-04 to Sunday 2023-12-10, no other test's cases
NOW = datetime(2023, 12, 20, 9, tzinfo=DISTRICT_TZ)


def local(text: str) -> datetime:
    return datetime.fromisoformat(f"2023-12-{text}").replace(tzinfo=DISTRICT_TZ)


@pytest.fixture(scope="module")
async def db(ns):
    database = Database(ns.database_urls["departments"], outbox=outbox, source="/gridloop/departments")
    yield database
    await database.dispose()


@pytest.fixture(scope="module")
async def week(db):
    """The scripted week (local times):

    a  police P04 (sign 2 h, resolve 12 h)   Mon 09:00, signed 10:00, resolved 15:00, rated 满意
    b  police P04                            Mon 10:00, sign-for escalated 12:30, signed 13:00 (late), resolved
                                             Tue 08:00 (late), resident 不满意 and reopened with a comment
    c  street_office S02 (24 h / 48 h)       Tue 09:00, returned Tue 10:00 unsigned (prompt: answered, not due);
       then finance F03 (24 h / 72 h)        Wed 09:00, signed 10:00, returned 11:00 (unresolved; 2nd return)
    d  street_office S03 (24 h / 24 h)       Thu 09:00, never signed: overdue Fri 09:00
    e  finance F03                           Fri 09:00, signed 10:00, due next week
    """
    communities = default_registry().communities
    west, north = communities[0].community_id, communities[-1].community_id  # 西华街道, 五块石街道
    ids = {name: uuid.uuid4() for name in "abcde"}
    scheduler = SlaScheduler(db, FixedClock(local("04T12:30")), CALENDAR_HOURS)

    async def step(action, name: str, when: str, **kwargs) -> None:
        async with db.unit_of_work() as uow:
            await action(uow, ids[name], now=local(when), **kwargs)

    async def dispatch(name: str, item: str, when: str, community: str, n: int = 1) -> None:
        event = dispatched(item, dispatched_at=local(when), community_id=community, case_id=ids[name], dispatch_no=n)
        async with db.unit_of_work() as uow:
            await handlers.receive_dispatches([(event, None)], uow, deadlines=CALENDAR_HOURS)  # type: ignore[list-item]

    async def status(name: str, kind: str, when: str, **detail) -> None:
        event = CaseStatusChanged(
            case_id=ids[name], status=kind, at=local(when), actor="resident", note=detail.pop("note", ""), detail=detail
        )
        async with db.unit_of_work() as uow:
            if kind == "reopened":
                await reopen.reopen_work_item(event, uow, None, deadlines=CALENDAR_HOURS)  # type: ignore[arg-type]
            else:
                await handlers.record_feedback(event, uow, None)  # type: ignore[arg-type]

    # Two earlier weeks, for the trend: W47 and W48 each have one case answered and resolved in time.
    for name, item, day in (("f", "S03", "21"), ("g", "P04", "27")):
        event = dispatched(item, dispatched_at=local(f"{day}T09:00").replace(month=11), community_id=west)
        ids[name] = event.case_id
        async with db.unit_of_work() as uow:
            await handlers.receive_dispatches([(event, None)], uow, deadlines=CALENDAR_HOURS)  # type: ignore[list-item]
        async with db.unit_of_work() as uow:
            await handlers.sign_for(uow, ids[name], assignee="吴", now=local(f"{day}T09:30").replace(month=11))
        async with db.unit_of_work() as uow:
            await handlers.resolve(
                uow,
                ids[name],
                result="已处置",
                assignee=None,
                photo_urls=[],
                now=local(f"{day}T11:00").replace(month=11),
            )
    await status("g", "feedback_received", "01T09:00", rating="satisfied")  # rated in W48 (Friday 12-01)
    await dispatch("a", "P04", "04T09:00", west)
    await step(handlers.sign_for, "a", "04T10:00", assignee="赵警官")
    await dispatch("b", "P04", "04T10:00", west)
    assert await scheduler.tick() == 3  # b: sign-for warning, breach, escalation to the department head
    await step(handlers.sign_for, "b", "04T13:00", assignee="钱警官")
    await step(handlers.resolve, "a", "04T15:00", result="已处置", assignee=None, photo_urls=[])
    await step(handlers.resolve, "b", "05T08:00", result="已处置", assignee=None, photo_urls=[])
    await status("a", "feedback_received", "05T09:00", rating="satisfied")
    await status("b", "feedback_received", "05T09:00", rating="dissatisfied")
    await status("b", "reopened", "05T09:01", note="还是没人管，请回电13812345678")
    await dispatch("c", "S02", "05T09:00", north)
    await step(handlers.return_case, "c", "05T10:00", reason_code="wrong_area", note="", assignee="孙科员")
    await dispatch("c", "F03", "06T09:00", north, n=2)
    await step(handlers.sign_for, "c", "06T10:00", assignee="李会计")
    await step(handlers.return_case, "c", "06T11:00", reason_code="not_our_remit", note="", assignee="李会计")
    await dispatch("d", "S03", "07T09:00", north)
    await dispatch("e", "F03", "08T09:00", west)
    await step(handlers.sign_for, "e", "08T10:00", assignee="周会计")
    return ids


async def test_the_weekly_report_counts_what_the_rate_queries_count_and_the_weeks_known_answers(db, week, tmp_path):
    async with db.engine.connect() as conn:
        report = await build_weekly(conn, WEEK, NOW)
        start, end = week_bounds(WEEK)
        for group_by, rows in (("department", report.departments), ("community", report.communities)):
            expected = await rates.compute_rates(conn, group_by, start, end, NOW)
            assert [counts_of(r) for r in rows] == [counts_of(r) for r in expected]
        for label, district, _ in report.trend[:-1]:  # the previous four weeks, each from the same query
            week_start, week_end = week_bounds(label)
            rows = await rates.compute_rates(conn, "department", week_start, week_end, NOW)
            assert counts_of(district) == {k: sum(counts_of(r)[k] for r in rows) for k in counts_of(district)}

    by_department = {r.group: r for r in report.departments}
    assert set(by_department) == {"police", "street_office", "finance"}
    police, street, finance = by_department["police"], by_department["street_office"], by_department["finance"]
    assert (police.dispatched, police.signed_on_time, police.due, police.resolved_on_time, police.reopened) == (
        2,
        1,
        2,
        1,
        1,
    )
    assert (police.rated, police.satisfied) == (2, 1)
    assert (street.response_due, street.signed_on_time, street.due, street.returned) == (2, 1, 1, 1)
    assert (finance.response_due, finance.signed_on_time, finance.due, finance.resolved_on_time) == (2, 2, 1, 0)
    d = report.district
    assert (d.dispatched, d.response_due, d.signed_on_time, d.due, d.resolved_on_time) == (6, 6, 4, 4, 1)
    assert (d.response_rate, d.resolution_rate, d.satisfaction_rate) == (0.6667, 0.25, 0.5)
    assert [s.group for s in report.streets] == ["五块石街道", "西华街道"]
    assert sum(s.dispatched for s in report.streets) == d.dispatched

    assert [(s.item_code, s.resolved, s.median_hours) for s in report.slowest] == [("P04", 2, 14.0)]
    assert sorted(line.what for line in report.overdue) == sorted(
        ["群众不满意，重新办理", "逾期未办结", "退单（未办结）"]
    )
    assert len(report.overdue) == d.due - d.resolved_on_time
    assert [line.what for line in report.escalations] == ["签收超时，升级至部门负责人"]
    assert report.returns == [("finance", "不属于本部门职责", 1), ("street_office", "不属于本辖区", 1)]
    assert [line.what for line in report.arbitration] == ["二次退单，待仲裁"]
    assert [line.what for line in report.comments] == ["还是没人管，请回电138****5678"]

    rendered = render(report)
    for text in (
        "三率考核周报",
        "辖区派出所",
        "S02 路灯故障",
        percent(d.response_rate),
        "二次退单，待仲裁",
        "138****5678",
        "西华街道",
    ):
        assert text in rendered.html, text
    assert "13812345678" not in rendered.html
    paths = write(report, rendered, tmp_path)
    assert rendered.summary_png.startswith(b"\x89PNG") and rendered.summary_pdf.startswith(b"%PDF")
    assert [p.name for p in paths] == [f"weekly-{WEEK}.html", f"weekly-{WEEK}.pdf", f"weekly-{WEEK}.png"]
    if picture := os.environ.get("GRIDLOOP_WEEKLY_PNG"):  # docs/img: the first page, from this scripted week
        Path(picture).write_bytes(rendered.summary_png)  # noqa: ASYNC240 - a test writing one file
    assert [label for label, _, _ in report.trend] == ["2023-W45", "2023-W46", "2023-W47", "2023-W48", "2023-W49"]
    assert [district.resolved_on_time for _, district, _ in report.trend] == [0, 0, 1, 1, 1]


async def test_gridloop_report_weekly_writes_html_pdf_and_png_to_the_directory(ns, week, tmp_path, capsys):
    url = ns.database_urls["departments"]
    argv = ["weekly", "--week", WEEK, "--out", str(tmp_path), "--database-url", url]
    assert await asyncio.to_thread(report_cli.main, argv) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"weekly-{WEEK}.{ext}" for ext in ("html", "pdf", "png")]
    assert "西华街道" in (tmp_path / f"weekly-{WEEK}.html").read_text(encoding="utf-8")
    with pytest.raises(SystemExit):
        await asyncio.to_thread(report_cli.main, ["weekly", "--week", "2023-49", "--database-url", url])
