"""Departments receive a poll's dispatches as one run (a few statements for all of them), and the database ends
as if they had been received one by one: the same work items, clocks and duplicate links."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from gridloop.contracts.events import CaseDispatched
from gridloop.delivery.db import Database
from services.departments.handlers import receive_dispatches
from services.departments.tables import activity, sla_deadlines, work_items
from services.departments.working_time import Deadlines
from tests.support.departments import dispatched

CALENDAR_HOURS = Deadlines(working=False)  # runs compare linking, not deadlines
pytestmark = pytest.mark.integration


@pytest.fixture
async def db(ns) -> AsyncIterator[Database]:
    async with ns.database("departments", "/test/departments-runs") as database:
        yield database


def scenario(lat: float) -> list[CaseDispatched]:
    """Dispatches as one poll might bring them, around a place of their own (`lat`) so scenarios never meet."""
    t = datetime.now(UTC) - timedelta(hours=1)
    grid, near, far = f"G-run-{uuid.uuid4().hex[:8]}", {"lat": lat, "lon": 104.05}, {"lat": lat + 0.01, "lon": 104.05}
    spot = {"lat": lat - 0.01, "lon": 104.05}  # 0 to 3: one place in one grid, 1.1 km from `near`
    redispatched = uuid.uuid4()
    return [
        dispatched("S08", grid_id=grid, location=spot, dispatched_at=t + timedelta(minutes=10)),  # 0
        dispatched(
            "S08", grid_id=grid, location=spot, dispatched_at=t + timedelta(minutes=5)
        ),  # 1: earlier, later in run
        dispatched("S08", grid_id=grid, location=spot, dispatched_at=t + timedelta(minutes=20)),  # 2
        dispatched("S15", grid_id=grid, location=spot, dispatched_at=t + timedelta(minutes=20)),  # 3: another item
        dispatched("S08", location=near, dispatched_at=t + timedelta(minutes=30)),  # 4: another grid, no match
        dispatched("S08", location={"lat": lat + 0.0004, "lon": 104.05}, dispatched_at=t + timedelta(minutes=31)),
        dispatched("S08", location=far, dispatched_at=t + timedelta(minutes=32)),  # 6: 1.1 km away
        dispatched("P04", case_id=redispatched, dispatch_no=1, dispatched_at=t),  # 7
        dispatched("P05", case_id=redispatched, dispatch_no=2, dispatched_at=t + timedelta(minutes=1)),  # 8: same case
        dispatched("P04", case_id=redispatched, dispatch_no=1, dispatched_at=t),  # 9: an old dispatch, late
    ]


async def outcome(db: Database, events: list[CaseDispatched]) -> list[tuple]:
    """Per event: its work item's status, item, dispatch, primary (as an index into the events) and clocks."""
    index = {event.case_id: n for n, event in enumerate(events)}
    async with db.engine.connect() as conn:
        items = {
            row.case_id: row
            for row in await conn.execute(sa.select(work_items).where(work_items.c.case_id.in_(list(index))))
        }
        clocks = {}
        for row in await conn.execute(sa.select(sla_deadlines).where(sla_deadlines.c.case_id.in_(list(index)))):
            clocks.setdefault(row.case_id, []).append(
                (row.deadline_name, row.dispatch_no, row.generation, row.deadline)
            )
        steps: dict[uuid.UUID, list[str]] = {}
        query = sa.select(activity).where(activity.c.case_id.in_(list(index))).order_by(activity.c.id)
        for row in await conn.execute(query):
            steps.setdefault(row.case_id, []).append(row.action)
    return [
        (
            items[e.case_id].status,
            items[e.case_id].item_code,
            items[e.case_id].dispatch_no,
            index.get(items[e.case_id].primary_case_id),
            sorted(clocks[e.case_id]),
            steps.get(e.case_id, []),
        )
        for e in events
    ]


def published(envelopes: list, events: list[CaseDispatched]) -> list[list[tuple]]:
    """Per event's case: the status events published for it, in order, with the primary as an event index."""
    index = {str(event.case_id): n for n, event in enumerate(events)}
    per_case: list[list[tuple]] = [[] for _ in events]
    for envelope in envelopes:
        primary = envelope.data.get("detail", {}).get("primary_case_id")
        per_case[index[envelope.data["case_id"]]].append((envelope.data["status"], index.get(primary)))
    return per_case


def relative(outcomes: list[tuple], events: list[CaseDispatched]) -> list[tuple]:
    """Deadlines as offsets from each event's own dispatch, so two scenarios can be compared."""
    start = min(e.dispatched_at for e in events)
    return [(*o[:4], [(c, n, g, d - start) for c, n, g, d in o[4]], *o[5:]) for o in outcomes]


async def test_a_run_of_dispatches_leaves_the_database_as_receiving_them_one_by_one(db) -> None:
    one_by_one, as_run = scenario(30.60), scenario(30.64)
    sent_one_by_one = []
    for event in one_by_one:
        async with db.unit_of_work() as uow:
            await receive_dispatches([(event, None)], uow, deadlines=CALENDAR_HOURS)
        sent_one_by_one += uow.published
    async with db.unit_of_work() as uow:
        await receive_dispatches([(event, None) for event in as_run], uow, deadlines=CALENDAR_HOURS)

    expected = relative(await outcome(db, one_by_one), one_by_one)
    assert relative(await outcome(db, as_run), as_run) == expected
    assert published(uow.published, as_run) == published(sent_one_by_one, one_by_one)
    assert [steps.count("duplicate_linked") for *_, steps in expected[:7]] == [0, 1, 1, 0, 0, 1, 0]
    links = [o[3] for o in expected]
    # 1 came later, so it could not be 0's primary: 0 is the primary of 1 and 2; 5 is 45 m from 4.
    assert links[:7] == [None, 0, 0, None, None, 4, None]
    assert [o[0] for o in expected[:7]] == [
        "dispatched",
        "linked",
        "linked",
        "dispatched",
        "dispatched",
        "linked",
        "dispatched",
    ]
    assert expected[7][1:3] == ("P05", 2)  # the re-dispatch replaced the work item, the late old one changed nothing
    assert [(c, n, g) for c, n, g, _ in expected[7][4]] == [("resolve", 2, 1), ("sign", 2, 1)]
