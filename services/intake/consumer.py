"""Intake consumes the status topic to keep each case's timeline."""

from gridloop.contracts.events import CaseStatusChanged
from gridloop.contracts.topics import CASES_STATUS
from gridloop.delivery.consumer import Batched, EventConsumer
from gridloop.servicekit.runtime import Runtime
from services.intake.handlers import record_statuses


def timeline_consumer(runtime: Runtime) -> EventConsumer:
    return runtime.consumer("gridloop.intake.timeline", [CASES_STATUS], {CaseStatusChanged: Batched(record_statuses)})
