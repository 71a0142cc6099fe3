"""Open311 GeoReport v2 on intake: the admission list as services, requests posted by civic apps become cases
routed like any report. Read through the `georeport` client library (JSON and XML) over real HTTP; posting
and the error bodies with httpx (the library does not post)."""

from __future__ import annotations

import asyncio
import socket
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from georeport import GeoReport

from gridloop.admission.admission_list import default_admission_list
from gridloop.auth.settings import AuthSettings
from gridloop.registry import default_registry
from services.intake.main import make_app as intake_app
from services.intake.settings import DEV_OPEN311_API_KEY, IntakeSettings
from services.router.main import make_app as router_app
from services.router.settings import RouterSettings
from tests.support.apps import started
from tests.support.polling import wait_for
from tests.support.scripted import ScriptedClassifier

pytestmark = pytest.mark.integration
GRID = default_registry().grids[-1]  # far from the grids other tests report on
PARTNER_KEY = "street-office-partner-key-for-tests"  # reads the street office's items in full
# Polls read often: this module is not about the public reads' rate limit (tests/integration/test_privacy_findings).
UNLIMITED_READS = AuthSettings(public_reads_per_minute=600_000, public_read_burst=10_000)


@pytest.fixture(scope="module")
async def open311(ns) -> AsyncIterator[str]:
    """Intake served over HTTP on a free port (the client library speaks `requests`), router in-process."""
    intake = intake_app(
        IntakeSettings(
            database_url=ns.database_urls["intake"],
            kafka=ns.kafka(),
            open311_partner_keys={PARTNER_KEY: {"street_office"}},
            auth=UNLIMITED_READS,
        )
    )
    router = router_app(
        RouterSettings(database_url=ns.database_urls["router"], kafka=ns.kafka()), classifier=ScriptedClassifier()
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(intake, lifespan="off", log_config=None, access_log=False))
    async with AsyncExitStack() as stack:
        for app in (intake, router):
            await stack.enter_async_context(started(app))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        await wait_for(lambda: _started(server), what="HTTP server")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/open311/v2"
        server.should_exit = True
        await serving


async def _started(server: uvicorn.Server) -> bool:
    return server.started


@pytest.fixture
async def http(open311) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=open311) as client:
        yield client


def _request_form(**overrides: str) -> dict[str, str]:
    form = {
        "api_key": DEV_OPEN311_API_KEY,
        "service_code": "S03",
        "lat": str(GRID.lat + 0.0003),
        "long": str(GRID.lon - 0.0002),
        "address_string": "金牛区营门口路88号院",
        "description": "小区门口垃圾桶满了两天没人收",
        "first_name": "小明",
        "last_name": "刘",
        "phone": "+86 139-0000-1111",
    }
    return {**form, **overrides}


async def _post(http: httpx.AsyncClient, fmt: str = "json", **overrides: str) -> httpx.Response:
    return await http.post(f"/requests.{fmt}", data=_request_form(**overrides))


async def _request_id(http: httpx.AsyncClient, **overrides: str) -> str:
    return (await _post(http, **overrides)).json()[0]["service_request_id"]


async def test_services_are_the_admission_list_in_json_and_xml(open311) -> None:
    as_json = await asyncio.to_thread(GeoReport(open311).get_service_list)
    assert len(as_json) == 63
    s03 = next(s for s in as_json if s["service_code"] == "S03")
    assert (s03["metadata"], s03["type"], s03["group"]) == (False, "realtime", "街道办事处")
    assert s03["service_name"] and s03["description"] and "垃圾桶" in s03["keywords"]

    as_xml = await asyncio.to_thread(GeoReport(open311, output_format="xml").get_service_list)
    assert [s["service_code"] for s in as_xml] == [s["service_code"] for s in as_json]
    assert next(s for s in as_xml if s["service_code"] == "P10")["metadata"] == "false"

    definition = await asyncio.to_thread(GeoReport(open311).get_service_definition, "P10")
    assert definition["service_code"] == "P10"
    assert [a["code"] for a in definition["attributes"]] == ["SCOPE", "DEADLINE"]
    assert "2 小时" in definition["attributes"][1]["description"]
    xml_definition = await asyncio.to_thread(GeoReport(open311, output_format="xml").get_service_definition, "P10")
    assert xml_definition["attributes"]["attribute"][0]["variable"] == "false"


