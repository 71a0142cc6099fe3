"""Operators work the triage queue: a case the router could not decide is assigned an item or marked not
admitted, then routes as usual; every operator decision is kept as a labelled example for retraining."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from services.router.collectors import triage_queue_size
from services.router.main import make_app as router_app
from services.router.settings import RouterSettings
from services.router.tables import decisions
from services.router.triage import export_corrections, open_triage
from tests.support.apps import Services, build_apps, running
from tests.support.auth import OPERATOR, as_department, as_worker
from tests.support.polling import wait_for
from tests.support.reports import report_body
from tests.support.scripted import TRIAGE_MARK, ScriptedClassifier

pytestmark = pytest.mark.integration
WORKER = 91  # a named worker (tests/support/reports.py): its grid is never handed to another test's report


@pytest.fixture(scope="module")
async def services(ns, tmp_path_factory):
    apps = build_apps(ns, notify_log=tmp_path_factory.mktemp("notify") / "messages.jsonl")
    settings = RouterSettings(database_url=ns.database_urls["router"], kafka=ns.kafka())
    apps["router"] = router_app(settings, classifier=ScriptedClassifier())
    async with running(apps) as running_services:
        yield running_services


async def _triaged_case(services: Services, text: str) -> str:
    accepted = await services.intake.post(
        "/v1/reports", json=report_body(TRIAGE_MARK + text, worker_index=WORKER, location=None)
    )
    case_id = accepted.json()["case_id"]

    async def queued() -> dict | None:
        response = await services.router.get("/v1/triage", params={"status": "open"}, headers=OPERATOR)
        return next((c for c in response.json() if c["case_id"] == case_id), None)

    await wait_for(queued, what="case in the triage queue")
    return case_id


async def _timeline(services: Services, case_id: str) -> list[str]:
    return [s["status"] for s in (await services.intake.get(f"/v1/cases/{case_id}")).json()["timeline"]]


async def test_queue_shows_why_the_router_was_unsure(services: Services) -> None:
    case_id = await _triaged_case(services, "院坝头那堆东西好几天了，不晓得该找哪个")
    queue = (await services.router.get("/v1/triage", headers=OPERATOR)).json()
    entry = next(c for c in queue if c["case_id"] == case_id)
    assert entry["confidence"] == pytest.approx(0.31)
    assert (entry["runner_up"], entry["features"]) == ("S03", ["垃圾", "清运"])
    assert "院坝头那堆东西" in entry["description"] and entry["resolution"] is None


async def test_assigned_case_is_dispatched_to_the_items_department(services: Services) -> None:
    case_id = await _triaged_case(services, "小区门口堆了一大堆垃圾没人收")
    assigned = await services.router.post(
        f"/v1/triage/{case_id}/assign", json={"item_code": "S03", "operator": "王芳"}, headers=OPERATOR
    )
    assert assigned.status_code == 200, assigned.text
    assert (assigned.json()["department"], assigned.json()["decided_by"]) == ("street_office", "operator:王芳")

    item = await wait_for(
        lambda: _json_or_none(services.departments.get(f"/v1/work-items/{case_id}", headers=OPERATOR)),
        what="work item at the street office",
    )
    assert (item["department"], item["item_code"]) == ("street_office", "S03")
    decision = (await services.router.get(f"/v1/decisions/{case_id}")).json()
    assert (decision["round"], decision["outcome"], decision["decided_by"]) == (2, "admitted", "operator:王芳")
    await wait_for(lambda: _has(services, case_id, "forwarded"), what="forwarded step in the timeline")

    again = await services.router.post(
        f"/v1/triage/{case_id}/assign", json={"item_code": "S02", "operator": "李强"}, headers=OPERATOR
    )
    assert again.status_code == 409, "a decided case has left the queue"
    decided = (await services.router.get("/v1/triage", params={"status": "decided"}, headers=OPERATOR)).json()
    entry = next(c for c in decided if c["case_id"] == case_id)
    assert entry["resolution"]["decided_by"] == "operator:王芳" and entry["round"] == 1


async def test_case_marked_not_admitted_goes_nowhere_and_the_resident_is_told(services: Services) -> None:
    case_id = await _triaged_case(services, "居民要社区开个亲属关系证明")
    response = await services.router.post(
        f"/v1/triage/{case_id}/not-admitted",
        json={"reason_code": "CERT_ABOLISHED", "reason": "亲属关系证明已取消，社区不再出具", "operator": "王芳"},
        headers=OPERATOR,
    )
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "not_admitted"
    await wait_for(lambda: _has(services, case_id, "not_admitted"), what="not_admitted step in the timeline")
    view = (await services.intake.get(f"/v1/cases/{case_id}")).json()
    assert "亲属关系证明已取消" in view["timeline"][-1]["note"]
    assert (await services.departments.get(f"/v1/work-items/{case_id}", headers=OPERATOR)).status_code == 404


async def test_operator_decisions_are_kept_as_labelled_examples(services: Services, ns) -> None:
    case_id = await _triaged_case(services, "楼下的路灯好像又不亮了嗦")
    await services.router.post(
        f"/v1/triage/{case_id}/assign", json={"item_code": "S02", "operator": "王芳"}, headers=OPERATOR
    )
    corrections = await asyncio.to_thread(export_corrections, ns.database_urls["router"])
    mine = [c for c in corrections if c["group"] == f"case:{case_id}"]
    assert mine == [{"text": TRIAGE_MARK + "楼下的路灯好像又不亮了嗦", "label": "S02", "group": f"case:{case_id}"}]


async def test_only_operators_may_work_the_queue(services: Services) -> None:
    case_id = await _triaged_case(services, "这个事情说不清楚")
    assert (await services.router.get("/v1/triage", headers=as_worker("JN-W0001"))).status_code == 403
    department = as_department("police")
    assign = {"item_code": "S03", "operator": "张三"}
    assert (
        await services.router.post(f"/v1/triage/{case_id}/assign", json=assign, headers=department)
    ).status_code == 403
    unknown_item = await services.router.post(
        f"/v1/triage/{case_id}/assign", json={"item_code": "Z99", "operator": "王芳"}, headers=OPERATOR
    )
    assert unknown_item.status_code == 422 and "Z99" in unknown_item.text
    unknown_case = await services.router.post(
        "/v1/triage/00000000-0000-0000-0000-000000000001/assign", json=assign, headers=OPERATOR
    )
    assert unknown_case.status_code == 404
    decision = (await services.router.get(f"/v1/decisions/{case_id}")).json()
    assert decision["outcome"] == "triage", "refused attempts change nothing"


async def _json_or_none(request) -> dict | None:
    response = await request
    return response.json() if response.status_code == 200 else None


async def _has(services: Services, case_id: str, status: str) -> bool:
    return status in await _timeline(services, case_id)


async def test_the_queue_and_its_gauge_hold_the_cases_whose_latest_decision_is_triage(ns) -> None:
    """Triage in round 1 and still waiting; triage decided by an operator in round 2; admitted first and sent to
    triage after a return in round 2; admitted only: the queue (and the gauge) hold the first and the third."""
    waiting, decided, returned, admitted = (uuid.uuid4() for _ in range(4))
    rounds = {
        waiting: ["triage"],
        decided: ["triage", "admitted"],
        returned: ["admitted", "triage"],
        admitted: ["admitted"],
    }
    async with ns.database("router", "/test/triage-queue") as db:
        before = await triage_queue_size(db)
        async with db.engine.begin() as conn:
            await conn.execute(
                sa.insert(decisions),
                [
                    {
                        "case_id": case_id,
                        "round": n,
                        "outcome": outcome,
                        "confidence": 0.5,
                        "reason": "test",
                        "features": {},
                        "list_version": "test",
                        "decided_by": "classifier",
                        "decided_at": datetime.now(UTC),
                    }
                    for case_id, outcomes in rounds.items()
                    for n, outcome in enumerate(outcomes, start=1)
                ],
            )
        async with db.engine.connect() as conn:
            queued = set((await conn.execute(sa.select(open_triage().c.case_id))).scalars())
        assert queued & set(rounds) == {waiting, returned}
        assert await triage_queue_size(db) == before + 2
