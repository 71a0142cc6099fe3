"""Feedback (回访) on real Kafka and PostgreSQL: the one-time link, SMS replies, reopening to the department,
escalation past the limit, and closing unrated cases when the request falls due."""

from __future__ import annotations

import re
from datetime import time, timedelta

import pytest

from gridloop.servicekit.clock import ShiftedClock
from tests.support.notify_standins import NotifyStack, notify_stack
from tests.support.polling import wait_for
from tests.support.reports import own_phone, report_body

pytestmark = pytest.mark.integration

LINK = re.compile(r"/c/([\w-]+)\?t=([\w-]+)")


@pytest.fixture(scope="module")
async def stack(ns, tmp_path_factory):
    # Quiet hours off (an empty window), so these tests do not depend on the hour they run at. No poll within
    # the tests' time: every message here goes out because the consumer woke the delivery worker.
    async with notify_stack(
        ns,
        tmp_path_factory.mktemp("feedback"),
        clock=ShiftedClock(),
        delivery_poll_seconds=3600,
        feedback_reopen_limit=1,
        feedback_timeout_days=7,
        quiet_hours_start=time(0),
        quiet_hours_end=time(0),
    ) as running_stack:
        yield running_stack


async def resolved_case(stack: NotifyStack, phone: str) -> str:
    """Report, sign and resolve a case; return its id once the resolution SMS went out."""
    body = report_body("小区路灯坏了三盏，晚上黑黢黢的", item_hint="S02")
    body["resident"] = {**body["resident"], "phone": phone}
    case_id = (await stack.services.intake.post("/v1/reports", json=body)).json()["case_id"]
    departments = stack.services.departments

    async def dispatched() -> bool:
        return (await departments.get(f"/v1/work-items/{case_id}")).status_code == 200

    await wait_for(dispatched, what="work item")
    assert (await departments.post(f"/v1/work-items/{case_id}/sign", json={"handler": "王芳"})).status_code == 200
    await resolve(stack, case_id, "已更换路灯灯泡")
    await sms_containing(stack, phone, "已办结")
    return case_id


async def resolve(stack: NotifyStack, case_id: str, result: str) -> None:
    resolved = await stack.services.departments.post(f"/v1/work-items/{case_id}/resolve", json={"result": result})
    assert resolved.status_code == 200, resolved.text


async def sms_containing(stack: NotifyStack, phone: str, text: str, count: int = 1) -> list[str]:
    async def found() -> list[str]:
        contents = [r.content for r in stack.gateway.accepted(phone) if text in r.content]
        return contents if len(contents) >= count else []

    return await wait_for(found, what=f"{count} SMS containing {text!r}")


