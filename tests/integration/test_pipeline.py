"""A report travels the whole path on real Kafka and PostgreSQL: intake -> router -> department -> notify."""

from __future__ import annotations

import pytest

from tests.support.apps import Services, build_apps, running
from tests.support.polling import wait_for
from tests.support.reports import report_body

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def services(ns, tmp_path_factory):
    apps = build_apps(ns, notify_log=tmp_path_factory.mktemp("notify") / "messages.jsonl")
    async with running(apps) as running_services:
        yield running_services


async def _decision(services: Services, case_id: str) -> dict | None:
    response = await services.router.get(f"/v1/decisions/{case_id}")
    return response.json() if response.status_code == 200 else None


async def _work_item(services: Services, case_id: str) -> dict | None:
    response = await services.departments.get(f"/v1/work-items/{case_id}")
    return response.json() if response.status_code == 200 else None


async def _messages(services: Services, case_id: str) -> list[dict]:
    return (await services.notify.get(f"/v1/cases/{case_id}/messages")).json()


async def _sent_steps(services: Services, case_id: str) -> set[str]:
    return {m["step"] for m in await _messages(services, case_id) if m["state"] == "sent"}


async def test_report_is_routed_worked_and_the_resident_hears_each_step(services: Services) -> None:
    body = report_body("3栋门口的垃圾桶满得冒出来了，好几天没人清运，臭得很，居民意见大", item_hint="S03")
    accepted = await services.intake.post("/v1/reports", json=body)
    assert accepted.status_code == 202, accepted.text
    case_id = accepted.json()["case_id"]

    decision = await wait_for(lambda: _decision(services, case_id), what="routing decision")
    assert (decision["outcome"], decision["item_code"], decision["department"]) == ("admitted", "S03", "street_office")

    item = await wait_for(lambda: _work_item(services, case_id), what="work item")
    assert item["department"] == "street_office" and item["status"] == "dispatched"
    assert item["resident_phone_masked"] == "138****5678"

    signed = await services.departments.post(f"/v1/work-items/{case_id}/sign", json={"handler": "李建国"})
    assert signed.status_code == 200 and signed.json()["status"] == "signed"
    resolved = await services.departments.post(
        f"/v1/work-items/{case_id}/resolve", json={"result": "已安排环卫车辆清运并增加清运频次"}
    )
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"

    async def all_steps_sent() -> set[str]:
        steps = await _sent_steps(services, case_id)
        return steps if steps >= {"received", "forwarded", "signed", "resolved"} else set()

    await wait_for(all_steps_sent, what="resident messages for every visible step")
    messages = {m["step"]: m for m in await _messages(services, case_id)}
    assert "街道办事处" in messages["forwarded"]["body"]
    assert "已安排环卫车辆清运" in messages["resolved"]["body"]
    assert len(await _messages(services, case_id)) == 4, "one message per visible step"

    async def timeline_complete() -> list[str]:
        view = (await services.intake.get(f"/v1/cases/{case_id}")).json()
        statuses = [step["status"] for step in view["timeline"]]
        return statuses if view["status"] == "resolved" and len(statuses) == 4 else []

    statuses = await wait_for(timeline_complete, what="timeline to show the resolution")
    assert statuses == ["received", "forwarded", "signed", "resolved"]


async def test_posting_the_same_client_report_id_twice_yields_one_case(services: Services) -> None:
    body = report_body("小区路灯坏了三盏，晚上黑黢黢的，老年人走路怕摔", item_hint="S02")
    first = await services.intake.post("/v1/reports", json=body)
    second = await services.intake.post("/v1/reports", json=body)
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["case_id"] == second.json()["case_id"]
    assert first.json()["tracking_token"] == second.json()["tracking_token"]
    case_id = first.json()["case_id"]
    await wait_for(lambda: _work_item(services, case_id), what="work item")
    await wait_for(lambda: _sent_steps(services, case_id), what="first message")
    view = (await services.intake.get(f"/v1/cases/{case_id}")).json()
    assert [s["status"] for s in view["timeline"]].count("received") == 1


