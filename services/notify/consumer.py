"""Notify consumes reported cases (who to tell) and status events (what to tell, and the case page's timeline)."""

from collections.abc import Callable
from datetime import timedelta
from functools import partial

from gridloop.auth.privacy import ResidentCipher
from gridloop.contracts.events import CaseReported, CaseStatusChanged
from gridloop.contracts.topics import CASES_REPORTED, CASES_STATUS
from gridloop.delivery.consumer import Batched, EventConsumer
from gridloop.servicekit.clock import Clock
from gridloop.servicekit.runtime import Runtime
from services.notify.handlers import on_statuses, remember_residents
from services.notify.templates import Templates


def resident_consumer(
    runtime: Runtime,
    *,
    templates: Templates,
    public_base_url: str,
    clock: Clock,
    feedback_timeout: timedelta,
    wake: Callable[[], None] | None = None,
    official_case_url: str = "",
    officials_wake: Callable[[], None] | None = None,
) -> EventConsumer:
    """`wake` (the delivery worker's) is called after a poll that made messages ready to send has committed."""
    deps = {"templates": templates, "public_base_url": public_base_url, "wake": wake}
    cipher: ResidentCipher = runtime.cipher
    return runtime.consumer(
        "gridloop.notify",
        [CASES_REPORTED, CASES_STATUS],
        {
            CaseReported: Batched(partial(remember_residents, **deps, cipher=cipher)),
            CaseStatusChanged: Batched(
                partial(
                    on_statuses,
                    **deps,
                    clock=clock,
                    feedback_timeout=feedback_timeout,
                    official_case_url=official_case_url,
                    officials_wake=officials_wake,
                )
            ),
        },
    )
