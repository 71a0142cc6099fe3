"""Composition root of the departments service."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from gridloop.delivery.db import Database
from gridloop.servicekit.app import create_app
from gridloop.servicekit.clock import SYSTEM_CLOCK, Clock
from gridloop.servicekit.runtime import Runtime
from gridloop.servicekit.serve import serve
from services.departments.api import router
from services.departments.clerk_console_pages import clerk_console_router
from services.departments.collectors import refresh_gauges
from services.departments.consumer import dispatch_consumer, status_consumer
from services.departments.rates import refresh_rate_gauges
from services.departments.settings import DepartmentsSettings, get_settings
from services.departments.sla import SlaScheduler
from services.departments.tables import outbox


async def build(settings: DepartmentsSettings, *, clock: Clock) -> Runtime:
    db = Database.for_service(settings, outbox=outbox, source="/gridloop/departments")
    runtime = Runtime("departments", settings, db, clock=clock)
    runtime.add_consumer(dispatch_consumer(runtime))
    runtime.add_consumer(status_consumer(runtime))
    runtime.add_task(partial(refresh_gauges, db), "gauges")
    runtime.add_task(SlaScheduler(db, clock, interval=settings.sla_scan_seconds).run, "sla-scheduler")
    runtime.add_task(partial(refresh_rate_gauges, db, clock, interval=settings.rate_refresh_seconds), "rate-gauges")
    return runtime


def make_app(settings: DepartmentsSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The departments app; tests pass a clock they can move (routes and the SLA scheduler read it)."""
    clock = clock or SYSTEM_CLOCK
    settings = settings or get_settings()
    console_router, console = clerk_console_router(settings)
    app = create_app(
        name="departments",
        settings=settings,
        build=partial(build, clock=clock),
        routers=[router, console_router],
        title="GridLoop departments",
    )
    console.mount(app)
    app.state.clock = clock
    return app


def run(argv: list[str]) -> int:
    return serve(make_app, get_settings())