async def test_case_not_on_the_admission_list_is_not_forwarded(services: Services) -> None:
    body = report_body("居民王大爷要社区给他开一张无犯罪记录证明，说是单位招聘要用")
    case_id = (await services.intake.post("/v1/reports", json=body)).json()["case_id"]
    decision = await wait_for(lambda: _decision(services, case_id), what="routing decision")
    assert decision["outcome"] == "not_admitted" and decision["department"] is None
    await wait_for(lambda: _sent_steps(services, case_id), what="resident told it is not admitted")
    assert await _work_item(services, case_id) is None
    assert {m["step"] for m in await _messages(services, case_id)} == {"received", "not_admitted"}


async def test_department_cannot_resolve_before_signing(services: Services) -> None:
    body = report_body("楼道里堆满了纸箱和旧家具，消防通道被堵死了", item_hint="S11")
    case_id = (await services.intake.post("/v1/reports", json=body)).json()["case_id"]
    await wait_for(lambda: _work_item(services, case_id), what="work item")
    early = await services.departments.post(f"/v1/work-items/{case_id}/resolve", json={"result": "已清理"})
    assert early.status_code == 409
    assert "dispatched" in early.json()["detail"]


async def test_resident_without_consent_gets_no_message(services: Services) -> None:
    body = report_body("路灯不亮好几天了", item_hint="S02")
    body["resident"] = {**body["resident"], "notify_consent": False}
    case_id = (await services.intake.post("/v1/reports", json=body)).json()["case_id"]

    async def recorded() -> list[dict]:
        return [m for m in await _messages(services, case_id) if m["step"] == "forwarded"]

    await wait_for(recorded, what="forwarded step recorded")
    assert {m["state"] for m in await _messages(services, case_id)} == {"skipped"}


async def test_router_keeps_the_residents_contact_encrypted_at_rest(services: Services) -> None:
    import json

    import sqlalchemy as sa

    from services.router.tables import cases

    body = report_body("小区门口的井盖不见了，晚上路过的人容易掉进去", item_hint="S09")
    body["resident"] = {**body["resident"], "name": "欧阳秀芳", "phone": "13987654321"}
    case_id = (await services.intake.post("/v1/reports", json=body)).json()["case_id"]
    await wait_for(lambda: _decision(services, case_id), what="routing decision")
    async with services.apps["router"].state.runtime.db.engine.connect() as conn:
        stored = await conn.scalar(sa.select(cases.c.reported).where(cases.c.case_id == case_id))
    text = json.dumps(stored, ensure_ascii=False)
    assert "13987654321" not in text and "欧阳秀芳" not in text
    assert "井盖" in text, "the rest of the report stays readable for re-routing"


async def test_the_residents_contact_crosses_kafka_sealed(services: Services, ns) -> None:
    from aiokafka import AIOKafkaConsumer

    from gridloop.contracts.topics import CASES_REPORTED
    from gridloop.delivery.kafka import decode

    body = report_body("5栋楼下的垃圾桶满得冒出来了，好几天没人清运，臭得很", item_hint="S03")
    body["resident"] = {**body["resident"], "name": "司马明月", "phone": "13712345678"}
    case_id = (await services.intake.post("/v1/reports", json=body)).json()["case_id"]
    consumer = AIOKafkaConsumer(
        ns.kafka().topic(CASES_REPORTED), bootstrap_servers=ns.bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:

        async def record():
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for found in records:
                    if found.key.decode() == case_id:
                        return found
            return None

        reported = await wait_for(record, what="the case's record on cases.reported")
    finally:
        await consumer.stop()
    assert b"13712345678" not in reported.value and "司马明月".encode() not in reported.value
    _, event = decode(reported.headers, reported.key, reported.value)
    assert event.resident is None
    contact = event.contact(services.apps["notify"].state.runtime.cipher.open)  # the residents' key opens it
    assert (contact.name, contact.phone) == ("司马明月", "13712345678")
    # Departments still get it masked, and the resident is still told.
    item = await wait_for(lambda: _work_item(services, case_id), what="work item")
    assert "13712345678" not in str(item) and "5678" in str(item["reporters"])
    await wait_for(lambda: _sent_steps(services, case_id), what="a message to the resident")
