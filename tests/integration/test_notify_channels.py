"""Notify's channels against real stand-ins: an HTTP SMS gateway and an SMTP server on loopback, a webhook
receiver, real Kafka and PostgreSQL. Every assertion is about what the stand-ins actually received."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import REGISTRY
from standardwebhooks.webhooks import Webhook

from gridloop.contracts.events import CaseStatusChanged
from gridloop.contracts.topics import CASES_STATUS
from gridloop.delivery.kafka import Envelope, encode, make_producer
from gridloop.servicekit.clock import ShiftedClock
from services.departments.handlers import step_event_id
from tests.support.notify_standins import WEBHOOK_SECRET, NotifyStack, notify_stack
from tests.support.polling import wait_for
from tests.support.reports import own_phone, report_body

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")


def next_local(at: time, after: datetime) -> datetime:
    """The next moment it is `at` o'clock in Chengdu after `after`."""
    local = after.astimezone(SHANGHAI)
    candidate = datetime.combine(local.date(), at, tzinfo=SHANGHAI)
    return candidate if candidate > local else candidate + timedelta(days=1)


@pytest.fixture(scope="module")
async def stack(ns, tmp_path_factory):
    # Daytime in Chengdu whenever the suite runs, so only the quiet-hours test meets the night.
    clock = ShiftedClock(start=next_local(time(10), datetime.now(UTC)))
    async with notify_stack(ns, tmp_path_factory.mktemp("notify"), clock=clock) as running_stack:
        yield running_stack


TRACKING_TOKENS: dict[str, str] = {}


async def report(stack: NotifyStack, phone: str, **resident: object) -> str:
    body = report_body("3栋门口的垃圾桶满得冒出来了，好几天没人清运", item_hint="S03")
    body["resident"] = {**body["resident"], "phone": phone, **resident}
    accepted = await stack.services.intake.post("/v1/reports", json=body)
    assert accepted.status_code == 202, accepted.text
    TRACKING_TOKENS[accepted.json()["case_id"]] = accepted.json()["tracking_token"]
    return accepted.json()["case_id"]


async def messages(stack: NotifyStack, case_id: str) -> list[dict]:
    return (await stack.notify.get(f"/v1/cases/{case_id}/messages")).json()


async def message_in(stack: NotifyStack, case_id: str, step: str, states: set[str]) -> dict | None:
    return next((m for m in await messages(stack, case_id) if m["step"] == step and m["state"] in states), None)


async def work_through(stack: NotifyStack, case_id: str) -> None:
    departments = stack.services.departments

    async def dispatched() -> bool:
        return (await departments.get(f"/v1/work-items/{case_id}")).status_code == 200

    await wait_for(dispatched, what="work item")
    assert (await departments.post(f"/v1/work-items/{case_id}/sign", json={"handler": "李建国"})).status_code == 200
    resolved = await departments.post(f"/v1/work-items/{case_id}/resolve", json={"result": "已安排环卫车辆清运"})
    assert resolved.status_code == 200, resolved.text


async def test_a_full_case_lifecycle_sends_each_sms_exactly_once(stack: NotifyStack) -> None:
    phone = own_phone()
    case_id = await report(stack, phone)
    await work_through(stack, case_id)
    await wait_for(lambda: message_in(stack, case_id, "resolved", {"sent"}), what="resolution SMS")

    reply = await stack.notify.post(
        "/v1/sms/inbound", json={"phone": phone, "text": "1 处理得很快"}, headers=stack.callback_headers()
    )
    assert reply.json() == {"matched": True, "rating": "satisfied", "outcome": "closed", "reason": None}
    await wait_for(lambda: message_in(stack, case_id, "closed", {"sent"}), what="closing SMS")

    sent = await messages(stack, case_id)
    assert [m["step"] for m in sent] == ["received", "forwarded", "signed", "resolved", "closed"]
    accepted = stack.gateway.accepted(phone)
    assert len(accepted) == 5, [r.content for r in accepted]
    assert len({r.key for r in accepted}) == 5, "each message reaches the gateway once"
    assert [r.content for r in accepted] == [m["body"] for m in sent]
    assert "街道办事处" in accepted[1].content and "已安排环卫车辆清运" in accepted[3].content
    assert "回复1满意，2基本满意，3不满意" in accepted[3].content and "居民评价：满意" in accepted[4].content

    receipts = [{"message_id": r.message_id, "status": "delivered"} for r in accepted]
    answered = await stack.notify.post("/v1/sms/receipts", json=receipts, headers=stack.callback_headers())
    assert answered.json() == {"updated": 5, "unknown": 0}
    assert {m["state"] for m in await messages(stack, case_id)} == {"delivered"}


