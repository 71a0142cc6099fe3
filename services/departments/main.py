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
from services.departments.collectors import REFRESH_SECONDS, refresh_rate_counts
from services.departments.consumer import dispatch_consumer, status_consumer
from services.departments.publishing import PublishSchedule, WeeklyPublisher
from services.departments.rates import refresh_rate_gauges
from services.departments.settings import DepartmentsSettings, get_settings
from services.departments.sla import SlaScheduler
from services.departments.tables import inbox, outbox
from services.departments.weekly_api import router as reports_router
from services.departments.working_time import Deadlines
from services.departments.working_time_api import router as calendar_router


def deadlines_for(settings: DepartmentsSettings) -> Deadlines:
    return Deadlines(working=settings.calendar == "working", round_the_clock_items=settings.round_the_clock_items)


async def build(settings: DepartmentsSettings, *, clock: Clock, deadlines: Deadlines) -> Runtime:
    db = Database.for_service(settings, outbox=outbox, source="/gridloop/departments")
    runtime = Runtime("departments", settings, db, inbox=inbox, clock=clock)
    dispatch_consumer(runtime, deadlines)
    status_consumer(runtime, deadlines)
    runtime.every(REFRESH_SECONDS, partial(refresh_rate_counts, db), "gauges")
    runtime.every(settings.sla_scan_seconds, SlaScheduler(db, clock, deadlines).tick, "sla-scheduler")
    runtime.every(settings.rate_refresh_seconds, partial(refresh_rate_gauges, db, clock), "rate-gauges")
    if settings.publish_weekly_reports:
        schedule = PublishSchedule(settings.weekly_report_weekday, settings.weekly_report_hour)
        publisher = WeeklyPublisher(db, clock, schedule, settings.weekly_report_dir)
        runtime.every(settings.weekly_report_check_seconds, publisher.tick, "weekly-report")
    return runtime


def make_app(settings: DepartmentsSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The departments app; tests pass a clock they can move (routes and the SLA scheduler read it)."""
    clock = clock or SYSTEM_CLOCK
    settings = settings or get_settings()
    deadlines = deadlines_for(settings)
    console_router, console = clerk_console_router(settings)
    app = create_app(
        name="departments",
        settings=settings,
        build=partial(build, clock=clock, deadlines=deadlines),
        routers=[router, calendar_router, reports_router, console_router],
        title="GridLoop departments",
    )
    console.mount(app)
    app.state.clock = clock
    app.state.deadlines = deadlines
    return app


def run(argv: list[str]) -> int:
    return serve(make_app, get_settings())