async def test_a_posted_request_becomes_a_case_routed_like_any_report(open311, http) -> None:
    posted = await _post(http)
    assert posted.status_code == 200, posted.text
    [receipt] = posted.json()
    assert receipt["account_id"] is None and receipt["service_notice"]
    request_id = receipt["service_request_id"]

    async def routed() -> dict | None:
        entry = await asyncio.to_thread(GeoReport(open311).get_service_request, request_id)
        return entry if entry["agency_responsible"] else None

    entry = await wait_for(routed, what="request routed to a department")
    assert (entry["status"], entry["service_code"], entry["agency_responsible"]) == ("open", "S03", "街道办事处")
    # Anonymous: the location to about 100 m, no address, no description (the requester did not agree).
    assert entry["description"] is None and entry["address"] is None
    assert (entry["lat"], entry["long"]) == (round(GRID.lat + 0.0003, 3), round(GRID.lon - 0.0002, 3))
    partner = (await http.get(f"/requests/{request_id}.json", params={"api_key": PARTNER_KEY})).json()[0]
    assert partner["description"] == "小区门口垃圾桶满了两天没人收" and partner["address"] == "金牛区营门口路88号院"
    assert (partner["lat"], partner["long"]) == (GRID.lat + 0.0003, GRID.lon - 0.0002)
    requested = datetime.fromisoformat(entry["requested_datetime"])
    expected = datetime.fromisoformat(entry["expected_datetime"])
    hours = default_admission_list().items["S03"].resolve_hours
    assert timedelta(hours=hours) <= expected - requested <= timedelta(hours=hours, minutes=1)

    xml_entry = await asyncio.to_thread(GeoReport(open311, output_format="xml").get_service_request, request_id)
    assert (xml_entry["service_request_id"], xml_entry["status"]) == (request_id, "open")
    assert xml_entry["lat"] == str(entry["lat"]) and xml_entry["expected_datetime"] == entry["expected_datetime"]

    posted_xml = await _post(http, "xml", service_code="S02", description="路灯不亮", public_consent="true")
    root = ET.fromstring(posted_xml.content)
    assert root.tag == "service_requests" and root.find("request/service_request_id").text
    agreed = (await http.get(f"/requests/{root.find('request/service_request_id').text}.json")).json()[0]
    assert agreed["description"] == "路灯不亮" and agreed["address"] is None, "consent shows the words, not the address"


async def test_requests_are_filtered_as_the_spec_says(open311, http) -> None:
    first = await _request_id(http, service_code="S08", description="下水道堵了，污水冒出来")
    second = await _request_id(http, service_code="S07", description="墙上全是小广告")
    client = GeoReport(open311)

    by_id = await asyncio.to_thread(client.get_service_requests, service_request_id=f"{first},{second},not-a-case")
    assert {r["service_request_id"] for r in by_id} == {first, second}

    by_code = await asyncio.to_thread(client.get_service_requests, service_code="S07,S09")
    assert [r["service_request_id"] for r in by_code if r["service_request_id"] in (first, second)] == [second]
    opened = await asyncio.to_thread(client.get_service_requests, status="open")
    assert {first, second} <= {r["service_request_id"] for r in opened}
    closed = await asyncio.to_thread(client.get_service_requests, status="closed")
    assert not {first, second} & {r["service_request_id"] for r in closed}
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert await asyncio.to_thread(client.get_service_requests, start_date=tomorrow) == []

    window = {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}
    too_long = await http.get("/requests.json", params=window)
    assert too_long.status_code == 400 and "90 days" in too_long.json()[0]["description"]
    bad_date = await http.get("/requests.xml", params={"start_date": "yesterday"})
    assert bad_date.status_code == 400 and ET.fromstring(bad_date.content).find("error/code").text == "400"


@pytest.mark.parametrize(
    ("overrides", "code", "says"),
    [
        ({"api_key": "wrong"}, 403, "api_key"),
        ({"api_key": ""}, 403, "api_key"),
        ({"service_code": ""}, 400, "service_code"),
        ({"service_code": "Z99"}, 404, "Z99"),
        ({"lat": "", "long": "", "address_string": ""}, 400, "location"),
        ({"lat": "39.9", "long": "116.4"}, 400, "outside"),
        ({"lat": "north"}, 400, "lat"),
    ],
)
async def test_bad_posts_get_the_specs_errors(http, overrides, code, says) -> None:
    as_json = await _post(http, **overrides)
    assert as_json.status_code == code
    [error] = as_json.json()
    assert error["code"] == code and says in error["description"]
    as_xml = await _post(http, "xml", **overrides)
    root = ET.fromstring(as_xml.content)
    assert (as_xml.status_code, root.tag, root.find("error/code").text) == (code, "errors", str(code))
    assert says in root.find("error/description").text


async def test_unknown_service_request_and_format_are_not_found(http) -> None:
    assert (await http.get("/requests/00000000-0000-0000-0000-000000000009.json")).status_code == 404
    missing = await http.get("/requests/nonsense.xml")
    assert missing.status_code == 404 and ET.fromstring(missing.content).find("error/code").text == "404"
    assert (await http.get("/services.csv")).status_code == 404
    assert (await http.get("/services/Z99.json")).json()[0]["code"] == 404
