"""Deadlines on the working calendar in the running service: an operator enters 2027's national schedule (past the
chinesecalendar package's years) and a district day off; cases dispatched before Spring Festival 2027 get working-
time deadlines, a 24/7 item does not wait, and a year nobody entered fails loudly."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from gridloop.servicekit.clock import FixedClock
from services.departments.working_time import DISTRICT_TZ
from tests.support.departments import OPERATOR, as_department, departments_app, dispatched, publish, wait_for_work_item

pytestmark = pytest.mark.integration

# The test's own 2027 schedule (Spring Festival 2027 is 02-06); the district enters the State Council's real one.
SCHEDULE_2027 = {
    "source": "测试用2027年节假日安排",
    "holidays": [f"2027-02-{d:02d}" for d in range(5, 14)],
    "workdays": ["2027-01-31", "2027-02-20"],
}


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=DISTRICT_TZ)


@pytest.fixture(scope="module")
async def client(ns):
    async with departments_app(ns, FixedClock(local("2027-01-20T09:00")), calendar="working") as app_client:
        yield app_client


async def test_deadlines_run_on_working_days_across_spring_festival_2027(ns, client):
    assert (await client.put("/v1/calendar/national/2027", json=SCHEDULE_2027, headers=OPERATOR)).status_code == 204
    refused = await client.put("/v1/calendar/national/2027", json=SCHEDULE_2027, headers=as_department("police"))
    assert refused.status_code == 403

    ordinary, urgent = (dispatched(code, dispatched_at=local("2027-02-04T12:00")) for code in ("S02", "P06"))
    await publish(ns, ordinary, urgent)
    lamp = await wait_for_work_item(client, ordinary.case_id)  # 路灯故障: sign for in 24 h, resolve in 48 h
    assert datetime.fromisoformat(lamp["sign_deadline"]) == local("2027-02-15T12:00")  # 12 h Thu, 12 h Mon
    assert datetime.fromisoformat(lamp["resolve_deadline"]) == local("2027-02-16T12:00")
    violence = await wait_for_work_item(client, urgent.case_id)  # 家庭暴力: 24/7, sign 2 h, resolve 6 h
    assert datetime.fromisoformat(violence["sign_deadline"]) == local("2027-02-04T14:00")
    assert datetime.fromisoformat(violence["resolve_deadline"]) == local("2027-02-04T18:00")

    day_off = {"working": False, "note": "区级停电检修"}
    assert (await client.put("/v1/calendar/district/2027-02-15", json=day_off, headers=OPERATOR)).status_code == 204
    later = dispatched("S02", dispatched_at=local("2027-02-04T12:00"))
    await publish(ns, later)
    moved = await wait_for_work_item(client, later.case_id)
    assert datetime.fromisoformat(moved["sign_deadline"]) == local("2027-02-16T12:00")  # 02-15 is off locally

    calendar = (
        await client.get("/v1/calendar", params={"from": "2027-02-12", "to": "2027-02-16"}, headers=OPERATOR)
    ).json()
    assert [(d["day"], d["working"], d["source"]) for d in calendar["days"]] == [
        ("2027-02-12", False, "national"),
        ("2027-02-13", False, "national"),
        ("2027-02-14", False, "national"),
        ("2027-02-15", False, "district"),
        ("2027-02-16", True, "national"),
    ]
    assert calendar["covered_until"] == date(2028, 1, 1).isoformat()  # nobody entered 2028
    assert {"P05", "P06", "P10", "S25"} <= set(calendar["round_the_clock_items"])
    assert (await client.delete("/v1/calendar/district/2027-02-15", headers=OPERATOR)).status_code == 204


async def test_the_weekly_report_is_served_to_operators(client):
    response = await client.get("/v1/reports/weekly/2027-W05", headers=OPERATOR)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "三率考核周报" in response.text and "2027-W05" in response.text
    assert (await client.get("/v1/reports/weekly/2027-W05", headers=as_department("police"))).status_code == 403
    assert (await client.get("/v1/reports/weekly/2027-W54", headers=OPERATOR)).status_code == 422
