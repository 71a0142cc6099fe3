"""Issue #16, replayed as it was found: nobody learns what they must not.

1. An anonymous Open311 listing showed domestic-violence cases with their address and status notes.
2. A worker posting another worker's client_report_id was answered with that worker's case and tracking token;
   a second payload under the same key was silently answered as the first.
3. Two families' domestic-violence reports in one grid became one case (linked as duplicates).

Then, item by item over the whole admission list, what an anonymous Open311 client can and cannot see: list, by
id and by id list, in JSON and XML. The expected policy is written here, from the issue, not read from the code.
These tests failed on the code before the fix (main at 9fe5a64): findings 1-3 and every personal item.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from gridloop.admission.admission_list import default_admission_list
from gridloop.auth.ratelimit import RateLimiter
from gridloop.auth.settings import AuthSettings
from gridloop.registry import default_registry
from services.departments.main import make_app as departments_app
from services.departments.settings import DepartmentsSettings
from services.intake.main import make_app as intake_app
from services.intake.settings import IntakeSettings
from services.router.main import make_app as router_app
from services.router.settings import RouterSettings
from tests.support.apps import started
from tests.support.auth import OPERATOR, ActingAsCaller
from tests.support.polling import wait_for
from tests.support.reports import report_body
from tests.support.scripted import ScriptedClassifier

pytestmark = pytest.mark.integration

# The issue's list of items about a person: never listed or fetchable anonymously.
POLICE = {f"P{n:02d}" for n in range(1, 19)}  # every police item
SUBSIDIES = {f"F{n:02d}" for n in range(1, 12)}  # 低保, 特困, 救助, 津贴, 残疾人补贴, 一卡通, 社保缴费, 优抚, 补贴
PERSONAL_FINANCE = {"F14", "F15"}  # a business owner's taxes; 非法集资 (fraud victims)
PEOPLE = {
    "S17",
    "S18",
    "S19",
    "S20",
    "S21",
    "S22",
    "S27",
    "S30",
}  # 养老, 独居老人, 残疾人, 困境儿童, 就业, 生育, 丧事, 纠纷
PERSONAL = POLICE | SUBSIDIES | PERSONAL_FINANCE | PEOPLE
ALL_ITEMS = tuple(default_admission_list().items)
ITEM_WORKER = 57  # files one report of every item (a named worker no other test names)
POLICE_PARTNER = "police-partner-key-for-the-privacy-tests"
ADDRESS = "金牛区营门口路88号3栋2单元501"


def _intake_settings(ns: Any) -> IntakeSettings:
    # One worker files a report of every item here, and the item-by-item tests read hundreds of times: the limits
    # are not what these tests are about (the public reads' limit is tested below with a small bucket).
    limits = AuthSettings(worker_report_burst=200, public_reads_per_minute=600_000, public_read_burst=10_000)
    return IntakeSettings(
        database_url=ns.database_urls["intake"],
        kafka=ns.kafka(),
        open311_partner_keys={POLICE_PARTNER: {"police"}},
        auth=limits,
    )


@pytest.fixture(scope="module")
async def stack(ns) -> AsyncIterator[dict[str, Any]]:
    """Intake, router (deciding by the worker's item hint) and departments, in-process."""
    apps = {
        "intake": intake_app(_intake_settings(ns)),
        "router": router_app(
            RouterSettings(database_url=ns.database_urls["router"], kafka=ns.kafka()), classifier=ScriptedClassifier()
        ),
        "departments": departments_app(
            DepartmentsSettings(
                database_url=ns.database_urls["departments"], kafka=ns.kafka(), publish_weekly_reports=False
            )
        ),
    }
    async with AsyncExitStack() as stack:
        clients = {}
        for name, app in apps.items():
            await stack.enter_async_context(started(app))
            transport = httpx.ASGITransport(app=app)
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url=f"http://{name}", auth=ActingAsCaller())
            )
        clients["anonymous"] = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=apps["intake"]), base_url="http://intake/open311/v2")
        )
        yield {**clients, "intake_app": apps["intake"]}


async def _report(intake: httpx.AsyncClient, body: dict) -> str:
    posted = await intake.post("/v1/reports", json=body)
    assert posted.status_code == 202, posted.text
    return posted.json()["case_id"]


async def _forwarded(intake: httpx.AsyncClient, case_id: str) -> dict | None:
    view = (await intake.get(f"/v1/cases/{case_id}", headers=OPERATOR)).json()
    return next((s for s in view["timeline"] if s["status"] == "forwarded"), None)


# ---- finding 1 ------------------------------------------------------------------------------------------------


