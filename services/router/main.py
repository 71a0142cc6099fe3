"""Composition root of the router service."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from gridloop.admission.admission_list import default_admission_list
from gridloop.admission.classifier import Classifier, default_classifier
from gridloop.admission.retraining import TrainingData
from gridloop.delivery.db import Database
from gridloop.servicekit.app import create_app
from gridloop.servicekit.runtime import Runtime
from gridloop.servicekit.serve import serve
from services.router.admission_list import (
    ActiveAdmissionList,
    ActiveModel,
    ListBoundClassifier,
    follow_active_list,
    load_active,
)
from services.router.admission_list_api import router as admission_list_router
from services.router.api import router
from services.router.collectors import REFRESH_SECONDS, refresh_gauges
from services.router.consumer import returns_consumer, routing_consumer
from services.router.operator_console import TriageCandidates
from services.router.operator_console_pages import operator_console_router
from services.router.retraining import RetrainingState
from services.router.retraining_api import router as retraining_router
from services.router.settings import RouterSettings, get_settings
from services.router.tables import inbox, outbox
from services.router.triage_api import router as triage_router


async def build(
    settings: RouterSettings,
    *,
    active: ActiveAdmissionList,
    model: ActiveModel,
    candidates: TriageCandidates,
    given: Classifier | None = None,
) -> Runtime:
    db = Database.for_service(settings, outbox=outbox, source="/gridloop/router")
    runtime = Runtime("router", settings, db, inbox=inbox)
    model.shipped = model.current = given or default_classifier()
    await load_active(active, db, model)
    classifier = ListBoundClassifier(model, active)  # decides with the model and the list in force
    candidates.classifier = classifier  # the operator console shows its ranking of triage cases
    routing_consumer(runtime, classifier=classifier, admission_list=active)
    returns_consumer(runtime, classifier=classifier, admission_list=active)
    runtime.every(REFRESH_SECONDS, partial(refresh_gauges, db), "gauges")
    runtime.every(
        settings.admission_list_check_seconds, partial(follow_active_list, active, db, model), "admission-list"
    )
    return runtime


def make_app(
    settings: RouterSettings | None = None,
    *,
    classifier: Classifier | None = None,
    training: TrainingData | None = None,
) -> FastAPI:
    """The router app; tests may pass their own classifier (default: the trained admission classifier) and the
    examples retraining uses (default: the shipped splits)."""
    settings = settings or get_settings()
    active = ActiveAdmissionList(default_admission_list())
    model = ActiveModel(classifier)
    candidates = TriageCandidates()
    console_router, console = operator_console_router(settings, candidates)
    app = create_app(
        name="router",
        settings=settings,
        build=partial(build, active=active, model=model, candidates=candidates, given=classifier),
        routers=[router, triage_router, admission_list_router, retraining_router, console_router],
        title="GridLoop router",
    )
    console.mount(app)
    app.state.admission_list = active
    app.state.model = model
    app.state.retraining = RetrainingState(data=training or TrainingData())
    return app


def run(argv: list[str]) -> int:
    return serve(make_app, get_settings())
