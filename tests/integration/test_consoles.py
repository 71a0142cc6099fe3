"""The consoles' security and their use of the API's own code, on the real stack (in-process services): the
session cookie, CSRF and origin checks, who may sign in where, revocation, photos and their signed links, a
report posted twice through the worker app, and the clerk a step records coming from the credential."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta

import httpx
import pytest

from gridloop.auth.settings import AuthSettings
from gridloop.auth.tokens import TokenIssuer
from gridloop.consoles.media import signed_photo_url
from tests.support.apps import Services, build_apps, running
from tests.support.auth import OPERATOR
from tests.support.polling import wait_for
from tests.support.reports import report_body

pytestmark = pytest.mark.integration

ISSUER = TokenIssuer(AuthSettings().signing_key.get_secret_value())
WORKER_INDEX = 47  # a named worker (tests/support/reports.py) no other test names
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def credential(role: str, subject: str, name: str | None = None) -> str:
    return ISSUER.issue(role=role, subject=subject, ttl=timedelta(hours=1), name=name).token


@pytest.fixture(scope="module")
async def services(ns, tmp_path_factory):
    apps = build_apps(ns, notify_log=tmp_path_factory.mktemp("consoles") / "messages.jsonl")
    async with running(apps) as running_services:
        yield running_services


def client(services: Services, name: str) -> httpx.AsyncClient:
    """A browser-like client: no bearer token, cookies set by hand (httpx keeps Secure cookies off plain HTTP)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=services.apps[name]), base_url=f"http://{name}")


async def signed_in(http: httpx.AsyncClient, prefix: str, token: str) -> tuple[dict[str, str], str]:
    """Sign in; returns the cookie header and the page's CSRF token."""
    answer = await http.post(
        f"{prefix}/login", data={"token": token}, headers={"Origin": f"http://{http.base_url.host}"}
    )
    assert answer.status_code == 303, answer.text
    cookie = {"Cookie": answer.headers["set-cookie"].split(";", 1)[0]}
    page = await http.get(prefix, headers=cookie)
    assert page.status_code == 200
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert found
    return cookie, found.group(1)


async def test_signing_in_sets_a_secure_httponly_strict_cookie_scoped_to_the_console(services: Services) -> None:
    token = credential("worker", "JN-W0001")
    async with client(services, "intake") as http:
        answer = await http.post("/app/login", data={"token": token})
        assert answer.status_code == 303 and answer.headers["location"] == "/app"
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith(f"gridloop_app={token};")
        for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/app"):
            assert attribute in cookie, cookie
        assert (await http.get("/app")).headers["location"] == "/app/login", "no cookie, no page"
        signed_out = await http.post("/app/logout", headers={"Cookie": cookie.split(";", 1)[0]})
        assert signed_out.status_code == 403, "signing out is a form with its CSRF token too"


async def test_each_console_admits_only_its_own_people(services: Services) -> None:
    async with client(services, "departments") as desk, client(services, "router") as ops:
        system = await desk.post("/desk/login", data={"token": credential("department", "police")})
        assert system.status_code == 403 and "未标明个人" in system.text
        worker = await ops.post("/ops/login", data={"token": credential("worker", "JN-W0001")})
        assert worker.status_code == 403 and "set-cookie" not in worker.headers
        forged = await ops.post("/ops/login", data={"token": credential("operator", "王芳")[:-2] + "xx"})
        assert forged.status_code == 401 and "凭证无效" in forged.text
        cross_site = await ops.post(
            "/ops/login", data={"token": credential("operator", "王芳")}, headers={"Origin": "http://evil.example"}
        )
        assert cross_site.status_code == 403


async def test_a_form_without_its_csrf_token_or_from_another_site_changes_nothing(services: Services) -> None:
    async with client(services, "router") as ops:
        cookie, csrf = await signed_in(ops, "/ops", credential("operator", "王芳"))
        case = uuid.uuid4()
        missing = await ops.post(f"/ops/triage/{case}/assign", data={"item_code": "S03"}, headers=cookie)
        wrong_token = {"item_code": "S03", "csrf_token": "0" * 40}
        wrong = await ops.post(f"/ops/triage/{case}/assign", data=wrong_token, headers=cookie)
        other_site = await ops.post(
            f"/ops/triage/{case}/assign",
            data={"item_code": "S03", "csrf_token": csrf},
            headers={**cookie, "Origin": "http://evil.example"},
        )
        assert [missing.status_code, wrong.status_code, other_site.status_code] == [403, 403, 403]
        unknown = await ops.post(
            f"/ops/triage/{case}/assign", data={"item_code": "S03", "csrf_token": csrf}, headers=cookie
        )
        assert unknown.status_code == 404 and "未找到该事项" in unknown.text, "past the checks: the API's own 404"


