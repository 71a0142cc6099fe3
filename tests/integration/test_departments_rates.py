"""The three rates (三率) on a constructed day of cases with known answers, on real Kafka and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from gridloop.contracts.events import CaseStatusChanged
from gridloop.servicekit.clock import FixedClock
from services.departments import collectors, rates, tasks
from services.departments.handlers import _work_item
from services.departments.tables import department_tasks, feedback, work_items
from services.departments.working_time import ROUND_THE_CLOCK
from tests.support.departments import (
    OPERATOR,
    as_department,
    departments_app,
    dispatched,
    publish,
    wait_for_work_item,
)
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration

WINDOW = {"from": "2025-03-01T00:00:00+00:00", "to": "2025-03-02T00:00:00+00:00"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"2025-{text}:00+00:00")


@pytest.fixture(scope="module")
def clock() -> FixedClock:
    return FixedClock(at("03-01T00:00"))


@pytest.fixture(scope="module")
async def client(ns, clock):
    async with departments_app(ns, clock, rate_refresh_seconds=0.1) as app_client:
        yield app_client


@pytest.fixture(scope="module")
async def day(ns, client, clock):
    """Police cases of item P04 (sign for within 2 h, resolve within 12 h) and one finance case (F15, 24 h):

    case  community  dispatched    signed         resolved       rating (latest)
    c1    A          03-01 01:00   02:00 on time  10:00 on time  satisfied (was dissatisfied)
    c6    A          03-01 01:30   02:00 on time  10:00 on time  basically satisfied (c1's grid and item, but a
                                  police matter is never linked as a duplicate: a case of its own)
    c2    A          03-01 02:00   05:00 late     13:00 on time  dissatisfied
    c3    A          03-01 03:00   04:00 on time  open, overdue  -
    c4    B          03-01 04:00   never          open, overdue  -
    c5    B          03-01 05:00   06:00 on time  20:00 late     satisfied
    c7    B          03-01 07:00   returned at 08:00, unsigned, within the sign-for deadline: a prompt answer
    c8    B          02-28 20:00   21:00          03-01 05:00 on time (due: resolved in the window)
    f1    C          03-01 06:00   08:00 on time  20:00 on time  -
    """
    grid = "G-rates-c1"
    cases = {
        "c1": dispatched("P04", dispatched_at=at("03-01T01:00"), grid_id=grid, community_id="JN-RATES-A"),
        "c6": dispatched("P04", dispatched_at=at("03-01T01:30"), grid_id=grid, community_id="JN-RATES-A"),
        "c2": dispatched("P04", dispatched_at=at("03-01T02:00"), community_id="JN-RATES-A"),
        "c3": dispatched("P04", dispatched_at=at("03-01T03:00"), community_id="JN-RATES-A"),
        "c4": dispatched("P04", dispatched_at=at("03-01T04:00"), community_id="JN-RATES-B"),
        "c5": dispatched("P04", dispatched_at=at("03-01T05:00"), community_id="JN-RATES-B"),
        "c7": dispatched("P04", dispatched_at=at("03-01T07:00"), community_id="JN-RATES-B"),
        "c8": dispatched("P04", dispatched_at=at("02-28T20:00"), community_id="JN-RATES-B"),
        "f1": dispatched("F15", dispatched_at=at("03-01T06:00"), community_id="JN-RATES-C"),
    }
    await publish(ns, cases["c1"])
    await wait_for_work_item(client, cases["c1"].case_id)
    await publish(ns, *(case for name, case in cases.items() if name != "c1"))
    for case in cases.values():
        assert (await wait_for_work_item(client, case.case_id))["status"] == "dispatched", "never linked"

    steps = [
        ("02-28T21:00", "c8", "sign"),
        ("03-01T02:00", "c1", "sign"),
        ("03-01T02:00", "c6", "sign"),
        ("03-01T04:00", "c3", "sign"),
        ("03-01T05:00", "c2", "sign"),
        ("03-01T05:00", "c8", "resolve"),
        ("03-01T06:00", "c5", "sign"),
        ("03-01T08:00", "c7", "return"),
        ("03-01T08:00", "f1", "sign"),
        ("03-01T10:00", "c1", "resolve"),
        ("03-01T10:00", "c6", "resolve"),
        ("03-01T13:00", "c2", "resolve"),
        ("03-01T20:00", "c5", "resolve"),
        ("03-01T20:00", "f1", "resolve"),
    ]
    bodies = {
        "sign": {"handler": "孙警官"},
        "resolve": {"result": "已处置完毕"},
        "return": {"reason_code": "wrong_area", "handler": "孙警官"},
    }
    for when, name, action in steps:
        clock.set(at(when))
        headers = as_department(cases[name].department)
        response = await client.post(
            f"/v1/work-items/{cases[name].case_id}/{action}", json=bodies[action], headers=headers
        )
        assert response.status_code == 200, (name, action, response.text)

    ratings = [  # the later rating of c1 arrives first: the latest by time counts, not the last to arrive
        ("c1", "satisfied", "03-01T20:00"),
        ("c1", "dissatisfied", "03-01T12:00"),
        ("c6", "basically_satisfied", "03-01T21:00"),
        ("c2", "dissatisfied", "03-01T21:00"),
        ("c5", "satisfied", "03-01T22:00"),
        ("c3", None, "03-01T23:00"),  # no rating (e.g. the resident never answered): not counted
    ]
    await publish(
        ns,
        *(
            CaseStatusChanged(
                case_id=cases[name].case_id,
                status="feedback_received",
                at=at(when),
                actor="resident",
                detail={"rating": rating} if rating else {},
            )
            for name, rating, when in ratings
        ),
    )
    clock.set(at("03-05T00:00"))

    async def all_rated() -> dict | None:
        rows = (await client.get("/v1/rates", params=WINDOW, headers=OPERATOR)).json()["rows"]
        police = next((r for r in rows if r["group"] == "police"), None)
        return police if police and police["rated"] == 4 and police["satisfied"] == 3 else None

    await wait_for(all_rated, what="the residents' ratings")
    return cases


async def test_rates_per_department_count_late_and_open_overdue_cases_honestly(client, day):
    rows = {r["group"]: r for r in (await client.get("/v1/rates", params=WINDOW, headers=OPERATOR)).json()["rows"]}
    assert set(rows) == {"police", "finance"}
    police = rows["police"]
    # c7's prompt return answers it in time (and keeps it out of the resolution rate); it is counted as a bounce.
    assert (police["dispatched"], police["response_due"], police["signed_on_time"]) == (7, 7, 5)
    assert (police["response_rate"], police["returned"]) == (0.7143, 1)
    assert (police["due"], police["resolved_on_time"], police["resolution_rate"]) == (7, 4, 0.5714)
    assert (police["rated"], police["satisfied"], police["satisfaction_rate"]) == (4, 3, 0.75)
    finance = rows["finance"]
    assert (finance["response_rate"], finance["resolution_rate"], finance["satisfaction_rate"]) == (1.0, 1.0, None)


async def test_rates_per_community_and_item(client, day):
    by_community = (await client.get("/v1/rates", params={**WINDOW, "group_by": "community"}, headers=OPERATOR)).json()
    rows = {r["group"]: r for r in by_community["rows"]}
    a, b = rows["JN-RATES-A"], rows["JN-RATES-B"]
    assert (a["dispatched"], a["signed_on_time"], a["due"], a["resolved_on_time"], a["rated"], a["satisfied"]) == (
        4,
        3,
        4,
        3,
        3,
        2,
    )
    assert (b["dispatched"], b["signed_on_time"], b["due"], b["resolved_on_time"], b["rated"], b["satisfied"]) == (
        3,
        2,
        3,
        1,
        1,
        1,
    )
    by_item = (await client.get("/v1/rates", params={**WINDOW, "group_by": "item"}, headers=OPERATOR)).json()
    assert {r["group"]: r["resolution_rate"] for r in by_item["rows"]} == {"P04": 0.5714, "F15": 1.0}


async def test_a_department_sees_only_its_own_rates(client, day):
    rows = (await client.get("/v1/rates", params=WINDOW, headers=as_department("finance"))).json()["rows"]
    assert [r["group"] for r in rows] == ["finance"]


async def test_department_rates_are_exported_as_gauges(client, day):
    async def exported() -> str:
        # A refresh can run between the day's last signing and its last rating: wait for one after both.
        text = (await client.get("/metrics")).text
        # The trailing 30 days hold c8 too (dispatched the day before, answered in time): 6 of 8 answered in time.
        done = ('rate="response"} 0.75\n', 'rate="satisfaction"} 0.75\n')
        return text if all(f'gridloop_department_rate_ratio{{department="police",{d}' in text for d in done) else ""

    text = await wait_for(exported, what="rate gauges")
    assert 'gridloop_department_rate_ratio{department="police",rate="satisfaction"} 0.75' in text
    assert 'department="finance",rate="satisfaction"' not in text, "no ratings: no sample, not 0"


async def test_the_rate_gauges_count_per_item_and_per_community_exactly_as_the_full_grouping_would(ns, day):
    """The collector's one grouped scan (GROUPING SETS) gives the same counts as grouping by department, item
    and community and adding up, without ever exporting that cross product."""
    rows, got = await grouped_counts_against_full_grouping(ns, at("03-05T00:00"))
    assert all(r.community_id is None for r in rows if r.dimension == "item")
    assert all(r.item_code is None for r in rows if r.dimension == "community")
    # f1, the only case of community C: dispatched, signed for and resolved in time, not rated, nothing overdue.
    assert dict(zip(NAMES, got["community"][("finance", "JN-RATES-C")], strict=True)) == {
        "dispatched": 1,
        "response_due": 1,
        "signed_on_time": 1,
        "due": 1,
        "resolved_on_time": 1,
        "resolved_within_original": 1,
        "reopened": 0,
        "returned": 0,
        "rated": 0,
        "satisfied": 0,
        "sign": 0,
        "resolve": 0,
    }
    # Satisfaction counts every reporter's latest rating: A has c1 (satisfied,
    # its later rating), c6 (basically satisfied), c2 (dissatisfied); B has c5 (satisfied).
    for group, rated, satisfied in ((("police", "JN-RATES-A"), 3, 2), (("police", "JN-RATES-B"), 1, 1)):
        counts = dict(zip(NAMES, got["community"][group], strict=True))
        assert (counts["rated"], counts["satisfied"]) == (rated, satisfied), group
    item = dict(zip(NAMES, got["item"][("police", "P04")], strict=True))
    assert (item["rated"], item["satisfied"]) == (4, 3)


NAMES = (*collectors.KINDS, *collectors.DEADLINES)


async def grouped_counts_against_full_grouping(ns, now: datetime) -> tuple[list, dict]:
    """The collector's rows at `now`, checked against grouping every work item by department, item and community
    (no row left out) and adding up; returns the rows and their counts per dimension and group."""
    w = department_tasks.c
    full = (
        sa.select(w.department, w.item_code, w.community_id, *collectors.window_counts(now))
        .select_from(collectors.rate_source())
        .group_by(w.department, w.item_code, w.community_id)
    )
    engine = create_async_engine(ns.database_urls["departments"])
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(collectors.rate_counts_query(now))).all()
            reference = (await conn.execute(full)).all()
    finally:
        await engine.dispose()

    def summed(key: str) -> dict[tuple[str, str], tuple[int, ...]]:
        sums: dict[tuple[str, str], list[int]] = {}
        for r in reference:
            counts = sums.setdefault((r.department, getattr(r, key)), [0] * len(NAMES))
            for i, name in enumerate(NAMES):
                counts[i] += getattr(r, name)
        # A group whose counts are all zero has no row in the collector's answer when none of its rows can count.
        return {group: tuple(counts) for group, counts in sums.items() if any(counts)}

    got = {
        dimension: {
            (r.department, r.item_code if dimension == "item" else r.community_id): tuple(getattr(r, n) for n in NAMES)
            for r in rows
            if r.dimension == dimension
        }
        for dimension in ("item", "community")
    }
    nonzero = {dimension: {g: c for g, c in groups.items() if any(c)} for dimension, groups in got.items()}
    assert nonzero["item"] == summed("item_code")
    assert nonzero["community"] == summed("community_id")
    return rows, got


async def test_the_rates_read_only_what_a_window_can_count_and_still_count_every_such_case(ns) -> None:
    """The rates leave out work items resolved and due before the window (rates.touched_since, an index), but
    keep an old case rated in the window and an old case still open and overdue: the gauges' counts equal the
    full grouping's, and the rates API equals the same query without the restriction."""
    now, t = at("09-01T00:00"), at
    old = {"dispatched_at": t("05-01T09:00"), "sign_deadline": t("05-01T11:00"), "resolve_deadline": t("05-01T21:00")}
    resolved = {"status": "resolved", "signed_at": t("05-01T10:00"), "signed_by": "x", "resolved_at": t("05-01T20:00")}
    cases = {
        "old_resolved": {**old, **resolved},  # nothing in the window: left out
        "old_rated": {**old, **resolved},  # rated in the window
        "old_open": old,  # still open, both deadlines long past
        "recent": {
            "dispatched_at": t("08-20T09:00"),
            "sign_deadline": t("08-20T11:00"),
            "resolve_deadline": t("08-20T21:00"),
            **resolved,
            "signed_at": t("08-20T10:00"),
            "resolved_at": t("08-20T20:00"),
        },
    }
    rows = []
    for name, times in cases.items():
        row = _work_item(dispatched("S03", community_id="JN-RATES-OLD"), ROUND_THE_CLOCK)
        rows.append({**row, "description": name, "updated_at": times["dispatched_at"], **times})
    task_rows = [
        {**tasks.task_row(r), "signed_at": r.get("signed_at"), "first_resolved_at": r.get("resolved_at")} for r in rows
    ]
    engine = create_async_engine(ns.database_urls["departments"])
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(work_items), rows)
            await conn.execute(sa.insert(department_tasks), task_rows)
            await conn.execute(
                sa.insert(feedback).values(
                    case_id=rows[1]["case_id"], rating="satisfied", rated_at=t("08-25T12:00"), dispatch_no=1
                )
            )
        start = now - rates.GAUGE_WINDOW
        async with engine.connect() as conn:
            restricted = (await conn.execute(rates.work_counts_query("community", start, now, now))).all()
            key = rates.GROUP_COLUMNS["community"]
            unrestricted = (
                await conn.execute(sa.select(key.label("group"), *rates.work_counts(start, now, now)).group_by(key))
            ).all()
    finally:
        await engine.dispose()
    assert {tuple(r) for r in restricted if any(r[1:])} == {tuple(r) for r in unrestricted if any(r[1:])}

    _, got = await grouped_counts_against_full_grouping(ns, now)
    assert dict(zip(NAMES, got["community"][("street_office", "JN-RATES-OLD")], strict=True)) == {
        "dispatched": 1,  # recent
        "response_due": 1,
        "signed_on_time": 1,
        "due": 1,
        "resolved_on_time": 1,
        "resolved_within_original": 1,
        "reopened": 0,
        "returned": 0,
        "rated": 1,  # old_rated
        "satisfied": 1,
        "sign": 1,  # old_open: never signed for nor resolved, overdue on both clocks
        "resolve": 1,
    }
