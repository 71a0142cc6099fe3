"""Departments consume their three topics (one consumer group for all) and the case status topic."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from gridloop.contracts.events import CaseDispatched, CaseStatusChanged
from gridloop.contracts.topics import CASES_STATUS, DEPARTMENT_TOPICS
from gridloop.delivery.consumer import Batched, Delivery, EventConsumer, Statuses
from gridloop.delivery.db import UnitOfWork
from gridloop.servicekit.runtime import Runtime
from services.departments.handlers import receive_dispatches, record_feedback
from services.departments.reopen import reopen_work_item

StatusHandler = Callable[[CaseStatusChanged, UnitOfWork, Delivery], Awaitable[None]]

# Status steps made elsewhere that the departments act on; every other step is skipped.
STATUS_HANDLERS: dict[str, StatusHandler] = {
    "feedback_received": record_feedback,
    "reopened": reopen_work_item,
}


def dispatch_consumer(runtime: Runtime) -> EventConsumer:
    return runtime.consumer(
        "gridloop.departments", list(DEPARTMENT_TOPICS.values()), {CaseDispatched: Batched(receive_dispatches)}
    )


async def on_status_changed(event: CaseStatusChanged, uow: UnitOfWork, delivery: Delivery) -> None:
    handler = STATUS_HANDLERS.get(event.status)
    if handler is not None:
        await handler(event, uow, delivery)


def status_consumer(runtime: Runtime) -> EventConsumer:
    return runtime.consumer(
        "gridloop.departments.status",
        [CASES_STATUS],
        {CaseStatusChanged: on_status_changed},
        wants=Statuses(*STATUS_HANDLERS),
    )
