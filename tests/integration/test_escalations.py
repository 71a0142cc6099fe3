"""Escalation reaches someone and every case can end: officials listed per department and rung are told when a
case reaches them (case, item, how late, link); a case escalated after repeated dissatisfaction waits in the
operators' queue, owned, and each way out (close, re-dispatch, arbitration then close) ends in a closed case."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

import pytest

from gridloop.contracts.events import CaseStatusChanged
from gridloop.contracts.topics import CASES_STATUS
from gridloop.delivery.kafka import Envelope, encode, make_producer
from gridloop.servicekit.clock import ShiftedClock
from tests.support.notify_standins import NotifyStack, notify_stack
from tests.support.polling import wait_for
from tests.support.reports import own_phone, report_body

pytestmark = pytest.mark.integration

SUPERVISOR_PHONE = "13700009001"
HEAD_EMAIL = "jiedao.fenguan@example.gov.cn"


@pytest.fixture(scope="module")
async def stack(private_ns, tmp_path_factory):
    async with notify_stack(
        private_ns,
        tmp_path_factory.mktemp("escalations"),
        clock=ShiftedClock(),
        feedback_reopen_limit=0,  # the first 不满意 escalates
        quiet_hours_start=time(0),
        quiet_hours_end=time(0),
        officials_poll_seconds=0.1,
    ) as running_stack:
        officials = [
            {
                "department": "*",
                "level": "district_supervisor",
                "name": "赵督办",
                "title": "区督办办主任",
                "phone": SUPERVISOR_PHONE,
            },
            {
                "department": "street_office",
                "level": "department_head",
                "name": "钱分管",
                "title": "街道分管副主任",
                "email": HEAD_EMAIL,
            },
        ]
        for official in officials:
            added = await running_stack.notify.post("/v1/officials", json=official)
            assert added.status_code == 201, added.text
        yield running_stack


async def escalated_case(stack: NotifyStack, worker_index: int) -> tuple[str, str, dict]:
    """Report, sign, resolve; the resident answers 3 (不满意): escalated. Returns case, phone, queue entry."""
    phone = own_phone("135")
    # 绿化管护 (S10): an item no other test here reports, so no case of another module is within 100 m
    body = report_body(
        "小区中心花园的灌木好久没修剪了，树枝都长到人行道上挡路", item_hint="S10", worker_index=worker_index
    )
    body["resident"] = {**body["resident"], "phone": phone}
    case_id = (await stack.services.intake.post("/v1/reports", json=body)).json()["case_id"]
    await work_and_resolve(stack, case_id, sign=True)
    await sms_to(stack, phone, "已办结")
    answer = await stack.notify.post(
        "/v1/sms/inbound", json={"phone": phone, "text": "3 还是没剪"}, headers=stack.callback_headers()
    )
    assert answer.json()["outcome"] == "escalated", answer.text

    async def queued() -> dict | None:
        queue = (await stack.notify.get("/v1/escalations")).json()
        return next((e for e in queue if e["case_id"] == case_id), None)

    return case_id, phone, await wait_for(queued, what="the case in the escalation queue")


async def work_and_resolve(stack: NotifyStack, case_id: str, *, sign: bool) -> None:
    departments = stack.services.departments

    async def ready() -> bool:
        item = await departments.get(f"/v1/work-items/{case_id}")
        return item.status_code == 200 and item.json()["status"] in ("dispatched", "signed")

    await wait_for(ready, what="work item to work on")
    if sign:
        assert (await departments.post(f"/v1/work-items/{case_id}/sign", json={"handler": "王芳"})).status_code == 200
    resolved = await departments.post(f"/v1/work-items/{case_id}/resolve", json={"result": "已安排园林工人修剪"})
    assert resolved.status_code == 200, resolved.text


async def sms_to(stack: NotifyStack, phone: str, text: str, count: int = 1) -> list[str]:
    async def found() -> list[str]:
        contents = [r.content for r in stack.gateway.accepted(phone) if text in r.content]
        return contents if len(contents) >= count else []

    return await wait_for(found, what=f"SMS containing {text!r} to {phone}")


async def closed(stack: NotifyStack, case_id: str) -> None:
    async def is_closed() -> bool:
        case = (await stack.services.intake.get(f"/v1/cases/{case_id}")).json()
        return case["status"] == "closed"

    await wait_for(is_closed, what="the case closed")


async def decide(stack: NotifyStack, escalation_id: int, decision: str, note: str = "") -> dict:
    answer = await stack.notify.post(
        f"/v1/escalations/{escalation_id}/decision", json={"decision": decision, "note": note}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_an_escalated_case_is_owned_told_to_the_district_and_closed_with_a_note(stack: NotifyStack) -> None:
    case_id, phone, entry = await escalated_case(stack, worker_index=80)
    assert entry["owner"] == "赵督办" and entry["state"] == "open" and entry["comment"] == "还是没剪"
    told = await sms_to(stack, SUPERVISOR_PHONE, entry["case_id"].replace("-", "")[:10].upper())
    assert "居民多次评价不满意" in told[0] and f"/v1/work-items/{case_id}" in told[0]

    decided = await decide(stack, entry["id"], "close", "经区督办办核实，灌木已修剪，居民诉求已答复")
    assert decided["state"] == "closed"
    await closed(stack, case_id)
    await sms_to(stack, phone, "已结案")
    assert case_id not in [e["case_id"] for e in (await stack.notify.get("/v1/escalations")).json()]
    again = await stack.notify.post(f"/v1/escalations/{entry['id']}/decision", json={"decision": "close"})
    assert again.status_code == 409


async def test_a_redispatched_case_is_worked_again_and_closes_when_the_resident_is_satisfied(
    stack: NotifyStack,
) -> None:
    case_id, phone, entry = await escalated_case(stack, worker_index=82)
    assert (await decide(stack, entry["id"], "redispatch", "请街道办重新核查绿化修剪"))["state"] == "redispatched"
    await sms_to(stack, phone, "重新交")  # the resident hears the case went back to the department
    await work_and_resolve(stack, case_id, sign=False)  # still signed: the assignee resolves it again
    await sms_to(stack, phone, "已办结", count=2)
    answer = await stack.notify.post(
        "/v1/sms/inbound", json={"phone": phone, "text": "1"}, headers=stack.callback_headers()
    )
    assert answer.json()["outcome"] == "closed"
    await closed(stack, case_id)


async def test_arbitration_keeps_the_case_in_the_queue_until_it_is_closed(stack: NotifyStack) -> None:
    case_id, _, entry = await escalated_case(stack, worker_index=79)
    assert (await decide(stack, entry["id"], "arbitration", "提交区矛盾纠纷调处中心仲裁"))["state"] == "arbitration"
    queue = (await stack.notify.get("/v1/escalations")).json()
    assert next(e for e in queue if e["id"] == entry["id"])["state"] == "arbitration"
    twice = await stack.notify.post(f"/v1/escalations/{entry['id']}/decision", json={"decision": "arbitration"})
    assert twice.status_code == 409
    await decide(stack, entry["id"], "close", "仲裁结论：维持原办理结果")
    await closed(stack, case_id)


async def test_an_sla_escalation_tells_the_officials_of_that_rung_how_late_the_case_is(
    stack: NotifyStack, private_ns
) -> None:
    case_id = uuid.uuid4()
    deadline = datetime.now(UTC) - timedelta(hours=3, minutes=20)
    common = {"case_id": case_id, "actor": "sla", "department": "street_office", "item_code": "S02"}
    breached = CaseStatusChanged(
        **common,
        status="sla_breached",
        at=datetime.now(UTC),
        note="办结已超时",
        detail={"clock": "resolve", "level": "handler", "deadline": deadline.isoformat()},
    )
    escalated = CaseStatusChanged(
        **common,
        status="escalated",
        at=datetime.now(UTC),
        note="办结超时，升级至部门负责人督办",
        detail={
            "clock": "resolve",
            "level": "department_head",
            "from_level": "handler",
            "deadline": (datetime.now(UTC) + timedelta(hours=12)).isoformat(),
        },
    )
    producer = make_producer(private_ns.kafka(), "test-escalation")
    await producer.start()
    try:
        for event in (breached, escalated, escalated):  # the escalation delivered twice: told once
            headers, key, value = encode(
                Envelope.wrap(event, event_id=uuid.uuid5(case_id, event.status), source="/test")
            )
            await producer.send_and_wait(private_ns.kafka().topic(CASES_STATUS), value, key=key, headers=headers)
    finally:
        await producer.stop()

    async def told() -> list[dict]:
        messages = (await stack.notify.get(f"/v1/cases/{case_id}/official-messages")).json()
        return messages if messages and messages[0]["state"] == "sent" else []

    messages = await told() or await wait_for(told, what="the department head told")
    assert len(messages) == 1 and messages[0]["channel"] == "email" and messages[0]["level"] == "department_head"
    body = messages[0]["body"]
    assert "办结超时3小时20分钟" in body and "分管领导" in body and f"/v1/work-items/{case_id}" in body
    mail = [m for m in stack.smtp.to(HEAD_EMAIL) if str(case_id).replace("-", "")[:10].upper() in m.body]
    assert len(mail) == 1


async def test_an_escalation_no_official_is_listed_for_counts_as_without_an_owner(
    stack: NotifyStack, private_ns
) -> None:
    before = (await stack.notify.get("/v1/escalations/stats")).json()
    case_id = uuid.uuid4()
    escalated = CaseStatusChanged(
        case_id=case_id,
        actor="sla",
        department="police",  # nobody listed for the police's department head
        item_code="P02",
        status="escalated",
        at=datetime.now(UTC),
        note="签收超时，升级至部门负责人督办",
        detail={"clock": "sign", "level": "department_head", "from_level": "handler"},
    )
    producer = make_producer(private_ns.kafka(), "test-unlisted")
    await producer.start()
    try:
        headers, key, value = encode(Envelope.wrap(escalated, event_id=uuid.uuid4(), source="/test"))
        await producer.send_and_wait(private_ns.kafka().topic(CASES_STATUS), value, key=key, headers=headers)
    finally:
        await producer.stop()

    async def counted() -> bool:
        return (await stack.notify.get("/v1/escalations/stats")).json()["without_owner"] == before["without_owner"] + 1

    await wait_for(counted, what="the unowned escalation counted")