async def reply(stack: NotifyStack, phone: str, text: str) -> dict:
    answer = await stack.notify.post(
        "/v1/sms/inbound", json={"phone": phone, "text": text}, headers=stack.callback_headers()
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def work_item_status(stack: NotifyStack, case_id: str) -> str:
    return (await stack.services.departments.get(f"/v1/work-items/{case_id}")).json()["status"]


async def test_a_message_goes_out_when_its_step_is_written_not_at_the_next_poll(stack: NotifyStack) -> None:
    phone = own_phone("137")
    body = report_body("楼道里的消防栓玻璃碎了，小孩容易划伤", item_hint="S05")
    body["resident"] = {**body["resident"], "phone": phone}
    assert (await stack.services.intake.post("/v1/reports", json=body)).status_code == 202
    # The worker's next poll is an hour away: only the consumer's wake-up can send it within the 30 s wait.
    await sms_containing(stack, phone, "已受理")


async def test_rating_on_the_case_page_closes_the_case_and_the_token_works_once(stack: NotifyStack) -> None:
    phone = own_phone("137")
    await resolved_case(stack, phone)
    tracking, token = LINK.search((await sms_containing(stack, phone, "已办结"))[0]).groups()

    page = await stack.notify.get(f"/c/{tracking}?t={token}")
    assert page.status_code == 200 and "请对办理结果进行评价" in page.text and token in page.text
    assert phone not in page.text and f"{phone[:3]}****{phone[-4:]}" in page.text
    assert page.headers["cache-control"] == "no-store"

    form = {"token": token, "rating": "satisfied", "comment": "师傅很负责"}
    rated = await stack.notify.post(f"/c/{tracking}/feedback", data=form)
    assert rated.status_code == 303 and rated.headers["location"] == f"/c/{tracking}?done=1"
    assert "感谢您的评价" in (await stack.notify.get(rated.headers["location"])).text
    await sms_containing(stack, phone, "居民评价：满意")

    reused = await stack.notify.post(f"/c/{tracking}/feedback", data={**form, "rating": "dissatisfied"})
    assert reused.status_code == 410 and "只能使用一次" in reused.text
    forged = await stack.notify.post(f"/c/{tracking}/feedback", data={**form, "token": "not-a-token"})
    assert forged.status_code == 404 and "评价链接无效" in forged.text

    async def closed_on_page() -> str:
        text = (await stack.notify.get(f"/c/{tracking}")).text
        return text if "已结案" in text else ""

    final = await wait_for(closed_on_page, what="the page to show the case closed")
    assert "您的评价：满意" in final and "请对办理结果进行评价" not in final


async def test_sms_reply_3_reopens_the_case_then_escalates_past_the_limit(stack: NotifyStack) -> None:
    phone = own_phone("137")
    case_id = await resolved_case(stack, phone)
    first_deadline = (await stack.services.departments.get(f"/v1/work-items/{case_id}")).json()["resolve_deadline"]

    answer = await reply(stack, phone, "3 还是有一盏不亮")
    assert (answer["matched"], answer["rating"], answer["outcome"]) == (True, "dissatisfied", "reopened")
    reopened_sms = await sms_containing(stack, phone, "已重新交街道办事处办理")
    assert len(reopened_sms) == 1

    async def back_at_work() -> bool:
        return await work_item_status(stack, case_id) == "signed"

    await wait_for(back_at_work, what="the department's work item to be reopened")
    reopened_item = (await stack.services.departments.get(f"/v1/work-items/{case_id}")).json()
    assert reopened_item["resolve_deadline"] > first_deadline, "a reopened case gets a new resolution clock"
    await resolve(stack, case_id, "已更换全部三盏路灯")
    second = await sms_containing(stack, phone, "已办结", count=2)
    assert "已更换全部三盏路灯" in second[1]
    assert LINK.search(second[0]).group(2) != LINK.search(second[1]).group(2), "a new one-time token per round"

    answer = await reply(stack, phone, "不满意，晚上还是黑")
    assert answer["outcome"] == "escalated", "the reopen limit (1) was reached"
    tracking = LINK.search(second[1]).group(1)

    async def escalated_on_page() -> bool:
        return "已提请区级督办" in (await stack.notify.get(f"/c/{tracking}")).text

    await wait_for(escalated_on_page, what="the escalation on the case page")
    assert await work_item_status(stack, case_id) == "resolved", "an escalation does not reopen the work item"
    assert len(await sms_containing(stack, phone, "重新交")) == 1
    assert (await reply(stack, phone, "1"))["reason"] == "no_case_awaiting_feedback"


async def test_a_text_that_is_no_rating_changes_nothing(stack: NotifyStack) -> None:
    assert (await reply(stack, own_phone("137"), "请问什么时候来修"))["reason"] == "not_a_rating"
    unauthorised = await stack.notify.post("/v1/sms/inbound", json={"phone": own_phone("137"), "text": "1"})
    assert unauthorised.status_code == 401


async def test_an_unanswered_request_closes_the_case_as_not_rated(stack: NotifyStack) -> None:
    phone = own_phone("137")
    await resolved_case(stack, phone)
    stack.clock.advance(timedelta(days=7, hours=1))
    closing = await sms_containing(stack, phone, "已结案")
    assert "未评价" in closing[0]
    assert (await reply(stack, phone, "1"))["reason"] == "no_case_awaiting_feedback"