async def test_a_redelivered_status_event_sends_nothing_twice(stack: NotifyStack, ns) -> None:
    phone = own_phone()
    case_id = await report(stack, phone)
    await work_through(stack, case_id)
    resolved = await wait_for(lambda: message_in(stack, case_id, "resolved", {"sent"}), what="resolution SMS")

    # The departments' resolved event arrives again (a producer retry, a replay): same id, same content.
    again = CaseStatusChanged(
        case_id=uuid.UUID(case_id), status="resolved", at=datetime.now(UTC), actor="李建国", department="street_office"
    )
    marker = CaseStatusChanged(
        case_id=uuid.UUID(case_id), status="in_progress", at=datetime.now(UTC), actor="test", note=f"marker {phone}"
    )
    producer = make_producer(ns.kafka(), "test-redelivery")
    await producer.start()
    try:
        for event, event_id in ((again, step_event_id(uuid.UUID(case_id), 1, "resolved")), (marker, uuid.uuid4())):
            headers, key, value = encode(Envelope.wrap(event, event_id=event_id, source="/test"))
            await producer.send_and_wait(ns.kafka().topic(CASES_STATUS), value, key=key, headers=headers)
    finally:
        await producer.stop()

    async def marker_seen() -> bool:  # same key, same partition: the repeat was handled before the marker
        page = await stack.notify.get(f"/c/{TRACKING_TOKENS[case_id]}")
        return f"marker {phone[:3]}****{phone[-4:]}" in page.text

    await wait_for(marker_seen, what="the marker after the repeated event")
    assert [m["step"] for m in await messages(stack, case_id)].count("resolved") == 1
    assert [r.key for r in stack.gateway.accepted(phone)].count(resolved["idempotency_key"]) == 1


async def test_gateway_errors_are_retried_until_the_sms_is_accepted_once(stack: NotifyStack) -> None:
    stack.gateway.fail_next(500, 502, 503)
    phone = own_phone()
    case_id = await report(stack, phone)
    await wait_for(lambda: message_in(stack, case_id, "forwarded", {"sent"}), what="SMS sent after retries")
    received = await wait_for(lambda: message_in(stack, case_id, "received", {"sent"}), what="first SMS")

    requests = stack.gateway.to(phone)
    assert sorted(r.status for r in requests if r.status != 200) == [500, 502, 503]
    assert received["attempts"] + (await message_in(stack, case_id, "forwarded", {"sent"}))["attempts"] == 5
    keys = [r.key for r in requests if r.status == 200]
    assert len(keys) == len(set(keys)) == 2, "retries reuse the idempotency key; each message is accepted once"


async def test_a_refused_sms_is_recorded_as_failed_and_counted(stack: NotifyStack) -> None:
    failed_before = REGISTRY.get_sample_value("gridloop_notifications_total", {"channel": "sms", "outcome": "failed"})
    stack.gateway.fail_next(400)
    phone = own_phone()
    case_id = await report(stack, phone)
    failed = await wait_for(lambda: message_in(stack, case_id, "received", {"failed"}), what="permanent failure")
    assert "400" in failed["last_error"] and failed["attempts"] == 1
    assert [r.status for r in stack.gateway.to(phone)].count(400) == 1, "a permanent failure is not retried"
    failed_after = REGISTRY.get_sample_value("gridloop_notifications_total", {"channel": "sms", "outcome": "failed"})
    assert failed_after == (failed_before or 0) + 1