async def test_finding_1_an_anonymous_listing_shows_no_domestic_violence_case_and_no_address(stack) -> None:
    intake, anonymous = stack["intake"], stack["anonymous"]
    body = report_body("3栋2单元501家中传出打骂和哭喊声，女方脸上有伤", item_hint="P06", worker_index=0)
    body["location"] = {**body["location"], "address": ADDRESS}
    case_id = await _report(intake, body)
    step = await wait_for(lambda: _forwarded(intake, case_id), what="the P06 report forwarded to the police")
    assert step["note"] == "已转派至辖区派出所（家庭暴力）", "the status note the finding saw"

    listing = await anonymous.get("/requests.json")
    assert listing.status_code == 200
    requests = listing.json()
    assert case_id not in {r["service_request_id"] for r in requests}, "the fresh 家庭暴力 report is listed"
    assert not [r for r in requests if r["service_code"] in PERSONAL], "personal items are listed anonymously"
    assert not [r for r in requests if r["address"]], "an address is shown anonymously"
    assert ADDRESS not in listing.text and "家庭暴力" not in listing.text
    assert (await anonymous.get(f"/requests/{case_id}.json")).status_code == 404
    assert ADDRESS not in (await anonymous.get("/requests.xml")).text


# ---- finding 2 ------------------------------------------------------------------------------------------------


async def test_finding_2_another_workers_idempotency_key_opens_nothing_of_theirs(stack) -> None:
    intake = stack["intake"]
    first = report_body("楼道里堆满了纸箱和旧家具，堵住了安全出口", item_hint="S11", worker_index=0)
    accepted = await intake.post("/v1/reports", json=first)
    assert accepted.status_code == 202
    theirs = accepted.json()

    # JN-W0002 posts a different report under JN-W0001's client_report_id.
    other = report_body("小区东门路灯不亮", item_hint="S02", worker_index=1, client_report_id=first["client_report_id"])
    assert other["worker_id"] == "JN-W0002" and first["worker_id"] == "JN-W0001"
    answered = await intake.post("/v1/reports", json=other)
    assert answered.status_code == 202, "another worker's key is simply a new key"
    assert answered.json()["case_id"] != theirs["case_id"]
    assert theirs["tracking_token"] not in answered.text, "JN-W0001's tracking token handed to JN-W0002"

    # A second payload under the same key is not answered as the first.
    changed = await intake.post("/v1/reports", json={**first, "description": "楼道灯坏了"})
    assert changed.status_code == 409, changed.text
    assert first["client_report_id"] in changed.json()["detail"]
    assert theirs["tracking_token"] not in changed.text
    again = await intake.post("/v1/reports", json=first)
    assert (again.status_code, again.json()["case_id"]) == (200, theirs["case_id"])


# ---- finding 3 ------------------------------------------------------------------------------------------------


async def test_finding_3_two_families_domestic_violence_reports_in_one_grid_stay_two_cases(stack) -> None:
    intake, departments = stack["intake"], stack["departments"]
    grid = default_registry().grid("JN-G0001")
    first = report_body("5栋1单元302夫妻吵架动手，孩子在哭", item_hint="P06", worker_index=0)
    second = report_body("9栋3单元601男子酒后殴打妻子，邻居听到求救", item_hint="P06", worker_index=0)
    assert first["grid_id"] == second["grid_id"] == grid.grid_id
    first_id = await _report(intake, first)

    async def work_item(case_id: str) -> dict | None:
        response = await departments.get(f"/v1/work-items/{case_id}", headers=OPERATOR)
        return response.json() if response.status_code == 200 else None

    await wait_for(lambda: work_item(first_id), what="the first family's work item")
    second_id = await _report(intake, second)
    item = await wait_for(lambda: work_item(second_id), what="the second family's work item")
    assert item["status"] == "dispatched" and item["primary_case_id"] is None, "linked to another family's case"
    assert (await work_item(first_id))["linked_case_ids"] == []


# ---- item by item ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def one_case_per_item(stack) -> dict[str, str]:
    """One report of every item of the admission list, each routed to its department: item code -> case id."""
    intake = stack["intake"]
    cases = {}
    for code in ALL_ITEMS:
        body = report_body(f"测试上报：{code}，3栋门口", item_hint=code, worker_index=ITEM_WORKER)  # no consent asked
        body["location"] = {**body["location"], "address": ADDRESS}
        body["photo_urls"] = ["https://example.org/photo.jpg"]
        cases[code] = await _report(intake, body)

    async def all_forwarded() -> bool:
        for case_id in cases.values():
            if await _forwarded(intake, case_id) is None:
                return False
        return True

    await wait_for(all_forwarded, timeout=120, what="every item's case forwarded")
    return cases


def _xml_requests(response: httpx.Response) -> list[dict[str, str | None]]:
    root = ET.fromstring(response.content)
    return [{child.tag: child.text for child in request} for request in root.findall("request")]


