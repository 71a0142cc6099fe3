"""Bad input gets a precise 4xx; an unreachable database or broker never loses an accepted report."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from prometheus_client import REGISTRY

from gridloop.auth.tables import audit_log
from services.intake.main import make_app
from services.intake.settings import IntakeSettings
from services.intake.tables import cases, outbox
from tests.support.apps import started
from tests.support.auth import ActingAsCaller
from tests.support.polling import wait_for
from tests.support.reports import report_body

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def intake(ns):
    app = make_app(IntakeSettings(database_url=ns.database_urls["intake"], kafka=ns.kafka(), max_body_bytes=16_384))
    async with (
        started(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://intake", auth=ActingAsCaller()) as client,
    ):
        yield client


async def test_malformed_json_is_422(intake: AsyncClient) -> None:
    response = await intake.post("/v1/reports", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


async def test_missing_fields_are_named(intake: AsyncClient) -> None:
    body = report_body("路灯坏了")
    del body["grid_id"], body["resident"]
    response = await intake.post("/v1/reports", json=body)
    assert response.status_code == 422
    missing = {tuple(e["loc"]) for e in response.json()["detail"]}
    assert {("body", "grid_id"), ("body", "resident")} <= missing


async def test_unknown_field_is_rejected(intake: AsyncClient) -> None:
    response = await intake.post("/v1/reports", json={**report_body("路灯坏了"), "priority": "high"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "priority"]


async def test_unknown_grid_is_422(intake: AsyncClient) -> None:
    response = await intake.post("/v1/reports", json=report_body("路灯坏了", grid_id="JN-G9999"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "grid_id"]


async def test_item_code_not_on_the_list_is_422(intake: AsyncClient) -> None:
    response = await intake.post("/v1/reports", json=report_body("路灯坏了", item_hint="S99"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "item_hint"]


async def test_worker_reporting_outside_their_grid_is_403(intake: AsyncClient) -> None:
    from gridloop.registry import default_registry

    registry = default_registry()
    worker = registry.workers[0]
    foreign = next(g for g in registry.grids if g.grid_id not in worker.grid_ids)
    response = await intake.post("/v1/reports", json=report_body("路灯坏了", worker_index=0, grid_id=foreign.grid_id))
    assert response.status_code == 403


async def test_bad_phone_and_naive_time_are_422(intake: AsyncClient) -> None:
    body = report_body("路灯坏了", occurred_at="2026-11-25T09:12:00")
    body["resident"]["phone"] = "12345"
    response = await intake.post("/v1/reports", json=body)
    locs = {tuple(e["loc"]) for e in response.json()["detail"]}
    assert response.status_code == 422
    assert {("body", "occurred_at"), ("body", "resident", "phone")} <= locs


async def test_body_over_the_limit_is_413(intake: AsyncClient) -> None:
    body = json.dumps(report_body("很长" * 10_000), ensure_ascii=False).encode()
    response = await intake.post("/v1/reports", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413


async def test_description_over_4000_chars_is_422(intake: AsyncClient) -> None:
    response = await intake.post("/v1/reports", json=report_body("长" * 4001))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "description"]


async def test_database_down_is_503_not_500(ns) -> None:
    settings = IntakeSettings(database_url="postgresql+asyncpg://gridloop:gridloop@127.0.0.1:1/none", kafka=ns.kafka())
    app = make_app(settings)
    async with (
        started(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://i", auth=ActingAsCaller()) as client,
    ):
        response = await client.post("/v1/reports", json=report_body("路灯坏了"))
        assert response.status_code == 503
        assert response.headers["retry-after"]
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"] is False


async def test_kafka_down_still_accepts_and_the_outbox_drains_when_it_returns(ns) -> None:
    down = make_app(
        IntakeSettings(database_url=ns.database_urls["intake"], kafka=ns.kafka(bootstrap_servers="127.0.0.1:1"))
    )
    async with (
        LifespanManager(down, shutdown_timeout=30),  # the consumer waits out its drain while Kafka is down
        AsyncClient(transport=ASGITransport(app=down), base_url="http://i", auth=ActingAsCaller()) as client,
    ):
        response = await client.post("/v1/reports", json=report_body("井盖不见了，路中间一个大洞"))
        assert response.status_code == 202
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["kafka"] is False
        case_id = response.json()["case_id"]
        db = down.state.runtime.db

    async def unpublished() -> int:
        async with db.engine.connect() as conn:
            return await conn.scalar(
                sa.select(sa.func.count()).where(outbox.c.key == case_id, outbox.c.published_at.is_(None))
            )

    up = make_app(IntakeSettings(database_url=ns.database_urls["intake"], kafka=ns.kafka()))
    async with started(up):
        db = up.state.runtime.db
        await wait_for(lambda: _is_zero(unpublished), what="outbox to drain once Kafka is reachable")


async def _is_zero(probe) -> bool:
    return await probe() == 0


async def test_connections_the_server_dropped_cost_at_most_one_retryable_503_and_lose_nothing(ns, intake) -> None:
    """The pool does not ping before each checkout (a round trip per transaction): a connection PostgreSQL dropped
    (restart, failover, idle kill) is found by using it, answered 503 with Retry-After, and the whole pool is
    renewed, so the worker app's retry succeeds."""
    assert (await intake.post("/v1/reports", json=report_body("路灯坏了一盏"))).status_code == 202
    database = sa.engine.make_url(ns.database_urls["intake"]).database
    admin = sa.ext.asyncio.create_async_engine(ns.database_urls["intake"].replace(f"/{database}", "/postgres"))
    try:
        async with admin.connect() as conn:
            killed = await conn.scalar(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = :db AND pid <> pg_backend_pid()"
                    # Intake's connections only: an autovacuum worker in the database is not ours to end (and
                    # ending it needs a superuser; the suite once failed on exactly that).
                    " AND backend_type = 'client backend' AND usename = current_user"
                ),
                {"db": database},
            )
    finally:
        await admin.dispose()
    assert killed >= 1
    statuses = []
    for n in range(5):
        body = report_body(f"楼道里的灯坏了第{n}次")
        response = await intake.post("/v1/reports", json=body)
        if response.status_code == 503:
            assert response.headers["retry-after"]
            statuses.append(503)
            response = await intake.post("/v1/reports", json=body)  # the worker app retries the same report
        statuses.append(response.status_code)
    assert statuses.count(503) <= 1 and statuses.count(202) == 5, statuses


