"""Operators replace the admission list without a redeploy: a valid list is the version the next decision uses,
a bad one is refused naming the line while the list in force stays, and every attempt is audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from gridloop.admission.admission_list import DEFAULT_LIST_PATH, default_admission_list
from services.intake.main import make_app as intake_app
from services.intake.settings import IntakeSettings
from services.router.admission_list import ActiveAdmissionList
from services.router.main import make_app as router_app
from services.router.settings import RouterSettings
from tests.support.apps import started
from tests.support.auth import OPERATOR, ActingAsCaller, as_department
from tests.support.polling import wait_for
from tests.support.reports import report_body
from tests.support.scripted import ScriptedClassifier

pytestmark = pytest.mark.integration
TSV = {"Content-Type": "text/tab-separated-values; charset=utf-8"}
SHIPPED = DEFAULT_LIST_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
async def clients(ns) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Intake and router only: a decision's list version is all these tests look at."""
    apps = {
        "intake": intake_app(IntakeSettings(database_url=ns.database_urls["intake"], kafka=ns.kafka())),
        "router": router_app(
            RouterSettings(database_url=ns.database_urls["router"], kafka=ns.kafka()), classifier=ScriptedClassifier()
        ),
    }
    async with AsyncExitStack() as stack:
        clients = {}
        for name, app in apps.items():
            await stack.enter_async_context(started(app))
            transport = httpx.ASGITransport(app=app)
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://t", auth=ActingAsCaller())
            )
        yield clients
        # Later test modules share this database: put the shipped list back in force.
        restored = await clients["router"].put(
            "/v1/admission-list", params={"operator": "test"}, content=SHIPPED.encode(), headers={**OPERATOR, **TSV}
        )
        assert restored.status_code == 200, restored.text


def edited(lines: dict[str, str]) -> str:
    """The shipped list with some item lines replaced (keyed by code)."""
    out = []
    for line in SHIPPED.splitlines():
        out.append(lines.get(line.split("\t")[0], line))
    return "\n".join(out) + "\n"


async def _put(router: httpx.AsyncClient, text: str, **headers: str) -> httpx.Response:
    return await router.put(
        "/v1/admission-list",
        params={"operator": "陈主任"},
        content=text.encode(),
        headers={**OPERATOR, **TSV, **headers},
    )


async def _decision(clients: dict[str, httpx.AsyncClient], item_hint: str) -> dict:
    case_id = (
        await clients["intake"].post(
            "/v1/reports", json=report_body("垃圾桶满了", item_hint=item_hint, worker_index=90, location=None)
        )
    ).json()["case_id"]

    async def decided() -> dict | None:
        response = await clients["router"].get(f"/v1/decisions/{case_id}")
        return response.json() if response.status_code == 200 else None

    return await wait_for(decided, what="routing decision")


async def test_a_valid_list_is_the_version_the_next_decision_uses(clients, ns) -> None:
    router = clients["router"]
    before = (await router.get("/v1/admission-list")).json()
    s03 = "S03\tstreet_office\t生活垃圾清运不及时\tWaste collection\t垃圾桶满溢、垃圾堆放未清运\t36\tpublic"
    response = await _put(router, edited({"S03": s03}))
    assert response.status_code == 200, response.text
    change = response.json()
    assert change["changed"] and change["previous_version"] == before["version"] and change["items"] == 63

    current = (await router.get("/v1/admission-list")).json()
    assert current["version"] == change["version"] != default_admission_list().version
    s03_item = next(i for i in current["items"] if i["code"] == "S03")
    assert (s03_item["name_zh"], s03_item["resolve_hours"]) == ("生活垃圾清运不及时", 36)

    decision = await _decision(clients, "S03")
    assert decision["list_version"] == change["version"]
    assert "生活垃圾清运不及时" in decision["reason"]

    engine = create_async_engine(ns.database_urls["router"])  # another replica starting now finds it too
    try:
        async with engine.connect() as conn:
            replica = ActiveAdmissionList(default_admission_list())
            assert await replica.refresh(conn) and replica.version == change["version"]
    finally:
        await engine.dispose()

    audit = (await router.get("/v1/admission-list/versions")).json()
    assert (audit[0]["action"], audit[0]["version"], audit[0]["operator"]) == ("activated", change["version"], "陈主任")


async def test_a_bad_list_is_refused_naming_the_line_and_the_list_in_force_stays(clients) -> None:
    router = clients["router"]
    in_force = (await router.get("/v1/admission-list")).json()["version"]
    bad = edited({"P05": "P05\tfire_brigade\t矛盾纠纷激化风险\tDispute\t纠纷\t6\tpersonal"})
    response = await _put(router, bad)
    assert response.status_code == 422
    assert "line 6" in response.json()["detail"] and "fire_brigade" in response.json()["detail"]
    assert (await router.get("/v1/admission-list")).json()["version"] == in_force
    assert (await _decision(clients, "S02"))["list_version"] == in_force

    audit = (await router.get("/v1/admission-list/versions")).json()
    assert (audit[0]["action"], audit[0]["version"], audit[0]["previous_version"]) == ("rejected", None, in_force)
    assert "line 6" in audit[0]["detail"]

    as_json = await _put(router, bad, **{"Content-Type": "application/json"})
    assert as_json.status_code == 415


async def test_only_an_operator_may_replace_the_list(clients) -> None:
    response = await clients["router"].put(
        "/v1/admission-list",
        params={"operator": "x"},
        content=SHIPPED.encode(),
        headers={**TSV, **as_department("police")},
    )
    assert response.status_code == 403


async def test_a_list_without_the_visibility_column_makes_every_item_personal(clients) -> None:
    router = clients["router"]
    shipped = (await router.get("/v1/admission-list")).json()
    assert {i["code"]: i["visibility"] for i in shipped["items"]}["S03"] == "public"
    without_column = "\n".join(line.rsplit("\t", 1)[0] for line in SHIPPED.splitlines()) + "\n"
    response = await _put(router, without_column)
    assert response.status_code == 200 and response.json()["changed"], response.text
    replaced = (await router.get("/v1/admission-list")).json()
    assert {i["visibility"] for i in replaced["items"]} == {"personal"}
    restored = await _put(router, SHIPPED)
    assert restored.status_code == 200 and restored.json()["version"] == default_admission_list().version
