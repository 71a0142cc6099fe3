"""A replaced list (64 items, one moved) and a model retrained for it take effect on every router replica
without a restart, and each decision records the list and model version it used."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from gridloop.admission.admission_list import DEFAULT_LIST_PATH, default_admission_list
from gridloop.admission.classifier import Classifier, TrainingConfig
from gridloop.admission.examples import Example, heldout2_examples, heldout3_examples, heldout_examples, train_examples
from gridloop.admission.retraining import TrainingData
from services.intake.main import make_app as intake_app
from services.intake.settings import IntakeSettings
from services.router.main import make_app as router_app
from services.router.settings import RouterSettings
from services.router.tables import classifier_models, labelled_examples
from tests.support.apps import started
from tests.support.auth import OPERATOR, ActingAsCaller, as_worker
from tests.support.polling import wait_for
from tests.support.reports import report_body

pytestmark = pytest.mark.integration
TSV = {"Content-Type": "text/tab-separated-values; charset=utf-8"}
SHIPPED = DEFAULT_LIST_PATH.read_text(encoding="utf-8")
NEW_ITEM = "S31\tstreet_office\t共享单车乱停放\tShared bikes\t共享单车堆放堵塞院落出入口\t48\tpublic"
FAST = TrainingConfig(calibrate=False)
S31_CORRECTIONS = (
    "共享单车堆在院子门口，进出都过不去",
    "几十辆共享单车把单元门堵死了",
    "小区出入口全是乱停的共享单车",
    "共享单车倒了一地，堵住了院落大门",
    "院门口被共享单车占满，老人推轮椅出不去",
    "共享单车乱停把院子的消防通道之外的人行出入口堵了",
)


def list_64() -> str:
    """The shipped list with S03 moved to the police and one item added: 64 items."""
    lines = [line.replace("S03\tstreet_office", "S03\tpolice") for line in SHIPPED.splitlines()]
    return "\n".join([*lines, NEW_ITEM]) + "\n"


def few() -> list[Example]:
    """20 training reports per item and reason. Training is seeded, so the outcome is fixed for a given bank; moving
    S03 and adding S31 costs the retrained model ~0.004 held-out item accuracy whatever the size (12, 20, 24, 30
    per item measured on the bank of the eighth session), inside retraining's 0.005 tolerance; with 12 the bank of
    that session fell just outside it (0.529 vs 0.539), which is why this takes 20."""
    by: dict[str, list[Example]] = defaultdict(list)
    for e in train_examples():
        if len(by[e.label + str(e.reason)]) < 20:
            by[e.label + str(e.reason)].append(e)
    return [e for rows in by.values() for e in rows]


@pytest.fixture(scope="module")
async def stack(private_ns) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Intake and two router replicas on one router database, deciding with a small model trained here. A namespace
    of the module's own: retraining reads every operator decision in the router's database, and the session's other
    modules (the consoles' browser tests) decide triage cases there too."""
    ns = private_ns
    model = Classifier.train(few(), default_admission_list(), config=FAST, tune_threshold=False, threshold=0.5)
    training = TrainingData(
        train=few,
        heldout=lambda: heldout_examples() + heldout2_examples() + heldout3_examples(),
        config=FAST,
        threshold=0.5,
    )
    router_settings = RouterSettings(
        database_url=ns.database_urls["router"], kafka=ns.kafka(), admission_list_check_seconds=0.2
    )
    routers = {
        "a": router_app(router_settings, classifier=model, training=training),
        "b": router_app(router_settings, classifier=model, training=training),
    }
    # Intake asks replica b for the list in force (as it would ask the router service over the network).
    to_router = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=routers["b"]), base_url="http://t", headers=as_worker("service:intake")
    )
    intake_settings = IntakeSettings(
        database_url=ns.database_urls["intake"], kafka=ns.kafka(), admission_list_check_seconds=0.2
    )
    apps = {**routers, "intake": intake_app(intake_settings, router_client=to_router)}
    engine = create_async_engine(ns.database_urls["router"])
    async with AsyncExitStack() as stack:
        stack.push_async_callback(engine.dispose)
        stack.push_async_callback(to_router.aclose)
        clients = {}
        for name, app in apps.items():
            await stack.enter_async_context(started(app))
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", auth=ActingAsCaller())
            )
        clients["engine"] = engine  # type: ignore[assignment]
        yield clients
        # Later test modules share this database: the shipped list and no retrained model back in force.
        async with engine.begin() as conn:
            await conn.execute(sa.update(classifier_models).values(active=False))
        restored = await clients["a"].put(
            "/v1/admission-list", params={"operator": "test"}, content=SHIPPED.encode(), headers={**OPERATOR, **TSV}
        )
        assert restored.status_code == 200, restored.text


