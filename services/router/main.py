"""Composition root of the router service."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from gridloop.admission.catalogue import default_admission_list
from gridloop.admission.classifier import Classifier, default_classifier
from gridloop.delivery.db import Database
from gridloop.servicekit.app import create_app
from gridloop.servicekit.runtime import Runtime
from gridloop.servicekit.serve import serve
from services.router.api import router
from services.router.collectors import refresh_gauges
from services.router.consumer import returns_consumer, routing_consumer
from services.router.settings import RouterSettings, get_settings
from services.router.tables import outbox


async def build(settings: RouterSettings, *, classifier: Classifier | None = None) -> Runtime:
    db = Database(settings.database_url, outbox=outbox, source="/gridloop/router", pool_size=settings.db_pool_size)
    runtime = Runtime("router", settings, db)
    classifier = classifier or default_classifier()
    runtime.add_consumer(routing_consumer(runtime, classifier=classifier, catalogue=default_admission_list()))
    runtime.add_consumer(returns_consumer(runtime, classifier=classifier, catalogue=default_admission_list()))
    runtime.add_task(partial(refresh_gauges, db), "gauges")
    return runtime


def make_app(settings: RouterSettings | None = None, *, classifier: Classifier | None = None) -> FastAPI:
    """The router app; tests may pass their own classifier (default: the trained admission classifier)."""
    return create_app(
        name="router",
        settings=settings or get_settings(),
        build=partial(build, classifier=classifier),
        routers=[router],
        title="GridLoop router",
    )


def run(argv: list[str]) -> int:
    return serve(make_app, get_settings())
