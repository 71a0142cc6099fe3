"""Deadlines on real Kafka and PostgreSQL: warnings at 75 %, breaches at 100 %, escalation up the ladder —
exactly once per step, even with several scheduler replicas racing."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from gridloop.contracts.events import EscalationDetail
from gridloop.delivery.db import Database
from gridloop.servicekit.clock import FixedClock
from services.departments.sla import SlaScheduler
from services.departments.tables import outbox, sla_marks
from services.departments.working_time import Deadlines
from tests.support.departments import (
    OPERATOR,
    StatusTap,
    as_department,
    departments_app,
    dispatched,
    publish,
    wait_for_work_item,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture(scope="module")
async def client(ns, clock):
    # The app's own scheduler passes once at start-up; the tests drive the passes, so that "nothing fired" holds.
    async with departments_app(ns, clock, sla_scan_seconds=3600) as app_client:
        yield app_client


@pytest.fixture(scope="module")
async def replicas(ns, clock):
    """Three more scheduler replicas, each with its own connection pool."""
    dbs = [Database(ns.database_urls["departments"], outbox=outbox, source="/gridloop/departments") for _ in range(3)]
    yield [SlaScheduler(db, clock, Deadlines(working=False)) for db in dbs]
    for db in dbs:
        await db.dispose()


async def settle(replicas: list[SlaScheduler]) -> int:
    """All replicas pass at the same instant; returns how many steps they fired between them (for every case)."""
    return sum(await asyncio.gather(*(replica.tick() for replica in replicas)))


async def fired(replicas: list[SlaScheduler], case_id) -> list[tuple[str, int, str]]:
    """The steps recorded as fired for one case: (clock, rung, kind)."""
    async with replicas[0]._db.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(sla_marks.c.deadline_name, sla_marks.c.rung, sla_marks.c.kind)
            .where(sla_marks.c.case_id == case_id)
            .order_by(sla_marks.c.fired_at, sla_marks.c.rung)
        )
        return [tuple(r) for r in rows]


@pytest.fixture(scope="module")
async def tap(ns):
    async with StatusTap(ns) as status_tap:
        yield status_tap


@pytest.fixture(autouse=True)
def real_time(clock: FixedClock) -> None:
    clock.set(datetime.now(UTC))


async def test_sign_for_clock_warns_at_75_percent_and_breaches_and_escalates_at_100(ns, client, tap, clock, replicas):
    case = dispatched("P04", dispatched_at=clock.now())  # 12 h item: sign for within 2 h
    await publish(ns, case)
    await wait_for_work_item(client, case.case_id)

    clock.set(case.dispatched_at + timedelta(minutes=89))
    await settle(replicas)
    assert await fired(replicas, case.case_id) == [], "nothing is due before 75 %"

    clock.set(case.dispatched_at + timedelta(minutes=91))
    await settle(replicas)
    assert await fired(replicas, case.case_id) == [("sign", 0, "sla_warning")]
    (warning,) = await tap.wait(case.case_id, "sla_warning")
    assert warning.detail == EscalationDetail(
        deadline_name="sign", level="handler", deadline=case.dispatched_at + timedelta(hours=2)
    )
    assert warning.detail.model_dump(mode="json")["clock"] == "sign", "the v1 wire name"
    assert tap.events(case.case_id, "sla_breached") == []

    clock.set(case.dispatched_at + timedelta(hours=2, minutes=1))
    await settle(replicas)
    assert len(await fired(replicas, case.case_id)) == 3, "then breach and escalation"
    (breach,) = await tap.wait(case.case_id, "sla_breached")
    (escalation,) = await tap.wait(case.case_id, "escalated")
    breached, escalated = breach.detail_as(EscalationDetail), escalation.detail_as(EscalationDetail)
    assert breached.deadline_name == "sign" and breached.level == "handler"
    assert escalated.from_level == "handler" and escalated.level == "department_head"
    assert escalated.deadline == case.dispatched_at + timedelta(hours=3), "+50 % of 2 h"
    item = await wait_for_work_item(client, case.case_id)
    assert item["escalation"]["sign"] == "department_head"

    signed = await client.post(f"/v1/work-items/{case.case_id}/sign", json={"handler": "周警官"}, headers=OPERATOR)
    assert signed.is_success
    clock.set(case.dispatched_at + timedelta(hours=2, minutes=59))
    await settle(replicas)  # the resolution clock (12 h) is not due; the sign-for clock has stopped
    assert len(await fired(replicas, case.case_id)) == 3, "no warning on the department head's rung once signed for"


async def test_an_approved_extension_moves_the_resolution_clock(ns, client, tap, clock, replicas):
    case = dispatched("P04", dispatched_at=clock.now())  # resolve within 12 h
    await publish(ns, case)
    await wait_for_work_item(client, case.case_id)
    police = as_department("police")
    assert (
        await client.post(f"/v1/work-items/{case.case_id}/sign", json={"handler": "周警官"}, headers=police)
    ).is_success
    body = {"handler": "周警官", "reason": "等待技术鉴定结果", "hours": 12}
    extension = (await client.post(f"/v1/work-items/{case.case_id}/extensions", json=body, headers=police)).json()
    path = f"/v1/work-items/{case.case_id}/extensions/{extension['id']}/decision"
    assert (await client.post(path, json={"approve": True, "operator": "陈主任"}, headers=OPERATOR)).is_success

    clock.set(case.dispatched_at + timedelta(hours=12, minutes=5))  # past the first deadline, 50 % of the new one
    await settle(replicas)
    assert await fired(replicas, case.case_id) == []
    clock.set(case.dispatched_at + timedelta(hours=18, minutes=1))  # 75 % of the 24 h now allowed
    await settle(replicas)
    assert await fired(replicas, case.case_id) == [("resolve", 0, "sla_warning")]
    (warning,) = await tap.wait(case.case_id, "sla_warning")
    assert warning.detail_as(EscalationDetail).deadline_name == "resolve"
    assert warning.detail_as(EscalationDetail).deadline == case.dispatched_at + timedelta(hours=24)


async def test_scheduler_replicas_racing_fire_each_step_exactly_once(ns, client, tap, clock, replicas):
    cases = [dispatched("P10", dispatched_at=clock.now()) for _ in range(5)]  # 2 h item: sign 2 h, resolve 2 h
    await publish(ns, *cases)
    for case in cases:
        await wait_for_work_item(client, case.case_id)

    for minutes in range(60, 60 * 6, 7):  # walk the clock through every rung of both clocks
        clock.set(cases[0].dispatched_at + timedelta(minutes=minutes))
        await settle(replicas)
    for case in cases:
        await tap.wait(case.case_id, "sla_breached", count=6)  # 3 rungs x 2 clocks

    expected = Counter()
    for clock_name in ("sign", "resolve"):
        for level in ("handler", "department_head", "district_supervisor"):
            expected[("sla_warning", clock_name, level)] = 1
            expected[("sla_breached", clock_name, level)] = 1
        expected[("escalated", clock_name, "department_head")] = 1
        expected[("escalated", clock_name, "district_supervisor")] = 1
    for case in cases:
        assert len(await fired(replicas, case.case_id)) == expected.total()
        steps = Counter(
            (e.status, e.detail_as(EscalationDetail).deadline_name, e.detail_as(EscalationDetail).level)
            for status in ("sla_warning", "sla_breached", "escalated")
            for e in tap.events(case.case_id, status)
        )
        assert steps == expected
    item = await wait_for_work_item(client, cases[0].case_id)
    assert item["escalation"] == {"sign": "district_supervisor", "resolve": "district_supervisor"}
