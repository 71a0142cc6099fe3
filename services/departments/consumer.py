"""Departments consume their three topics (one consumer group for all) and the case status topic."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from gridloop.contracts.events import CaseDispatched, CaseStatusChanged
from gridloop.contracts.topics import CASES_STATUS, DEPARTMENT_TOPICS
from gridloop.delivery.consumer import Batched, Delivery, EventConsumer, Statuses
from gridloop.delivery.db import UnitOfWork
from gridloop.servicekit.runtime import Runtime
from services.departments.handlers import receive_dispatches, record_feedback
from services.departments.reopen import reopen_work_item
from services.departments.working_time import Deadlines

StatusHandler = Callable[[CaseStatusChanged, UnitOfWork, Delivery], Awaitable[None]]

# Status steps made elsewhere that the departments act on; every other step is skipped.
STATUSES = ("feedback_received", "reopened")


def status_handlers(deadlines: Deadlines) -> dict[str, StatusHandler]:
    return {"feedback_received": record_feedback, "reopened": partial(reopen_work_item, deadlines=deadlines)}


def dispatch_consumer(runtime: Runtime, deadlines: Deadlines) -> EventConsumer:
    return runtime.consumer(
        "gridloop.departments",
        list(DEPARTMENT_TOPICS.values()),
        {CaseDispatched: Batched(partial(receive_dispatches, deadlines=deadlines))},
    )


async def on_status_changed(
    event: CaseStatusChanged, uow: UnitOfWork, delivery: Delivery, *, handlers: dict[str, StatusHandler]
) -> None:
    handler = handlers.get(event.status)
    if handler is not None:
        await handler(event, uow, delivery)


def status_consumer(runtime: Runtime, deadlines: Deadlines) -> EventConsumer:
    return runtime.consumer(
        "gridloop.departments.status",
        [CASES_STATUS],
        {CaseStatusChanged: partial(on_status_changed, handlers=status_handlers(deadlines))},
        wants=Statuses(*STATUSES),
    )
