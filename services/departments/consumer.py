"""Departments consume their three topics (one consumer group for all)."""

from gridloop.contracts.events import CaseDispatched
from gridloop.contracts.topics import DEPARTMENT_TOPICS
from gridloop.delivery.consumer import EventConsumer
from gridloop.servicekit.runtime import Runtime
from services.departments.handlers import receive_dispatch
from services.departments.tables import inbox


def dispatch_consumer(runtime: Runtime) -> EventConsumer:
    return EventConsumer(
        group="gridloop.departments",
        topics=list(DEPARTMENT_TOPICS.values()),
        handlers={CaseDispatched: receive_dispatch},
        db=runtime.db,
        inbox=inbox,
        kafka=runtime.settings.kafka,
        dlt_producer=runtime.producer_ready,
    )
