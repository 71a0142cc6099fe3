"""Composition root of the departments service."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from gridloop.delivery.db import Database
from gridloop.servicekit.app import create_app
from gridloop.servicekit.runtime import Runtime
from gridloop.servicekit.serve import serve
from services.departments.api import router
from services.departments.collectors import refresh_gauges
from services.departments.consumer import dispatch_consumer
from services.departments.settings import DepartmentsSettings, get_settings
from services.departments.tables import outbox


async def build(settings: DepartmentsSettings) -> Runtime:
    db = Database(settings.database_url, outbox=outbox, source="/gridloop/departments", pool_size=settings.db_pool_size)
    runtime = Runtime("departments", settings, db)
    runtime.add_consumer(dispatch_consumer(runtime))
    runtime.add_task(partial(refresh_gauges, db), "gauges")
    return runtime


def make_app(settings: DepartmentsSettings | None = None) -> FastAPI:
    return create_app(
        name="departments",
        settings=settings or get_settings(),
        build=build,
        routers=[router],
        title="GridLoop departments",
    )


def run(argv: list[str]) -> int:
    return serve(make_app, get_settings())
