"""Operators manage the grid registry through intake; reports follow it at once. Credentials are the worker's
own, revocable at once, rate limited; every change is in the audit log."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.support.apps import Services, build_apps, running
from tests.support.auth import OPERATOR, as_worker
from tests.support.polling import wait_for
from tests.support.reports import report_body

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def services(ns, tmp_path_factory):
    apps = build_apps(
        ns,
        notify_log=tmp_path_factory.mktemp("notify") / "messages.jsonl",
        overrides={"intake": {"auth": {"worker_reports_per_minute": 6, "worker_report_burst": 3}}},
    )
    async with running(apps) as running_services:
        yield running_services


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


async def new_grid(intake: httpx.AsyncClient) -> str:
    community, grid = new_id("JN-CT"), new_id("JN-GT")
    added = await intake.post(
        "/v1/registry/communities", json={"community_id": community, "name": "测试社区", "street": "西华街道"}
    )
    assert added.status_code == 201, added.text
    body = {
        "grid_id": grid,
        "community_id": community,
        "name": "测试社区第1网格",
        "households": 500,
        "lat": 30.7,
        "lon": 104.0,
    }
    added = await intake.post("/v1/registry/grids", json=body)
    assert added.status_code == 201, added.text
    return grid


def report_from(worker_id: str, grid_id: str) -> dict:
    return report_body("小区门口垃圾桶满了两天没人收", worker_id=worker_id, grid_id=grid_id, location=None)


async def test_a_worker_added_to_a_new_grid_reports_there_and_is_refused_after_moving(services: Services) -> None:
    intake = services.intake
    first, second = await new_grid(intake), await new_grid(intake)
    worker = new_id("JN-WT")
    added = await intake.post(
        "/v1/registry/workers",
        json={"worker_id": worker, "name": "刘晓燕", "phone": "13900001111", "grid_ids": [first]},
    )
    assert added.status_code == 201 and added.json()["grid_ids"] == [first]
    assert (await intake.post("/v1/reports", json=report_from(worker, first))).status_code == 202

    moved = await intake.put(f"/v1/registry/workers/{worker}/grids", json={"grid_ids": [second]})
    assert moved.status_code == 200 and moved.json()["grid_ids"] == [second]
    refused = await intake.post("/v1/reports", json=report_from(worker, first))
    assert refused.status_code == 403 and "not assigned" in refused.json()["detail"]
    assert (await intake.post("/v1/reports", json=report_from(worker, second))).status_code == 202
    assert (await intake.get(f"/v1/registry/grids/{second}")).json()["worker_ids"] == [worker]

    audit = (await intake.get("/v1/audit", params={"actor": "operator:测试值班员", "limit": 50})).json()
    changes = {(e["action"], e["target"]) for e in audit}
    assert {("add_worker", worker), ("assign_worker", worker), ("add_grid", second)} <= changes
    reports = (await intake.get("/v1/audit", params={"actor": f"worker:{worker}"})).json()
    assert [e["action"] for e in reports] == ["POST /v1/reports", "POST /v1/reports"], "refused reports are not changes"


async def test_registry_changes_are_refused_when_they_name_what_does_not_exist(services: Services) -> None:
    intake = services.intake
    grid = {
        "grid_id": new_id("JN-GT"),
        "community_id": "JN-C999",
        "name": "无",
        "households": 1,
        "lat": 30.7,
        "lon": 104,
    }
    assert (await intake.post("/v1/registry/grids", json=grid)).status_code == 409
    assert (await intake.put("/v1/registry/workers/JN-W0001/grids", json={"grid_ids": ["JN-G9999"]})).status_code == 409
    assert (await intake.put("/v1/registry/workers/JN-NOBODY/grids", json={"grid_ids": []})).status_code == 404
    duplicate = {"community_id": "JN-C001", "name": "重复", "street": "西华街道"}
    assert (await intake.post("/v1/registry/communities", json=duplicate)).status_code == 409


async def test_a_worker_posts_only_as_itself(services: Services) -> None:
    body = report_body("路灯坏了好几天了", worker_index=5)
    other = as_worker("JN-W0006" if body["worker_id"] != "JN-W0006" else "JN-W0007")
    response = await services.intake.post("/v1/reports", json=body, headers=other)
    assert response.status_code == 403 and "signed in as" in response.json()["detail"]
    assert (await services.intake.post("/v1/reports", json=body, headers=OPERATOR)).status_code == 403


async def test_an_issued_worker_token_works_until_it_is_revoked(services: Services) -> None:
    body = report_body("楼道灯不亮了", worker_index=11)
    issued = await services.intake.post(f"/v1/registry/workers/{body['worker_id']}/tokens", json={"days": 1})
    assert issued.status_code == 201
    token = issued.json()
    headers = {"Authorization": f"Bearer {token['token']}"}
    assert (await services.intake.post("/v1/reports", json=body, headers=headers)).status_code == 202

    revoked = await services.intake.post("/v1/revocations", json={"token_id": token["token_id"], "reason": "手机丢失"})
    assert revoked.json() == {"token_id": token["token_id"], "revoked": True}
    again = await services.intake.post(
        "/v1/reports", json={**body, "client_report_id": str(uuid.uuid4())}, headers=headers
    )
    assert again.status_code == 401 and again.json()["detail"] == "token revoked"
    audit = (await services.intake.get("/v1/audit", params={"action": "revoke_token"})).json()
    assert any(e["target"] == token["token_id"] and e["detail"]["reason"] == "手机丢失" for e in audit)


async def test_a_revocation_written_by_another_process_reaches_every_listening_service(services: Services) -> None:
    """`gridloop token revoke` writes into each service's database from its own process: the services hear of it
    by LISTEN/NOTIFY (the in-memory set is trusted only while listening) and refuse the token within moments."""
    from gridloop.auth.settings import AuthSettings
    from gridloop.ops.token import issue, revoke_everywhere

    token = issue(AuthSettings(), role="operator", subject="临时值班员")
    headers = {"Authorization": f"Bearer {token.token}"}
    names = ("intake", "router", "departments", "notify")
    for name in names:
        cache = services.apps[name].state.runtime.revocations

        async def listening(cache=cache) -> bool:
            return cache.listening

        await wait_for(listening, timeout=10, what=f"{name} listening for revocations")
        assert (await getattr(services, name).get("/v1/audit", headers=headers)).status_code == 200, name

    urls = {name: app.state.runtime.settings.database_url for name, app in services.apps.items()}
    done = await revoke_everywhere(token.token_id, revoked_by="test", reason="离职", urls=urls)
    assert done == dict.fromkeys(names, True)
    # NOTIFY reaches a listener after the revoking transaction commits, on the listener's own connection: a
    # moment later, not before the revoking call returns (asserting "at once" failed when the machine was busy).
    for name in names:

        async def refused(client=getattr(services, name)) -> bool:
            response = await client.get("/v1/audit", headers=headers)
            return response.status_code == 401 and response.json()["detail"] == "token revoked"

        await wait_for(refused, timeout=5, what=f"{name} refusing the revoked token")


async def test_a_report_and_its_audit_entry_are_written_together(services: Services) -> None:
    body = report_body("小区里有棵树倒了挡住路", worker_index=31)
    accepted = await services.intake.post("/v1/reports", json=body, headers=as_worker(body["worker_id"]))
    assert accepted.status_code == 202, accepted.text
    case_id = accepted.json()["case_id"]
    again = await services.intake.post("/v1/reports", json=body, headers=as_worker(body["worker_id"]))
    assert again.status_code == 200
    entries = (await services.intake.get("/v1/audit", params={"case_id": case_id})).json()
    assert [(e["actor"], e["action"], e["status"]) for e in reversed(entries)] == [
        (f"worker:{body['worker_id']}", "POST /v1/reports", 202),
        (f"worker:{body['worker_id']}", "POST /v1/reports", 200),
    ]


async def test_a_worker_over_its_rate_is_told_when_to_come_back(services: Services) -> None:
    statuses = []
    for _ in range(5):
        response = await services.intake.post("/v1/reports", json=report_body("井盖松动", worker_index=21))
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1
    assert statuses[:3] == [202, 202, 202] and 429 in statuses[3:]


async def test_a_bad_or_foreign_token_is_401(services: Services) -> None:
    forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJKTi1XMDAwMSIsInJvbGUiOiJvcGVyYXRvciJ9."
    for token in ("garbage", forged):
        response = await services.router.get("/v1/stats", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401


async def test_text_postgresql_cannot_store_is_a_422_not_a_500(services: Services) -> None:
    community = {"community_id": new_id("JN-CT"), "name": "测试\x00社区", "street": "西华街道"}
    assert (await services.intake.post("/v1/registry/communities", json=community)).status_code == 422
    lone_surrogate = json.dumps(report_body("路灯\udb2a坏了", worker_index=31)).encode()  # escaped, as JSON allows
    posted = await services.intake.post(
        "/v1/reports", content=lone_surrogate, headers={"content-type": "application/json"}
    )
    assert posted.status_code == 422
    put = await services.router.put(
        "/v1/admission-list",
        params={"operator": "王\x00芳"},
        content=b"not a list",
        headers={"Content-Type": "text/tab-separated-values"},
    )
    assert put.status_code == 422, "the database refuses NUL in the audit row: the caller hears 422"
