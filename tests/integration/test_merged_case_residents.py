"""A resident whose case was merged into another (已并案), end to end on real Kafka and PostgreSQL: intake, router,
departments and notify in-process. The second resident is told 已并案 with the first case's progress, and the
department's progress note and resolution, taken on the first case only, reach the second resident's case page and
phone."""

from __future__ import annotations

import re
import uuid
from datetime import time

import pytest

from gridloop.servicekit.clock import ShiftedClock
from tests.support.notify_standins import NotifyStack, notify_stack
from tests.support.polling import wait_for
from tests.support.reports import own_phone, report_body

pytestmark = pytest.mark.integration

CASE_PAGE = re.compile(r"/c/([\w-]+)")


@pytest.fixture(scope="module")
async def stack(ns, tmp_path_factory):
    # Quiet hours off (an empty window), so the test does not depend on the hour it runs at.
    async with notify_stack(
        ns, tmp_path_factory.mktemp("merged"), clock=ShiftedClock(), quiet_hours_start=time(0), quiet_hours_end=time(0)
    ) as running_stack:
        yield running_stack


async def sms_containing(stack: NotifyStack, phone: str, text: str) -> str:
    async def found() -> list[str]:
        return [r.content for r in stack.gateway.accepted(phone) if text in r.content]

    return (await wait_for(found, what=f"an SMS to {phone} containing {text!r}"))[0]


async def work_item(stack: NotifyStack, case_id: str, status: str) -> dict:
    async def in_status() -> dict | None:
        response = await stack.services.departments.get(f"/v1/work-items/{case_id}")
        return response.json() if response.status_code == 200 and response.json()["status"] == status else None

    return await wait_for(in_status, what=f"work item {case_id} {status}")


async def test_a_merged_cases_resident_is_told_and_hears_the_primarys_progress_and_resolution(stack: NotifyStack):
    first_phone, second_phone = own_phone("135"), own_phone("135")
    first = report_body("小区3栋门口的路灯坏了，晚上一片漆黑", item_hint="S02")
    first["resident"] = {**first["resident"], "phone": first_phone}
    # A neighbour reports the same lamp: the same grid and place, in other words.
    second = {
        **first,
        "client_report_id": str(uuid.uuid4()),
        "description": "3栋门口路灯不亮了，晚上黑漆漆的",
        "resident": {**first["resident"], "name": "刘桂芳", "phone": second_phone},
    }
    intake, departments = stack.services.intake, stack.services.departments
    first_case = (await intake.post("/v1/reports", json=first)).json()["case_id"]
    await work_item(stack, first_case, "dispatched")
    second_case = (await intake.post("/v1/reports", json=second)).json()["case_id"]

    merged = await work_item(stack, second_case, "linked")
    assert merged["primary_case_id"] == first_case
    told = await sms_containing(stack, second_phone, "已并案")
    assert "当前进度：已转派，待部门签收" in told and "街道办事处" in told

    note = {"handler": "王芳", "note": "已联系供电所，明天上午更换灯泡", "photo_urls": []}
    assert (await departments.post(f"/v1/work-items/{first_case}/sign", json={"handler": "王芳"})).is_success
    assert (await departments.post(f"/v1/work-items/{first_case}/progress", json=note)).is_success
    resolved = await departments.post(f"/v1/work-items/{first_case}/resolve", json={"result": "已更换3栋门口路灯灯泡"})
    assert resolved.is_success, resolved.text

    for phone in (first_phone, second_phone):  # both residents are told, each asked to rate
        assert "已更换3栋门口路灯灯泡" in await sms_containing(stack, phone, "已办结")
    tracking = CASE_PAGE.search(told).group(1)

    async def page_shows_everything() -> str | None:
        page = (await stack.notify.get(f"/c/{tracking}")).text
        wanted = ("已并案", "当前进度：已转派，待部门签收", "已联系供电所，明天上午更换灯泡", "已更换3栋门口路灯灯泡")
        return page if all(text in page for text in wanted) else None

    await wait_for(page_shows_everything, what="the merged case's page with the primary's progress and resolution")
