"""Notify consumes reported cases (who to tell) and status events (what to tell)."""

from functools import partial

from gridloop.contracts.events import CaseReported, CaseStatusChanged
from gridloop.contracts.topics import CASES_REPORTED, CASES_STATUS
from gridloop.delivery.consumer import EventConsumer
from gridloop.servicekit.runtime import Runtime
from services.notify.handlers import notify_resident, remember_resident
from services.notify.tables import inbox
from services.notify.templates import Templates


def resident_consumer(runtime: Runtime, *, templates: Templates, public_base_url: str) -> EventConsumer:
    deps = {"templates": templates, "public_base_url": public_base_url}
    return EventConsumer(
        group="gridloop.notify",
        topics=[CASES_REPORTED, CASES_STATUS],
        handlers={
            CaseReported: partial(remember_resident, **deps),
            CaseStatusChanged: partial(notify_resident, **deps),
        },
        db=runtime.db,
        inbox=inbox,
        kafka=runtime.settings.kafka,
        dlt_producer=runtime.producer_ready,
    )
