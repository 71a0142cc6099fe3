"""A case's SMS through each provider's stand-in (signature checked), on real Kafka and PostgreSQL, and the
provider's callbacks in its own format: delivery receipts by the provider's message id, a resident's 1/2/3 reply
rating the case once, callbacks without the token refused."""

from __future__ import annotations

import time as wall
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import time
from typing import Any

import pytest

from gridloop.servicekit.clock import ShiftedClock
from services.notify.settings import NotifySettings
from services.notify.sms_templates import SmsTemplateTable
from tests.support.notify_standins import NotifyStack, notify_stack, serving
from tests.support.polling import wait_for
from tests.support.reports import own_phone, report_body
from tests.support.sms_provider_standins import AliyunStandIn, SentSms, TencentStandIn

pytestmark = pytest.mark.integration


@dataclass
class ProviderStack:
    provider: str
    stack: NotifyStack
    standin: AliyunStandIn | TencentStandIn

    async def sms(self, phone: str, template_code: str) -> SentSms:
        async def found() -> SentSms | None:
            return next((s for s in self.standin.to(phone) if s.template_code == template_code), None)

        return await wait_for(found, what=f"{self.provider} SMS {template_code} to {phone}")

    def code(self, step: str) -> str:
        return self.standin.table.template(self.provider, step).code  # type: ignore[arg-type]

    def receipt(self, sms: SentSms, *, delivered: bool) -> tuple[str, Any]:
        if self.provider == "aliyun":
            body = [
                {
                    "phone_number": sms.phone,
                    "send_time": "2026-12-08 10:00:00",
                    "report_time": "2026-12-08 10:00:05",
                    "success": delivered,
                    "err_code": "DELIVERED" if delivered else "MK:0001",
                    "err_msg": "用户接收成功" if delivered else "空号",
                    "sms_size": "1",
                    "biz_id": sms.message_id,
                    "out_id": sms.context,
                }
            ]
            return "/v1/sms/aliyun/report", body
        body = [
            {
                "user_receive_time": "2026-12-08 10:00:05",
                "nationcode": "86",
                "mobile": sms.phone,
                "report_status": "SUCCESS" if delivered else "FAIL",
                "errmsg": "DELIVRD" if delivered else "MK:0001",
                "description": "用户短信送达成功" if delivered else "空号",
                "sid": sms.message_id,
            }
        ]
        return "/v1/sms/tencent/status", body

    def reply(self, phone: str, text: str, sequence: int) -> tuple[str, Any]:
        if self.provider == "aliyun":
            body = [
                {
                    "phone_number": phone,
                    "send_time": "2026-12-08 10:05:00",
                    "content": text,
                    "sign_name": "金牛网格",
                    "dest_code": "1234",
                    "sequence_id": sequence,
                }
            ]
            return "/v1/sms/aliyun/up", body
        body = {"extend": "", "mobile": phone, "nationcode": "86", "sign": "金牛网格", "text": text, "time": sequence}
        return "/v1/sms/tencent/reply", body

    async def post(self, path: str, body: Any, *, token: str | None = "test-callback-token") -> Any:
        params = {"token": token} if token else {}
        return await self.stack.notify.post(path, json=body, params=params)


@pytest.fixture(scope="module", params=["aliyun", "tencent"])
async def provider(request, ns, tmp_path_factory) -> AsyncIterator[ProviderStack]:
    name = request.param
    table = SmsTemplateTable.load(NotifySettings().sms_templates_path, public_base_url="http://127.0.0.1:8004")
    standin: AliyunStandIn | TencentStandIn = AliyunStandIn(table) if name == "aliyun" else TencentStandIn(table)
    async with serving(standin.app) as url:
        endpoint = url.removeprefix("http://")
        credentials = (
            {
                "aliyun_access_key_id": standin.access_key_id,
                "aliyun_access_key_secret": standin.access_key_secret,
                "aliyun_endpoint": endpoint,
                "aliyun_protocol": "http",
            }
            if isinstance(standin, AliyunStandIn)
            else {
                "tencent_secret_id": standin.secret_id,
                "tencent_secret_key": standin.secret_key,
                "tencent_sdk_app_id": standin.sdk_app_id,
                "tencent_endpoint": endpoint,
                "tencent_protocol": "http",
            }
        )
        async with notify_stack(
            ns,
            tmp_path_factory.mktemp(f"sms-{name}"),
            clock=ShiftedClock(),
            sms_provider=name,
            sms_per_number_limits=(),  # the provider's per-number limits are tested on the adapter
            quiet_hours_start=time(0),
            quiet_hours_end=time(0),
            feedback_reopen_limit=2,
            **credentials,
        ) as stack:
            yield ProviderStack(name, stack, standin)


