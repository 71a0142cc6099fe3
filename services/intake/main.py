"""Composition root of the intake service."""

from __future__ import annotations

from functools import partial

import httpx
from fastapi import FastAPI

from gridloop.admission.admission_list import default_admission_list
from gridloop.auth.credentials import Credentials
from gridloop.delivery.db import Database
from gridloop.servicekit.app import create_app
from gridloop.servicekit.runtime import Runtime
from gridloop.servicekit.serve import serve
from gridloop.servicekit.settings import DEV_ENVS
from services.intake.admission_list import RouterAdmissionList
from services.intake.api import router
from services.intake.consumer import timeline_consumer
from services.intake.handlers import ReportDesk
from services.intake.open311_api import router as open311_router
from services.intake.registry import ManagedRegistry
from services.intake.registry_api import router as registry_router
from services.intake.settings import IntakeSettings, get_settings
from services.intake.tables import inbox, outbox
from services.intake.worker_app_pages import worker_app_router, worker_console
from services.intake.worker_feed import FeedSignal
from services.intake.worker_feed_api import router as worker_feed_router


async def build(
    settings: IntakeSettings,
    *,
    registry: ManagedRegistry,
    desk: ReportDesk,
    feed: FeedSignal,
    admission_list: RouterAdmissionList,
    router_client: httpx.AsyncClient | None,
) -> Runtime:
    db = Database.for_service(settings, outbox=outbox, source="/gridloop/intake")
    runtime = Runtime("intake", settings, db, inbox=inbox)
    desk.open(runtime, settings)
    await registry.try_load(db)
    timeline_consumer(runtime, feed=feed)
    runtime.every(settings.registry_check_seconds, partial(registry.check, db), "registry")
    if router_client is None and settings.router_url:  # signed in with the shared key as a low-privilege caller
        headers = Credentials(settings.auth).headers("worker", "service:intake")
        router_client = httpx.AsyncClient(base_url=settings.router_url, headers=headers, timeout=5.0)
    if router_client is not None:  # a failed check keeps the list in force (counted, logged once)
        runtime.every(
            settings.admission_list_check_seconds, partial(admission_list.refresh, router_client), "admission-list"
        )
    return runtime


def make_app(settings: IntakeSettings | None = None, *, router_client: httpx.AsyncClient | None = None) -> FastAPI:
    """The intake app; `router_client` is how it asks the router for the admission list in force (tests pass a
    client on the router app; default: `router_url`)."""
    settings = settings or get_settings()
    registry, desk, feed = ManagedRegistry(seed=seeds_generated_district(settings)), ReportDesk(), FeedSignal()
    admission_list = RouterAdmissionList(default_admission_list())
    app = create_app(
        name="intake",
        settings=settings,
        build=partial(
            build, registry=registry, desk=desk, feed=feed, admission_list=admission_list, router_client=router_client
        ),
        routers=[router, registry_router, open311_router, worker_feed_router, worker_app_router(settings)],
        title="GridLoop intake",
        larger_bodies={
            "/v1/registry/imports": settings.registry_import_max_bytes,
            "/app/photos": settings.photo_max_bytes + 64 * 1024,  # a photo and its form fields
        },
    )
    worker_console(settings).mount(app)
    app.state.registry = registry
    app.state.report_desk = desk
    app.state.worker_feed = feed
    app.state.admission_list = admission_list
    return app


def seeds_generated_district(settings: IntakeSettings) -> bool:
    """Development and tests start from the generated district (unless `seed_registry` is false); production only
    ever from an import."""
    return settings.env in DEV_ENVS and settings.seed_registry is not False


def run(argv: list[str]) -> int:
    return serve(make_app, get_settings())
