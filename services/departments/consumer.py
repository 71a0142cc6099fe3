"""Departments consume their three topics (one consumer group for all)."""

from gridloop.contracts.events import CaseDispatched, CaseStatusChanged
from gridloop.contracts.topics import CASES_STATUS, DEPARTMENT_TOPICS
from gridloop.delivery.consumer import EventConsumer
from gridloop.servicekit.runtime import Runtime
from services.departments.handlers import receive_dispatch
from services.departments.reopen import reopen_work_item
from services.departments.tables import inbox


def dispatch_consumer(runtime: Runtime) -> EventConsumer:
    return EventConsumer(
        group="gridloop.departments",
        topics=[*DEPARTMENT_TOPICS.values(), CASES_STATUS],
        handlers={CaseDispatched: receive_dispatch, CaseStatusChanged: reopen_work_item},
        db=runtime.db,
        inbox=inbox,
        kafka=runtime.settings.kafka,
        dlt_producer=runtime.producer_ready,
    )
