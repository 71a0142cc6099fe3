"""Router consumes reported cases, and returned ones from the status topic."""

from functools import partial

from gridloop.contracts.events import CaseReported, CaseStatusChanged
from gridloop.contracts.topics import CASES_REPORTED, CASES_STATUS
from gridloop.delivery.consumer import Batched, EventConsumer, Statuses
from gridloop.servicekit.runtime import Runtime
from services.router.handlers import ItemLookup, ReportClassifier, route_cases
from services.router.returns import RankingClassifier, reroute_returned_case
from services.router.tables import inbox


def routing_consumer(runtime: Runtime, *, classifier: ReportClassifier, admission_list: ItemLookup) -> EventConsumer:
    return EventConsumer(
        group="gridloop.router",
        topics=[CASES_REPORTED],
        handlers={
            CaseReported: Batched(
                partial(
                    route_cases,
                    classifier=classifier,
                    admission_list=admission_list,
                    cipher=runtime.cipher,
                    clock=runtime.clock,
                )
            )
        },
        db=runtime.db,
        inbox=inbox,
        kafka=runtime.settings.kafka,
        dlt_producer=runtime.producer_ready,
    )


def returns_consumer(runtime: Runtime, *, classifier: RankingClassifier, admission_list: ItemLookup) -> EventConsumer:
    return EventConsumer(
        group="gridloop.router.returns",
        topics=[CASES_STATUS],
        handlers={
            CaseStatusChanged: partial(
                reroute_returned_case,
                classifier=classifier,
                admission_list=admission_list,
                cipher=runtime.cipher,
                clock=runtime.clock,
            )
        },
        wants=Statuses("returned"),
        db=runtime.db,
        inbox=inbox,
        kafka=runtime.settings.kafka,
        dlt_producer=runtime.producer_ready,
    )
