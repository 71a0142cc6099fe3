"""Idempotency keys belong to whoever chose them and are checked against the body, as payment APIs do: the same
worker retrying the same body gets the same case; the same key with another body is a 409 naming the conflict;
another worker's identical key is simply a new case. Open311 posts get the same with an Idempotency-Key scoped
to the API key."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import create_async_engine

from gridloop.registry import default_registry
from services.intake.main import make_app
from services.intake.settings import IntakeSettings
from tests.support.auth import ActingAsCaller
from tests.support.reports import report_body

pytestmark = pytest.mark.integration
KEYS = ("idempotency-test-key-one-000000", "idempotency-test-key-two-000000")
WORKERS = (43, 44)  # named workers no other test names


@pytest.fixture(scope="module")
async def intake(ns) -> AsyncIterator[AsyncClient]:
    app = make_app(IntakeSettings(database_url=ns.database_urls["intake"], kafka=ns.kafka(), open311_api_keys=KEYS))
    async with (
        LifespanManager(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://intake", auth=ActingAsCaller()) as client,
    ):
        yield client


def _body(worker: int, description: str = "小区路灯坏了三盏，晚上黑黢黢的", **overrides: object) -> dict:
    return report_body(description, item_hint="S02", worker_index=worker, **overrides)


async def test_the_same_worker_retrying_the_same_body_gets_the_same_case(intake: AsyncClient) -> None:
    body = _body(WORKERS[0])
    first = await intake.post("/v1/reports", json=body)
    again = await intake.post("/v1/reports", json=body)
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json() == {**again.json(), "status": first.json()["status"]}


async def test_the_same_key_with_another_body_is_a_conflict_naming_it(intake: AsyncClient) -> None:
    body = _body(WORKERS[0])
    first = await intake.post("/v1/reports", json=body)
    changed = await intake.post("/v1/reports", json={**body, "description": "楼道里堆满了杂物，有消防隐患"})
    assert changed.status_code == 409, changed.text
    detail = changed.json()["detail"]
    assert body["client_report_id"] in detail and first.json()["case_id"] in detail and "different body" in detail
    assert first.json()["tracking_token"] not in changed.text
    assert (await intake.post("/v1/reports", json=body)).status_code == 200, "the first body is still the same case"


async def test_another_workers_identical_key_is_a_new_case(intake: AsyncClient) -> None:
    mine = _body(WORKERS[0])
    theirs = _body(WORKERS[1], "3栋门口的井盖不见了", client_report_id=mine["client_report_id"])
    first = await intake.post("/v1/reports", json=mine)
    other = await intake.post("/v1/reports", json=theirs)
    assert (first.status_code, other.status_code) == (202, 202), other.text
    assert other.json()["case_id"] != first.json()["case_id"]
    assert other.json()["tracking_token"] != first.json()["tracking_token"]
    view = (await intake.get(f"/v1/cases/{other.json()['case_id']}")).json()
    assert view["description"] == "3栋门口的井盖不见了"


async def test_a_case_stored_before_keys_were_scoped_is_still_found_on_retry(intake: AsyncClient, ns) -> None:
    """Rows from before the migration keep their case id (derived from the report id alone) and have no
    fingerprint: a retry finds them by (worker, report id) and is answered as the same report."""
    body = _body(WORKERS[1], "垃圾桶满了两天没人收")
    first = await intake.post("/v1/reports", json=body)
    legacy_id = uuid.uuid5(uuid.UUID(body["client_report_id"]), "case")
    engine = create_async_engine(ns.database_urls["intake"])
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text("UPDATE cases SET case_id = :legacy, request_fingerprint = NULL WHERE case_id = :case_id"),
                {"legacy": legacy_id, "case_id": uuid.UUID(first.json()["case_id"])},
            )
    finally:
        await engine.dispose()
    again = await intake.post("/v1/reports", json=body)
    assert again.status_code == 200 and again.json()["case_id"] == str(legacy_id)
    assert again.json()["tracking_token"] == first.json()["tracking_token"]


def _form(**overrides: str) -> dict[str, str]:
    grid = default_registry().grids[-3]
    form = {
        "api_key": KEYS[0],
        "service_code": "S01",
        "lat": str(grid.lat),
        "long": str(grid.lon),
        "description": "路面塌了一个坑",
    }
    return {**form, **overrides}


async def test_open311_posts_with_an_idempotency_key_scoped_to_the_api_key(intake: AsyncClient) -> None:
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    first = await intake.post("/open311/v2/requests.json", data=_form(), headers=key)
    again = await intake.post("/open311/v2/requests.json", data=_form(), headers=key)
    assert (first.status_code, again.status_code) == (200, 200), again.text
    assert first.json()[0]["service_request_id"] == again.json()[0]["service_request_id"]

    changed = await intake.post("/open311/v2/requests.json", data=_form(description="路灯不亮"), headers=key)
    assert changed.status_code == 409
    [error] = changed.json()
    assert error["code"] == 409 and key["Idempotency-Key"] in error["description"]
    assert first.json()[0]["service_request_id"] in error["description"]

    other_client = await intake.post("/open311/v2/requests.json", data=_form(api_key=KEYS[1]), headers=key)
    assert other_client.status_code == 200
    assert other_client.json()[0]["service_request_id"] != first.json()[0]["service_request_id"]

    unkeyed = [await intake.post("/open311/v2/requests.json", data=_form()) for _ in range(2)]
    assert unkeyed[0].json()[0]["service_request_id"] != unkeyed[1].json()[0]["service_request_id"]