async def test_a_revoked_credential_is_out_of_the_console_at_once(services: Services) -> None:
    issued = ISSUER.issue(role="worker", subject="JN-W0002", ttl=timedelta(hours=1))
    async with client(services, "intake") as http:
        cookie, _ = await signed_in(http, "/app", issued.token)
        revoked = await services.intake.post(
            "/v1/revocations", json={"token_id": issued.token_id, "reason": "phone lost"}, headers=OPERATOR
        )
        assert revoked.status_code in (200, 201)
        after = await http.get("/app", headers=cookie)
        assert after.status_code == 303 and after.headers["location"] == "/app/login"


async def test_a_report_through_the_worker_app_is_one_case_however_often_it_is_sent(services: Services) -> None:
    body = report_body("小区东门路灯不亮三天了，晚上居民出行不便", item_hint="S03", worker_index=WORKER_INDEX)
    async with client(services, "intake") as http:
        cookie, csrf = await signed_in(http, "/app", credential("worker", body["worker_id"]))
        headers = {**cookie, "X-CSRF-Token": csrf}
        first = await http.post("/app/reports", json=body, headers=headers)
        again = await http.post("/app/reports", json=body, headers=headers)
        assert (first.status_code, again.status_code) == (202, 200)
        assert first.json()["case_id"] == again.json()["case_id"]
        someone_elses = await http.post("/app/reports", json={**body, "worker_id": "JN-W0001"}, headers=headers)
        assert someone_elses.status_code == 403 and "凭证不属于本人" in someone_elses.json()["detail"]
        mine = (await http.get("/app/mine", headers=cookie)).json()["reports"]
        assert [r["case_id"] for r in mine].count(first.json()["case_id"]) == 1, "my reports: the worker feed's list"


async def test_photos_are_type_checked_stored_once_and_served_only_by_a_signed_link(services: Services) -> None:
    report = str(uuid.uuid4())
    async with client(services, "intake") as http:
        cookie, csrf = await signed_in(http, "/app", credential("worker", "JN-W0003"))
        headers = {**cookie, "X-CSRF-Token": csrf}
        form = {"client_report_id": report, "index": "0"}
        not_a_photo = {"photo": ("a.png", b"GIF89a" + b"\x00" * 10)}
        gif = await http.post("/app/photos", data=form, files=not_a_photo, headers=headers)
        assert gif.status_code == 422 and "JPEG 或 PNG" in gif.json()["detail"]
        stored = await http.post("/app/photos", data=form, files={"photo": ("a.png", PNG)}, headers=headers)
        assert stored.status_code == 201
        url = stored.json()["url"]
        retried = await http.post("/app/photos", data=form, files={"photo": ("a.png", PNG)}, headers=headers)
        assert retried.status_code == 201 and retried.json()["url"] == url
        path = httpx.URL(url).path
        assert (await http.get(path)).status_code == 422, "no link signature"
        signed = httpx.URL(signed_photo_url(ISSUER, url, now=time.time()))
        photo = await http.get(path, params=dict(signed.params))
        assert photo.status_code == 200 and photo.headers["content-type"] == "image/png" and photo.content == PNG
        expired = httpx.URL(signed_photo_url(ISSUER, url, now=time.time() - 7200))
        assert (await http.get(path, params=dict(expired.params))).status_code == 403

        other_cookie, other_csrf = await signed_in(http, "/app", credential("worker", "JN-W0004"))
        taken = await http.post(
            "/app/photos",
            data=form,
            files={"photo": ("b.png", PNG)},
            headers={**other_cookie, "X-CSRF-Token": other_csrf},
        )
        assert taken.status_code == 201 and taken.json()["url"] != url, "another worker's photo is its own"


async def test_a_step_records_the_clerk_the_credential_names_not_the_name_in_the_body(services: Services) -> None:
    body = report_body("楼道里堆满了纸箱和旧家具，消防通道被堵死了", item_hint="S11", worker_index=WORKER_INDEX)
    case_id = (await services.intake.post("/v1/reports", json=body)).json()["case_id"]

    async def dispatched() -> bool:
        return (await services.departments.get(f"/v1/work-items/{case_id}")).status_code == 200

    await wait_for(dispatched, what="the work item")
    clerk = {"Authorization": f"Bearer {credential('department', 'street_office', '赵志强')}"}
    signed = await services.departments.post(
        f"/v1/work-items/{case_id}/sign", json={"handler": "别人的名字"}, headers=clerk
    )
    assert signed.status_code == 200 and signed.json()["signed_by"] == "赵志强"

    async with client(services, "departments") as desk:
        cookie, csrf = await signed_in(desk, "/desk", credential("department", "police", "钱警官"))
        page = await desk.get(f"/desk/cases/{case_id}", headers=cookie)
        assert page.status_code == 404 and "不属于本部门" in page.text and "楼道" not in page.text
        resolving = {"result": "已处理", "csrf_token": csrf}
        step = await desk.post(f"/desk/cases/{case_id}/resolve", data=resolving, headers=cookie)
        assert step.status_code == 404
    assert (await services.departments.get(f"/v1/work-items/{case_id}")).json()["status"] == "signed"