# Each provider's cases have their own item: the reserved grids are near each other, and an open case of the same
# item within 100 m would be linked as a duplicate.
REPORTS = {"aliyun": ("小区东门路灯坏了两盏", "S02"), "tencent": ("小区门口的路面塌了一个大坑，车过很危险", "S01")}


async def resolved_case(p: ProviderStack, phone: str, worker_index: int) -> str:
    description, item = REPORTS[p.provider]
    body = report_body(description, item_hint=item, worker_index=worker_index)
    body["resident"] = {**body["resident"], "phone": phone}
    case_id = (await p.stack.services.intake.post("/v1/reports", json=body)).json()["case_id"]
    departments = p.stack.services.departments

    async def dispatched() -> bool:
        return (await departments.get(f"/v1/work-items/{case_id}")).status_code == 200

    await wait_for(dispatched, what="work item")
    assert (await departments.post(f"/v1/work-items/{case_id}/sign", json={"handler": "王芳"})).status_code == 200
    resolved = await departments.post(f"/v1/work-items/{case_id}/resolve", json={"result": "已处理完毕"})
    assert resolved.status_code == 200, resolved.text
    await p.sms(phone, p.code("resolved"))
    return case_id


async def message_state(p: ProviderStack, case_id: str, step: str) -> dict:
    messages = (await p.stack.notify.get(f"/v1/cases/{case_id}/messages")).json()
    return next(m for m in messages if m["step"] == step)


async def test_receipts_in_the_provider_format_mark_the_message_by_its_provider_id(provider: ProviderStack) -> None:
    phone = own_phone("136")
    case_id = await resolved_case(provider, phone, worker_index=67 if provider.provider == "aliyun" else 68)
    received = await provider.sms(phone, provider.code("received"))
    assert (await message_state(provider, case_id, "received"))["provider_message_id"] == received.message_id

    path, body = provider.receipt(received, delivered=True)
    for _ in range(2):  # a repeated callback changes nothing
        answer = await provider.post(path, body)
        assert answer.status_code == 200
        assert answer.json() == (
            {"code": 0, "msg": "接收成功"} if provider.provider == "aliyun" else {"result": 0, "errmsg": "OK"}
        )
    assert (await message_state(provider, case_id, "received"))["state"] == "delivered"

    signed = await provider.sms(phone, provider.code("signed"))
    path, body = provider.receipt(signed, delivered=False)
    assert (await provider.post(path, body)).status_code == 200
    failed = await message_state(provider, case_id, "signed")
    assert failed["state"] == "undeliverable" and "MK:0001" in failed["last_error"]


async def test_callbacks_without_the_token_are_refused(provider: ProviderStack) -> None:
    phone = own_phone("136")
    case_id = await resolved_case(provider, phone, worker_index=69 if provider.provider == "aliyun" else 70)
    received = await provider.sms(phone, provider.code("received"))
    path, body = provider.receipt(received, delivered=False)
    assert (await provider.post(path, body, token=None)).status_code == 401
    assert (await provider.post(path, body, token="guessed")).status_code == 401
    path, body = provider.reply(phone, "1", int(wall.time() * 1000))
    assert (await provider.post(path, body, token="guessed")).status_code == 401
    assert (await message_state(provider, case_id, "received"))["state"] == "sent"
    assert (await provider.stack.services.departments.get(f"/v1/work-items/{case_id}")).json()["status"] == "resolved"


async def test_a_reply_rates_the_case_once_even_when_the_callback_repeats(provider: ProviderStack) -> None:
    phone = own_phone("136")
    case_id = await resolved_case(provider, phone, worker_index=72 if provider.provider == "aliyun" else 73)
    path, body = provider.reply(phone, "3 还是没弄好", int(wall.time() * 1000))
    for _ in range(2):
        assert (await provider.post(path, body)).status_code == 200

    async def reopened() -> bool:
        item = (await provider.stack.services.departments.get(f"/v1/work-items/{case_id}")).json()
        return item["status"] == "signed"

    await wait_for(reopened, what="the case reopened to the department")
    await provider.sms(phone, provider.code("reopened"))
    steps = [m["step"] for m in (await provider.stack.notify.get(f"/v1/cases/{case_id}/messages")).json()]
    assert steps.count("reopened") == 1  # the repeated callback did not rate again