async def test_when_every_database_connection_is_busy_a_report_gets_a_quick_retryable_503(ns) -> None:
    """Overload sheds load: a request that waited the pool timeout for a connection is answered 503 "busy" with
    Retry-After (it was an unhandled exception, and the worker app saw a 500 or a reset), and is accepted again
    once connections are free."""
    settings = IntakeSettings(
        database_url=ns.database_urls["intake"], kafka=ns.kafka(), db_pool_size=1, db_pool_timeout_seconds=0.3
    )
    app = make_app(settings)
    async with (
        started(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://i", auth=ActingAsCaller()) as client,
    ):
        engine = app.state.runtime.db.engine
        held = []
        for _ in range(2):  # pool of 1 + overflow 1; the revocation listener may hold one of them already
            try:
                held.append(await asyncio.wait_for(engine.connect(), 1))
            except Exception:
                break
        try:
            busy = await client.post("/v1/reports", json=report_body("小区门口的路灯坏了"))
            assert busy.status_code == 503, busy.text
            assert busy.headers["retry-after"] == "1" and "busy" in busy.json()["detail"]
        finally:
            for conn in held:
                await conn.close()
        accepted = await client.post("/v1/reports", json=report_body("小区门口的路灯坏了"))
        assert accepted.status_code == 202, accepted.text


async def test_reports_posted_at_once_are_each_accepted_once_with_their_own_audit_entry(ns, intake) -> None:
    """Concurrent posts are committed in groups (gridloop/delivery/group_commit.py): each distinct report becomes
    its own case with one audit entry, and the same report posted five times at once is one case — one 202,
    four 200 with the same case and tracking token."""
    distinct = [report_body(f"{n}号楼下水道堵了，污水漫到路上") for n in range(12)]
    same = report_body("小区东门的护栏被车撞歪了")
    groups_before = _groups_written()
    responses = await asyncio.gather(*(intake.post("/v1/reports", json=body) for body in [*distinct, *[same] * 5]))
    assert _groups_written() - groups_before < 17  # some were written together
    statuses = [r.status_code for r in responses]
    assert statuses[:12] == [202] * 12
    assert sorted(statuses[12:]) == [200, 200, 200, 200, 202]
    assert len({r.json()["case_id"] for r in responses[:12]}) == 12
    assert len({(r.json()["case_id"], r.json()["tracking_token"]) for r in responses[12:]}) == 1
    case_ids = [r.json()["case_id"] for r in responses]
    async with intake_db(ns) as conn:
        entries = (
            await conn.execute(
                sa.select(audit_log.c.case_id, audit_log.c.status).where(
                    audit_log.c.case_id.in_(case_ids), audit_log.c.action == "POST /v1/reports"
                )
            )
        ).all()
        cases_stored = await conn.scalar(sa.select(sa.func.count()).where(cases.c.case_id.in_(case_ids)))
    assert cases_stored == 13
    assert sorted(status for _, status in entries) == [200] * 4 + [202] * 13


def _groups_written() -> float:
    return REGISTRY.get_sample_value("gridloop_group_commit_units_count", {"name": "intake_reports"}) or 0.0


@asynccontextmanager
async def intake_db(ns):
    engine = sa.ext.asyncio.create_async_engine(ns.database_urls["intake"])
    try:
        async with engine.connect() as conn:
            yield conn
    finally:
        await engine.dispose()
