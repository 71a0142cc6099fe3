"""The four services running in-process against the real Kafka and PostgreSQL of a test namespace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from gridloop.servicekit.clock import Clock
from tests.support.auth import ActingAsCaller
from tests.support.namespace import Namespace


@dataclass
class Services:
    intake: httpx.AsyncClient
    router: httpx.AsyncClient
    departments: httpx.AsyncClient
    notify: httpx.AsyncClient
    apps: dict[str, FastAPI]


def build_apps(
    ns: Namespace,
    *,
    notify_log: Path,
    overrides: dict[str, dict[str, Any]] | None = None,
    departments_clock: Clock | None = None,
) -> dict[str, FastAPI]:
    """The four apps; `departments_clock` lets a test move the departments' time (its deadlines and escalations)."""
    from services.departments.main import make_app as departments_app
    from services.departments.settings import DepartmentsSettings
    from services.intake.main import make_app as intake_app
    from services.intake.settings import IntakeSettings
    from services.notify.main import make_app as notify_app
    from services.notify.settings import NotifySettings
    from services.router.main import make_app as router_app
    from services.router.settings import RouterSettings

    overrides = overrides or {}

    def settings(cls: type, name: str, **extra: Any) -> Any:
        return cls(database_url=ns.database_urls[name], kafka=ns.kafka(), **extra, **overrides.get(name, {}))

    return {
        "intake": intake_app(settings(IntakeSettings, "intake")),
        "router": router_app(settings(RouterSettings, "router")),
        # Deadlines on calendar hours: these apps run at the wall clock's time, whose weekday or holiday must not decide
        # a test (the working calendar has tests of its own with fixed dates: test_departments_working_time.py).
        "departments": departments_app(
            settings(
                DepartmentsSettings,
                "departments",
                # settings() adds the test's overrides, which may set the calendar too
                **({} if "calendar" in overrides.get("departments", {}) else {"calendar": "round_the_clock"}),
                # no weekly report publishing (publishing.py has its own test): it renders last week's at every start
                **(
                    {}
                    if "publish_weekly_reports" in overrides.get("departments", {})
                    else {"publish_weekly_reports": False}
                ),
            ),
            clock=departments_clock,
        ),
        "notify": notify_app(
            settings(NotifySettings, "notify", log_channel_path=notify_log, delivery_poll_seconds=0.05)
        ),
    }


def started(app: FastAPI) -> LifespanManager:
    """An app's lifespan with the suite's timeouts: 180 s to start, as for the stack's processes (on a fresh clone
    the router trains the classifier at its first start, ~50 s on two cores), and 30 s to stop (stopping consumers
    and the relay outlasted asgi-lifespan's 5 s default on a busy machine)."""
    return LifespanManager(app, startup_timeout=180, shutdown_timeout=30)


@asynccontextmanager
async def running(apps: dict[str, FastAPI]) -> AsyncIterator[Services]:
    async with AsyncExitStack() as stack:
        clients = {}
        for name, app in apps.items():
            await stack.enter_async_context(started(app))
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url=f"http://{name}", auth=ActingAsCaller()
                )
            )
        yield Services(**clients, apps=apps)