async def test_a_64_item_list_and_its_retrained_model_reach_every_replica_and_every_decision(stack) -> None:
    a, b, intake, engine = stack["a"], stack["b"], stack["intake"], stack["engine"]
    shipped_model = (await a.get("/v1/admission-list")).json()["model_version"]
    assert (await b.get("/v1/admission-list")).json()["model_version"] == shipped_model
    refused = await intake.post("/v1/reports", json=report_body("共享单车", item_hint="S31"))
    assert refused.status_code == 422 and "S31" in refused.text  # not on the list yet
    assert "S31" not in {s["service_code"] for s in (await intake.get("/open311/v2/services.json")).json()}

    put = await a.put("/v1/admission-list", params={"operator": "陈主任"}, content=list_64().encode(),
                      headers={**OPERATOR, **TSV})  # fmt: skip
    assert put.status_code == 200, put.text
    new_list = put.json()["version"]
    assert put.json()["items"] == 64

    async def b_follows_the_list() -> dict | None:
        view = (await b.get("/v1/admission-list")).json()
        return view if view["version"] == new_list else None

    view = await wait_for(b_follows_the_list, what="replica b on the 64-item list")
    assert len(view["items"]) == 64
    assert next(i for i in view["items"] if i["code"] == "S03")["department"] == "police"

    async def intake_follows() -> list | None:
        services = (await intake.get("/open311/v2/services.json")).json()
        return services if len(services) == 64 else None

    services = {s["service_code"]: s for s in await wait_for(intake_follows, what="intake on the 64-item list")}
    assert services["S03"]["group"] == "辖区派出所" and services["S31"]["service_name"] == "共享单车乱停放"
    definition = (await intake.get("/open311/v2/services/S31.json")).json()
    assert definition["service_code"] == "S31"
    hinted = await intake.post("/v1/reports", json=report_body("共享单车", item_hint="S31"))
    assert hinted.status_code == 202, hinted.text

    async with engine.begin() as conn:  # operators' triage decisions for the new item
        await conn.execute(
            sa.insert(labelled_examples),
            [
                {"text": text, "label": "S31", "source": "operator:陈主任", "created_at": datetime.now(UTC)}
                for text in S31_CORRECTIONS
            ],
        )
    started = await a.post("/v1/admission-list/model/retrain", params={"operator": "陈主任"}, headers=OPERATOR)
    assert started.status_code == 202, started.text
    again = await a.post("/v1/admission-list/model/retrain", params={"operator": "陈主任"}, headers=OPERATOR)
    assert again.status_code in (202, 409)  # 409 while the first run goes on

    async def retrained() -> dict | None:
        view = (await a.get("/v1/admission-list/model", headers=OPERATOR)).json()
        return view if not view["retraining"] and view["last_retraining"] else None

    outcome = (await wait_for(retrained, timeout=300, interval=0.5, what="retraining"))["last_retraining"]
    assert outcome["accepted"], outcome
    assert outcome["list_version"] == new_list and outcome["corrections"] >= len(S31_CORRECTIONS)
    assert set(outcome["before"]) >= {"item_accuracy", "misroute_rate", "triage_rate"} <= set(outcome["after"])
    new_model = outcome["model_version"]
    assert new_model != shipped_model

    async def b_follows_the_model() -> dict | None:
        view = (await b.get("/v1/admission-list/model", headers=OPERATOR)).json()
        return view if view["model_version"] == new_model else None

    view = await wait_for(b_follows_the_model, what="replica b on the retrained model")
    assert (view["trained_for"], view["list_version"]) == (new_list, new_list)

    case_id = (
        await stack["intake"].post("/v1/reports", json=report_body("院子出入口被共享单车堵死了", location=None))
    ).json()["case_id"]

    async def decided() -> dict | None:
        response = await a.get(f"/v1/decisions/{case_id}")
        return response.json() if response.status_code == 200 else None

    decision = await wait_for(decided, what="routing decision")
    assert (decision["list_version"], decision["model_version"]) == (new_list, new_model)
