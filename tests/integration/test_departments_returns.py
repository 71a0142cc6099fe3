"""Returns (退单) on real Kafka and PostgreSQL: a returned case is routed again without the returning
department; a second return sends it to the triage queue for an operator to arbitrate."""

from __future__ import annotations

import uuid

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from gridloop.admission.admission_list import default_admission_list
from gridloop.admission.classifier import Decision
from gridloop.contracts.events import CaseReported, ReturnedDetail, RoutingDetail
from gridloop.contracts.topics import CASES_REPORTED
from gridloop.servicekit.clock import FixedClock
from services.router.tables import case_returns
from tests.support.apps import started
from tests.support.auth import ActingAsCaller
from tests.support.departments import StatusTap, as_department, departments_app, publish, wait_for_work_item
from tests.support.polling import wait_for
from tests.support.reports import reported_event

pytestmark = pytest.mark.integration

BRAWL = "小区门口有人摆摊占道经营，摊主还和居民吵起来动了手"


class ScriptedClassifier:
    """Probabilities written by the test, decided like the real classifier (best item, abstain below 0.3)."""

    threshold = 0.3

    def __init__(self, script: dict[str, dict[str, float]]) -> None:
        self.script = script
        self.list_version = default_admission_list().version

    def probabilities(self, text: str) -> dict[str, float]:
        return self.script.get(text, {"NA:OUT_OF_SCOPE": 1.0})

    def classify(self, description: str, item_hint: str | None = None) -> Decision:
        p, code = max((p, c) for c, p in self.probabilities(description).items())
        item = default_admission_list().get(code)
        if item is None or p < self.threshold:
            return Decision("triage", None, None, p, "test: unsure", list_version=self.list_version)
        return Decision("admitted", code, item.department, p, f"test: {code}", list_version=self.list_version)


@pytest.fixture(scope="module")
def ns(private_ns):
    """Topics of this module's own: the router started here reads the status topic from its start, and every case
    other modules returned (their router never routed it) would be dead-lettered ahead of this module's cases."""
    return private_ns


@pytest.fixture(scope="module")
async def services(ns):
    from services.router.main import make_app
    from services.router.settings import RouterSettings

    classifier = ScriptedClassifier({BRAWL: {"S06": 0.55, "P05": 0.30, "S09": 0.05, "NA:OUT_OF_SCOPE": 0.10}})
    router_app = make_app(
        RouterSettings(database_url=ns.database_urls["router"], kafka=ns.kafka()), classifier=classifier
    )
    async with (
        started(router_app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=router_app), base_url="http://router", auth=ActingAsCaller()
        ) as router,
        departments_app(ns, FixedClock()) as departments,
    ):
        yield router, departments


@pytest.fixture(scope="module")
async def tap(ns):
    async with StatusTap(ns) as status_tap:
        yield status_tap


def reported(description: str) -> CaseReported:
    return reported_event(description=description)


async def _return(departments: httpx.AsyncClient, case_id: uuid.UUID, department: str, reason: str) -> None:
    body = {"reason_code": reason, "note": "经核实不属于本单位", "handler": "值班员"}
    response = await departments.post(f"/v1/work-items/{case_id}/return", json=body, headers=as_department(department))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "returned"


async def _dispatched_to(departments: httpx.AsyncClient, case_id: uuid.UUID, dispatch_no: int) -> dict:
    async def arrived() -> dict | None:
        item = (await departments.get(f"/v1/work-items/{case_id}")).json()
        return item if item.get("dispatch_no") == dispatch_no and item["status"] == "dispatched" else None

    return await wait_for(arrived, interval=0.05, what=f"dispatch {dispatch_no} of {case_id}")


async def _bounces(ns, case_id: uuid.UUID) -> list[tuple[int, str, str]]:
    engine = create_async_engine(ns.database_urls["router"])
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.select(case_returns.c.dispatch_no, case_returns.c.department, case_returns.c.reason_code)
                .where(case_returns.c.case_id == case_id)
                .order_by(case_returns.c.dispatch_no)
            )
            return [tuple(r) for r in rows]
    finally:
        await engine.dispose()


async def test_a_returned_case_is_routed_again_without_the_returning_department(ns, services, tap):
    router, departments = services
    case = reported(BRAWL)
    await publish(ns, case, topic=CASES_REPORTED)
    first = await wait_for_work_item(departments, case.case_id)
    assert (first["department"], first["item_code"], first["dispatch_no"]) == ("street_office", "S06", 1)

    await _return(departments, case.case_id, "street_office", "not_our_remit")
    (returned,) = await tap.wait(case.case_id, "returned")
    assert returned.detail == ReturnedDetail(reason_code="not_our_remit", department="street_office", dispatch_no=1)

    second = await _dispatched_to(departments, case.case_id, 2)
    assert (second["department"], second["item_code"], second["returns"]) == ("police", "P05", 1)
    decision = (await router.get(f"/v1/decisions/{case.case_id}")).json()
    assert (decision["round"], decision["outcome"], decision["department"]) == (2, "admitted", "police")
    assert decision["confidence"] == pytest.approx(0.75), "P05's share once street-office items are excluded"
    forwarded = await tap.wait(case.case_id, "forwarded", count=2)
    assert [e.department for e in forwarded] == ["street_office", "police"]
    assert await _bounces(ns, case.case_id) == [(1, "street_office", "not_our_remit")]


async def test_a_case_returned_twice_goes_to_triage_for_arbitration(ns, services, tap):
    router, departments = services
    returns_before = (await departments.get("/v1/stats")).json()["returns_by_department"]
    case = reported(BRAWL)
    await publish(ns, case, topic=CASES_REPORTED)
    await wait_for_work_item(departments, case.case_id)
    await _return(departments, case.case_id, "street_office", "wrong_area")
    await _dispatched_to(departments, case.case_id, 2)
    await _return(departments, case.case_id, "police", "not_our_remit")

    (triage,) = await tap.wait(case.case_id, "triage")
    assert triage.note == "二次退单，待仲裁"
    assert triage.detail_as(RoutingDetail).excluded_departments == ["police", "street_office"]

    async def triaged() -> dict | None:
        decision = (await router.get(f"/v1/decisions/{case.case_id}")).json()
        return decision if decision["round"] == 3 else None

    decision = await wait_for(triaged, what="the third routing decision")
    assert (decision["outcome"], decision["reason"], decision["department"]) == ("triage", "二次退单，待仲裁", None)
    item = (await departments.get(f"/v1/work-items/{case.case_id}")).json()
    assert (item["status"], item["returns"], item["department"]) == ("returned", 2, "police")
    assert await _bounces(ns, case.case_id) == [(1, "street_office", "wrong_area"), (2, "police", "not_our_remit")]
    # This test's own returns, whatever the module's other tests returned before it (in any order).
    returns = (await departments.get("/v1/stats")).json()["returns_by_department"]
    assert {d: returns.get(d, 0) - returns_before.get(d, 0) for d in ("police", "street_office")} == {
        "police": 1,
        "street_office": 1,
    }
