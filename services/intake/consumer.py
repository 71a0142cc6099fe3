"""Intake consumes the status topic to keep each case's timeline and tell the reporting worker every outcome."""

from functools import partial

from gridloop.contracts.events import CaseStatusChanged
from gridloop.contracts.topics import CASES_STATUS
from gridloop.delivery.consumer import Batched, EventConsumer
from gridloop.servicekit.runtime import Runtime
from services.intake.handlers import record_statuses
from services.intake.worker_feed import FeedSignal


def timeline_consumer(runtime: Runtime, *, feed: FeedSignal | None = None) -> EventConsumer:
    """`feed` wakes the workers' open streams after a poll that told them something has committed."""
    return runtime.consumer(
        "gridloop.intake.timeline", [CASES_STATUS], {CaseStatusChanged: Batched(partial(record_statuses, feed=feed))}
    )
