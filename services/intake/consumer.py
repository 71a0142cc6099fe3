"""Intake consumes the status topic to keep each case's timeline."""

from gridloop.contracts.events import CaseStatusChanged
from gridloop.contracts.topics import CASES_STATUS
from gridloop.delivery.consumer import Batched, EventConsumer
from gridloop.servicekit.runtime import Runtime
from services.intake.handlers import record_statuses
from services.intake.tables import inbox


def timeline_consumer(runtime: Runtime) -> EventConsumer:
    return EventConsumer(
        group="gridloop.intake.timeline",
        topics=[CASES_STATUS],
        handlers={CaseStatusChanged: Batched(record_statuses)},
        db=runtime.db,
        inbox=inbox,
        kafka=runtime.settings.kafka,
        dlt_producer=runtime.producer_ready,
    )
