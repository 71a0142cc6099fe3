"""Router consumes reported cases."""

from functools import partial

from gridloop.contracts.events import CaseReported
from gridloop.contracts.topics import CASES_REPORTED
from gridloop.delivery.consumer import EventConsumer
from gridloop.servicekit.runtime import Runtime
from services.router.handlers import Catalogue, Classifier, route_case
from services.router.tables import inbox


def routing_consumer(runtime: Runtime, *, classifier: Classifier, catalogue: Catalogue) -> EventConsumer:
    return EventConsumer(
        group="gridloop.router",
        topics=[CASES_REPORTED],
        handlers={CaseReported: partial(route_case, classifier=classifier, catalogue=catalogue)},
        db=runtime.db,
        inbox=inbox,
        kafka=runtime.settings.kafka,
        dlt_producer=runtime.producer_ready,
    )
