"""Composition root of the intake service."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from gridloop.delivery.db import Database
from gridloop.servicekit.app import create_app
from gridloop.servicekit.runtime import Runtime
from gridloop.servicekit.serve import serve
from services.intake.api import router
from services.intake.consumer import timeline_consumer
from services.intake.handlers import ReportDesk
from services.intake.open311 import router as open311_router
from services.intake.registry import ManagedRegistry
from services.intake.registry_api import router as registry_router
from services.intake.settings import IntakeSettings, get_settings
from services.intake.tables import outbox
from services.intake.worker_app_pages import worker_app_router, worker_console


async def build(settings: IntakeSettings, *, registry: ManagedRegistry, desk: ReportDesk) -> Runtime:
    db = Database.for_service(settings, outbox=outbox, source="/gridloop/intake")
    runtime = Runtime("intake", settings, db)
    desk.open(runtime)
    await registry.try_load(db)
    runtime.add_consumer(timeline_consumer(runtime))
    runtime.add_task(partial(registry.follow, db, settings.registry_check_seconds), "registry")
    return runtime


def make_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    registry, desk = ManagedRegistry(), ReportDesk()
    app = create_app(
        name="intake",
        settings=settings,
        build=partial(build, registry=registry, desk=desk),
        routers=[router, registry_router, open311_router, worker_app_router(settings)],
        title="GridLoop intake",
        larger_bodies={"/app/photos": settings.photo_max_bytes + 64 * 1024},  # a photo and its form fields
    )
    worker_console(settings).mount(app)
    app.state.registry = registry
    app.state.report_desk = desk
    return app


def run(argv: list[str]) -> int:
    return serve(make_app, get_settings())