@pytest.mark.parametrize("code", ALL_ITEMS)
async def test_what_an_anonymous_client_sees_of_each_item(stack, one_case_per_item, code: str) -> None:
    anonymous, case_id = stack["anonymous"], one_case_per_item[code]
    listed_json = (await anonymous.get("/requests.json", params={"service_code": code})).json()
    listed_xml = _xml_requests(await anonymous.get("/requests.xml", params={"service_code": code}))
    by_ids_json = (await anonymous.get("/requests.json", params={"service_request_id": case_id})).json()
    by_ids_xml = _xml_requests(await anonymous.get("/requests.xml", params={"service_request_id": case_id}))
    by_id_json = await anonymous.get(f"/requests/{case_id}.json")
    by_id_xml = await anonymous.get(f"/requests/{case_id}.xml")

    if code in PERSONAL:
        assert listed_json == [] and listed_xml == [], "a personal item's cases are listed"
        assert by_ids_json == [] and by_ids_xml == [], "found by id list"
        assert (by_id_json.status_code, by_id_xml.status_code) == (404, 404), "found by id"
        assert by_id_json.json()[0]["description"] == f"service_request_id {case_id} not found", "as if none"
        return

    grid = default_registry().grid(report_body("x", worker_index=ITEM_WORKER)["grid_id"])
    rounded = (round(grid.lat, 3), round(grid.lon, 3))
    as_json = [r for r in listed_json if r["service_request_id"] == case_id]
    as_xml = [r for r in listed_xml if r["service_request_id"] == case_id]
    [one_json], [one_xml] = by_id_json.json(), _xml_requests(by_id_xml)
    for entry in (*as_json, *by_ids_json, one_json):
        assert entry["service_code"] == code and entry["agency_responsible"]
        assert (entry["lat"], entry["long"]) == rounded, "the location rounded to about 100 m"
        assert entry["address"] is None and entry["description"] is None and entry["media_url"] is None
        assert entry["status_notes"] == "已转派至责任部门"
    for entry in (*as_xml, *by_ids_xml, one_xml):
        assert (entry["lat"], entry["long"]) == tuple(map(str, rounded))
        assert entry["address"] is None and entry["description"] is None and entry["media_url"] is None
    assert len(as_json) == len(as_xml) == len(by_ids_json) == len(by_ids_xml) == 1
    assert ADDRESS not in by_id_xml.text and ADDRESS not in by_id_json.text


def test_the_admission_list_marks_exactly_the_issues_personal_items() -> None:
    from gridloop.admission import admission_list

    assert {code for code in ALL_ITEMS if admission_list.is_personal(code)} == PERSONAL


async def test_a_partner_key_reads_its_departments_personal_cases_in_full(stack, one_case_per_item) -> None:
    anonymous, case_id = stack["anonymous"], one_case_per_item["P06"]
    partner = await anonymous.get(f"/requests/{case_id}.json", params={"api_key": POLICE_PARTNER})
    assert partner.status_code == 200
    [entry] = partner.json()
    assert entry["address"] == ADDRESS and entry["description"] and entry["media_url"]
    other = await anonymous.get(f"/requests/{one_case_per_item['F01']}.json", params={"api_key": POLICE_PARTNER})
    assert other.status_code == 404, "granted the police's items, not finance's"
    wrong = await anonymous.get(f"/requests/{case_id}.xml", params={"api_key": "guessed"})
    assert wrong.status_code == 403 and ET.fromstring(wrong.content).find("error/code").text == "403"


async def test_public_reads_are_rate_limited_per_client(stack) -> None:
    """A small bucket swapped in for this test: the third read at once is 429 in the spec's error format, with
    Retry-After; another client (an API key) has a bucket of its own."""
    app = stack["intake_app"]
    kept = app.state.auth.public_read_limit
    app.state.auth.public_read_limit = RateLimiter("public_read", per_minute=1, burst=2)
    try:
        anonymous = stack["anonymous"]
        assert [(await anonymous.get("/requests.json")).status_code for _ in range(2)] == [200, 200]
        refused = await anonymous.get("/requests.xml")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert ET.fromstring(refused.content).find("error/code").text == "429"
        keyed = await anonymous.get("/requests.json", params={"api_key": POLICE_PARTNER})
        assert keyed.status_code == 200
    finally:
        app.state.auth.public_read_limit = kept


async def test_an_unknown_request_id_and_a_personal_one_answer_alike(stack, one_case_per_item) -> None:
    anonymous = stack["anonymous"]
    personal = await anonymous.get(f"/requests/{one_case_per_item['P10']}.json")
    unknown = await anonymous.get(f"/requests/{uuid.uuid4()}.json")
    assert personal.status_code == unknown.status_code == 404
    assert personal.json()[0]["code"] == unknown.json()[0]["code"] == 404