async def test_an_undeliverable_receipt_is_recorded(stack: NotifyStack) -> None:
    phone = own_phone()
    case_id = await report(stack, phone)
    await wait_for(lambda: message_in(stack, case_id, "received", {"sent"}), what="first SMS")
    gateway_id = stack.gateway.accepted(phone)[0].message_id
    receipt = [{"message_id": gateway_id, "status": "undeliverable", "error_code": "MK:0001"}]
    assert (await stack.notify.post("/v1/sms/receipts", json=receipt)).status_code == 401, "only the gateway may"
    answered = await stack.notify.post("/v1/sms/receipts", json=receipt, headers=stack.callback_headers())
    assert answered.json() == {"updated": 1, "unknown": 0}
    message = await message_in(stack, case_id, "received", {"undeliverable"})
    assert message is not None and "MK:0001" in message["last_error"]


async def test_a_resident_without_consent_gets_no_message(stack: NotifyStack) -> None:
    phone = own_phone()
    case_id = await report(stack, phone, notify_consent=False)
    await wait_for(lambda: message_in(stack, case_id, "forwarded", {"skipped"}), what="forwarded step recorded")
    assert {m["state"] for m in await messages(stack, case_id)} == {"skipped"}
    assert stack.gateway.to(phone) == []


async def test_e_mail_goes_through_smtp_once_per_step(stack: NotifyStack) -> None:
    phone, address = own_phone(), f"resident-{uuid.uuid4().hex[:8]}@example.com"
    case_id = await report(stack, phone, channel="email", email=address)
    await wait_for(lambda: message_in(stack, case_id, "forwarded", {"sent"}), what="e-mails sent")
    mails = stack.smtp.to(address)
    assert len(mails) == 2 and len({m.message_id for m in mails}) == 2
    assert mails[0].subject == "【金牛网格】您反映问题的办理进度"
    assert "已受理" in mails[0].body and "街道办事处" in mails[1].body
    assert stack.gateway.to(phone) == [], "the resident chose e-mail, not SMS"


async def test_webhooks_are_signed_per_standard_webhooks(stack: NotifyStack) -> None:
    name = uuid.uuid4().hex[:8]
    case_id = await report(stack, own_phone(), channel="webhook", webhook_url=f"{stack.gateway_url}/hooks/{name}")
    await wait_for(lambda: message_in(stack, case_id, "forwarded", {"sent"}), what="webhooks sent")
    hooks = [h for h in stack.gateway.webhooks if h.name == name]
    assert len(hooks) == 2
    for hook in hooks:
        payload = Webhook(WEBHOOK_SECRET).verify(hook.body, hook.headers)
        assert payload["data"]["case_id"] == case_id
        assert hook.headers["webhook-signature"].startswith("v1,")
    assert [Webhook(WEBHOOK_SECRET).verify(h.body, h.headers)["data"]["step"] for h in hooks] == [
        "received",
        "forwarded",
    ]


async def test_quiet_hours_hold_sms_until_the_morning(stack: NotifyStack) -> None:
    night = next_local(time(23), stack.clock.now())
    morning = next_local(time(8), night)
    stack.clock.set(night)
    phone = own_phone()
    case_id = await report(stack, phone)
    held = await wait_for(lambda: message_in(stack, case_id, "forwarded", {"held"}), what="SMS held overnight")
    assert datetime.fromisoformat(held["next_attempt_at"]) == morning
    assert stack.gateway.to(phone) == [], "nothing reaches a phone at night"

    stack.clock.set(morning + timedelta(minutes=1))
    await wait_for(lambda: message_in(stack, case_id, "forwarded", {"sent"}), what="SMS sent in the morning")
    assert len(stack.gateway.accepted(phone)) == 2
