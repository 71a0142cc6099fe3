"""Router consumes reported cases, and returned ones from the status topic."""

from functools import partial

from gridloop.contracts.events import CaseReported, CaseStatusChanged
from gridloop.contracts.topics import CASES_REPORTED, CASES_STATUS
from gridloop.delivery.consumer import Batched, EventConsumer, Statuses
from gridloop.servicekit.runtime import Runtime
from services.router.handlers import ItemLookup, ReportClassifier, route_cases
from services.router.returns import RankingClassifier, reroute_returned_case


def routing_consumer(runtime: Runtime, *, classifier: ReportClassifier, admission_list: ItemLookup) -> EventConsumer:
    return runtime.consumer(
        "gridloop.router",
        [CASES_REPORTED],
        {
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
    )


def returns_consumer(runtime: Runtime, *, classifier: RankingClassifier, admission_list: ItemLookup) -> EventConsumer:
    return runtime.consumer(
        "gridloop.router.returns",
        [CASES_STATUS],
        {
            CaseStatusChanged: partial(
                reroute_returned_case,
                classifier=classifier,
                admission_list=admission_list,
                cipher=runtime.cipher,
                clock=runtime.clock,
            )
        },
        wants=Statuses("returned"),
    )
