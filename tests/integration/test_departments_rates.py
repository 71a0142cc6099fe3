"""The three rates (三率) on a constructed day of cases with known answers, on real Kafka and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from gridloop.contracts.events import CaseStatusChanged
from services.departments import collectors
from services.departments.clock import FakeClock
from services.departments.tables import work_items
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
def clock() -> FakeClock:
    return FakeClock(at("03-01T00:00"))


@pytest.fixture(scope="module")
async def client(ns, clock):
    async with departments_app(ns, clock, rate_refresh_seconds=0.1) as app_client:
        yield app_client


@pytest.fixture(scope="module")
async def day(ns, client, clock):
    """Police cases of item P04 (sign for within 2 h, resolve within 12 h) and one finance case (F15, 24 h):

    case  community  dispatched    signed         resolved       rating (latest)
    c1    A          03-01 01:00   02:00 on time  10:00 on time  satisfied (was dissatisfied)
    c6    A          03-01 01:30   linked to c1, resolved with it basically satisfied
    c2    A          03-01 02:00   05:00 late     13:00 on time  dissatisfied
    c3    A          03-01 03:00   04:00 on time  open, overdue  -
    c4    B          03-01 04:00   never          open, overdue  -
    c5    B          03-01 05:00   06:00 on time  20:00 late     satisfied
    c7    B          03-01 07:00   returned at 08:00 (left out: a bounce, not a case of police's)
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
    await wait_for_work_item(client, cases["c6"].case_id, "linked")
    for name, case in cases.items():
        if name != "c6":
            await wait_for_work_item(client, case.case_id)

    steps = [
        ("02-28T21:00", "c8", "sign"),
        ("03-01T02:00", "c1", "sign"),
        ("03-01T04:00", "c3", "sign"),
        ("03-01T05:00", "c2", "sign"),
        ("03-01T05:00", "c8", "resolve"),
        ("03-01T06:00", "c5", "sign"),
        ("03-01T08:00", "c7", "return"),
        ("03-01T08:00", "f1", "sign"),
        ("03-01T10:00", "c1", "resolve"),
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
    assert (police["dispatched"], police["signed_on_time"], police["response_rate"]) == (5, 3, 0.6)
    assert (police["due"], police["resolved_on_time"], police["resolution_rate"]) == (6, 3, 0.5)
    assert (police["rated"], police["satisfied"], police["satisfaction_rate"]) == (4, 3, 0.75)
    finance = rows["finance"]
    assert (finance["response_rate"], finance["resolution_rate"], finance["satisfaction_rate"]) == (1.0, 1.0, None)


async def test_rates_per_community_and_item(client, day):
    by_community = (await client.get("/v1/rates", params={**WINDOW, "group_by": "community"}, headers=OPERATOR)).json()
    rows = {r["group"]: r for r in by_community["rows"]}
    a, b = rows["JN-RATES-A"], rows["JN-RATES-B"]
    assert (a["dispatched"], a["signed_on_time"], a["due"], a["resolved_on_time"], a["rated"], a["satisfied"]) == (
        3,
        2,
        3,
        2,
        3,
        2,
    )
    assert (b["dispatched"], b["signed_on_time"], b["due"], b["resolved_on_time"], b["rated"], b["satisfied"]) == (
        2,
        1,
        3,
        1,
        1,
        1,
    )
    by_item = (await client.get("/v1/rates", params={**WINDOW, "group_by": "item"}, headers=OPERATOR)).json()
    assert {r["group"]: r["resolution_rate"] for r in by_item["rows"]} == {"P04": 0.5, "F15": 1.0}


async def test_a_department_sees_only_its_own_rates(client, day):
    rows = (await client.get("/v1/rates", params=WINDOW, headers=as_department("finance"))).json()["rows"]
    assert [r["group"] for r in rows] == ["finance"]


async def test_department_rates_are_exported_as_gauges(client, day):
    async def exported() -> str:
        # A refresh can run between the day's last signing and its last rating: wait for one after both.
        text = (await client.get("/metrics")).text
        done = ('rate="response"} 0.6', 'rate="satisfaction"} 0.75')
        return text if all(f'gridloop_department_rate_ratio{{department="police",{d}' in text for d in done) else ""

    text = await wait_for(exported, what="rate gauges")
    assert 'gridloop_department_rate_ratio{department="police",rate="satisfaction"} 0.75' in text
    assert 'department="finance",rate="satisfaction"' not in text, "no ratings: no sample, not 0"


async def test_the_rate_gauges_count_per_item_and_per_community_exactly_as_the_full_grouping_would(ns, day):
    """The collector's one grouped scan (GROUPING SETS) gives the same counts as grouping by department, item
    and community and adding up, without ever exporting that cross product."""
    w = work_items.c
    now = at("03-05T00:00")
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
    names = (*collectors.KINDS, *collectors.CLOCKS)

    def summed(key: str) -> dict[tuple[str, str], tuple[int, ...]]:
        sums: dict[tuple[str, str], list[int]] = {}
        for r in reference:
            counts = sums.setdefault((r.department, getattr(r, key)), [0] * len(names))
            for i, name in enumerate(names):
                counts[i] += getattr(r, name)
        return {group: tuple(counts) for group, counts in sums.items()}

    got = {
        dimension: {
            (r.department, r.item_code if dimension == "item" else r.community_id): tuple(getattr(r, n) for n in names)
            for r in rows
            if r.dimension == dimension
        }
        for dimension in ("item", "community")
    }
    assert got["item"] == summed("item_code")
    assert got["community"] == summed("community_id")
    assert all(r.community_id is None for r in rows if r.dimension == "item")
    assert all(r.item_code is None for r in rows if r.dimension == "community")
    # f1, the only case of community C: dispatched, signed for and resolved in time, not rated, nothing overdue.
    assert dict(zip(names, got["community"][("finance", "JN-RATES-C")], strict=True)) == {
        "dispatched": 1,
        "signed_on_time": 1,
        "due": 1,
        "resolved_on_time": 1,
        "rated": 0,
        "satisfied": 0,
        "sign": 0,
        "resolve": 0,
    }
    # Satisfaction counts every reporter's latest rating, the linked duplicate c6's too: A has c1 (satisfied,
    # its later rating), c6 (basically satisfied), c2 (dissatisfied); B has c5 (satisfied).
    for group, rated, satisfied in ((("police", "JN-RATES-A"), 3, 2), (("police", "JN-RATES-B"), 1, 1)):
        counts = dict(zip(names, got["community"][group], strict=True))
        assert (counts["rated"], counts["satisfied"]) == (rated, satisfied), group
    item = dict(zip(names, got["item"][("police", "P04")], strict=True))
    assert (item["rated"], item["satisfied"]) == (4, 3)
