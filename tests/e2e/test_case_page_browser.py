"""The case page in a real headless browser (Debian's chromium driven by Playwright) on a phone-sized screen:
open the link from the resolution message, see the timeline, rate 不满意 with a comment, see the case reopened.

The four services run in-process on real Kafka and PostgreSQL; notify is served over real HTTP for the browser."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page

from tests.support.apps import Services, build_apps, running
from tests.support.notify_standins import free_port, serving
from tests.support.polling import wait_for
from tests.support.reports import report_body

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture(scope="module")
async def served(ns, tmp_path_factory):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    apps = build_apps(
        ns,
        notify_log=tmp_path_factory.mktemp("browser") / "messages.jsonl",
        overrides={"notify": {"public_base_url": base_url}},
    )
    async with running(apps) as services, serving(apps["notify"], port=port):
        yield services


async def resolution_link(services: Services, case_id: str) -> str:
    async def link() -> str | None:
        for message in (await services.notify.get(f"/v1/cases/{case_id}/messages")).json():
            found = re.search(r"http://\S+/c/\S+\?t=\S+", message["body"])
            if message["step"] == "resolved" and message["state"] == "sent" and found:
                return found.group(0)
        return None

    return await wait_for(link, what="the resolution message with its feedback link")


async def status_after_reload(page: Page, wanted: str) -> bool:
    await page.reload()
    return (await page.locator("#status").inner_text()) == wanted


async def test_resident_rates_dissatisfied_on_a_phone_and_sees_the_case_reopened(served: Services, browser) -> None:
    body = report_body("楼道里堆满了纸箱和旧家具，消防通道被堵死了", item_hint="S11")
    body["resident"] = {**body["resident"], "phone": "13698765432"}
    case_id = (await served.intake.post("/v1/reports", json=body)).json()["case_id"]

    async def dispatched() -> bool:
        return (await served.departments.get(f"/v1/work-items/{case_id}")).status_code == 200

    await wait_for(dispatched, what="work item")
    await served.departments.post(f"/v1/work-items/{case_id}/sign", json={"handler": "赵志强"})
    await served.departments.post(f"/v1/work-items/{case_id}/resolve", json={"result": "已清理楼道杂物"})
    link = await resolution_link(served, case_id)

    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    page = await context.new_page()
    try:
        await page.goto(link)
        assert await page.locator("#status").inner_text() == "已办结"
        timeline = await page.locator("#timeline li strong").all_inner_texts()
        assert timeline[0] == "已办结" and timeline[-1] == "已受理" and "已签收" in timeline
        assert "已清理楼道杂物" in await page.locator("#timeline").inner_text()
        assert "136****5432" in await page.content() and "13698765432" not in await page.content()

        await page.locator("input[value=dissatisfied]").check()
        await page.locator("#comment").fill("楼道里还有两个旧沙发没搬走")
        await page.get_by_role("button", name="提交评价").click()
        await page.wait_for_url(re.compile(r"\?done=1$"))
        assert "感谢您的评价" in await page.locator("#thanks").inner_text()

        await wait_for(lambda: status_after_reload(page, "重新办理"), timeout=30, interval=0.5, what="case reopened")
        timeline_text = await page.locator("#timeline").inner_text()
        assert "您的评价：不满意" in timeline_text and "楼道里还有两个旧沙发没搬走" in timeline_text
        assert await page.locator("#feedback").count() == 0, "no form until the case is resolved again"
    finally:
        await context.close()

    async def work_item_reopened() -> bool:
        return (await served.departments.get(f"/v1/work-items/{case_id}")).json()["status"] == "signed"

    await wait_for(work_item_reopened, what="the department's work item back at work")
