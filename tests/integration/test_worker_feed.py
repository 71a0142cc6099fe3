"""Every outcome comes back to the worker who reported it: their reports newest first with the latest outcome,
and a live stream (Server-Sent Events over real HTTP) of their cases' steps; never another worker's."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from gridloop.registry import default_registry
from tests.support.apps import Services, build_apps, running
from tests.support.auth import as_worker
from tests.support.notify_standins import serving
from tests.support.polling import wait_for
from tests.support.reports import report_body

pytestmark = pytest.mark.integration

WORKERS = [default_registry().workers[i] for i in (62, 63, 64, 65)]


@pytest.fixture(scope="module")
async def services(ns, tmp_path_factory) -> AsyncIterator[Services]:
    apps = build_apps(
        ns,
        notify_log=tmp_path_factory.mktemp("notify") / "messages.jsonl",
        overrides={"intake": {"worker_stream_poll_seconds": 0.5}},
    )
    async with running(apps) as running_services:
        yield running_services


async def report(services: Services, worker_index: int, description: str, item_hint: str | None = None) -> str:
    body = report_body(description, item_hint=item_hint, worker_index=(62, 63, 64, 65)[worker_index])
    accepted = await services.intake.post("/v1/reports", json=body)
    assert accepted.status_code == 202, accepted.text
    return accepted.json()["case_id"]


async def my_reports(services: Services, worker_index: int, **params: object) -> dict:
    answer = await services.intake.get(
        "/v1/workers/me/reports", params=params, headers=as_worker(WORKERS[worker_index].worker_id)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def latest_status(services: Services, worker_index: int, case_id: str, status: str) -> dict | None:
    reports = (await my_reports(services, worker_index, page_size=100))["reports"]
    found = next((r for r in reports if r["case_id"] == case_id), None)
    return found if found and found["latest"] and found["latest"]["status"] == status else None


async def test_a_worker_sees_their_own_reports_newest_first_and_not_another_s(services: Services) -> None:
    first = await report(services, 0, "12栋楼道里堆满了纸箱和旧家具，堵住了消防通道", item_hint="S05")
    second = await report(services, 0, "小区东门路灯坏了两盏", item_hint="S02")
    theirs = await report(services, 1, "小区北门路灯不亮了", item_hint="S02")
    await wait_for(lambda: latest_status(services, 0, second, "forwarded"), what="the second report forwarded")

    page = await my_reports(services, 0)
    ids = [r["case_id"] for r in page["reports"]]
    assert ids[:2] == [second, first] and theirs not in ids
    forwarded = page["reports"][0]["latest"]
    assert forwarded["detail"]["department"] == "street_office" and "已转派" in forwarded["text"]
    assert (await my_reports(services, 0, page=2, page_size=1))["reports"][0]["case_id"] == first
    assert theirs not in [r["case_id"] for r in (await my_reports(services, 0, status="forwarded"))["reports"]]
    # The other worker's list holds theirs and none of these (the stream test reports as that worker too).
    other_list = [r["case_id"] for r in (await my_reports(services, 1))["reports"]]
    assert theirs in other_list and first not in other_list and second not in other_list

    operator = await services.intake.get("/v1/workers/me/reports")  # the default caller is an operator
    assert operator.status_code == 403


async def test_not_admitted_tells_the_worker_why_and_where_to_send_the_resident(services: Services) -> None:
    case_id = await report(services, 2, "居民王大爷要社区给他开一张无犯罪记录证明，说是单位招聘要用")
    found = await wait_for(lambda: latest_status(services, 2, case_id, "not_admitted"), what="not admitted")
    latest = found["latest"]
    assert latest["action_needed"] is True
    assert "已取消的证明事项" in latest["detail"]["reason"]
    assert "12345" in latest["detail"]["refer_to"] and latest["detail"]["refer_to"] in latest["text"]


async def read_events(response: httpx.Response, count: int) -> list[dict]:
    events: list[dict] = []
    current: dict = {}
    async for line in response.aiter_lines():
        if line.startswith("id:"):
            current["id"] = line[3:].strip()
        elif line.startswith("event:"):
            current["event"] = line[6:].strip()
        elif line.startswith("data:"):
            current["data"] = json.loads(line[5:].strip())
        elif line == "" and "data" in current:
            events.append(current)
            current = {}
            if len(events) == count:
                return events
    return events


async def test_the_stream_pushes_each_outcome_of_the_worker_s_cases_in_order(services: Services) -> None:
    worker = WORKERS[3].worker_id
    async with serving(services.apps["intake"]) as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
        async with http.stream("GET", "/v1/workers/me/reports/stream", headers=as_worker(worker)) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            await report(services, 1, "南门路灯也坏了", item_hint="S02")  # another worker's: not in this stream
            case_id = await report(services, 3, "小区西门路灯坏了三盏", item_hint="S02")
            departments = services.departments

            async def dispatched() -> bool:
                return (await departments.get(f"/v1/work-items/{case_id}")).status_code == 200

            await wait_for(dispatched, what="work item")
            signed = await departments.post(f"/v1/work-items/{case_id}/sign", json={"handler": "王芳"})
            assert signed.status_code == 200
            resolved = await departments.post(f"/v1/work-items/{case_id}/resolve", json={"result": "已更换灯泡"})
            assert resolved.status_code == 200
            events = await read_events(stream, 4)
    assert [e["data"]["status"] for e in events] == ["received", "forwarded", "signed", "resolved"]
    assert {e["data"]["case_id"] for e in events} == {case_id}
    assert [int(e["id"]) for e in events] == sorted(int(e["id"]) for e in events)
    assert events[3]["data"]["text"] == "已办结：已更换灯泡"

    # Resuming after the second event replays the rest, from the database.
    async with serving(services.apps["intake"]) as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
        headers = {**as_worker(worker), "Last-Event-ID": events[1]["id"]}
        async with http.stream("GET", "/v1/workers/me/reports/stream", headers=headers) as stream:
            replayed = await read_events(stream, 2)
    assert [e["id"] for e in replayed] == [events[2]["id"], events[3]["id"]]
