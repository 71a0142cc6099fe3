"""Where a case counts travels with it: intake's place reaches departments unchanged through the router, and a
dispatch written before places falls back to the reported grid (no guess at a street)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gridloop.admission.admission_list import default_admission_list
from gridloop.contracts.events import CaseDispatched, Event, Location, Place
from services.departments.handlers import _work_item
from services.departments.working_time import ROUND_THE_CLOCK
from services.router.handlers import publish_outcome
from tests.support.reports import reported_event

PLACE = Place(grid_id="JN-G0044", community_id="JN-C005", street="西华街道", by="location")


@dataclass
class Decision:
    outcome: str = "admitted"
    item_code: str | None = "S02"
    department: str | None = "street_office"
    confidence: float = 0.9
    reason: str = ""
    runner_up: str | None = None
    features: Any = None
    list_version: str = "test"


class Unsealer:
    def open(self, sealed: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("a contact in clear is not opened")


@dataclass
class Outbox:
    published: list[Event] = field(default_factory=list)

    async def publish(self, event: Event, topic: str, *, event_id: uuid.UUID) -> None:
        self.published.append(event)


async def test_the_router_forwards_the_place_intake_decided() -> None:
    reported = reported_event(grid_id="JN-G0029", community_id="JN-C003", place=PLACE)
    outbox = Outbox()
    await publish_outcome(
        outbox,  # type: ignore[arg-type]
        reported,
        Decision(),
        admission_list=default_admission_list(),
        cipher=Unsealer(),  # type: ignore[arg-type]  # the contact is in clear: never opened
        source_event_id=uuid.uuid4(),
        now=datetime.now(UTC),
    )
    (dispatched,) = [e for e in outbox.published if isinstance(e, CaseDispatched)]
    assert dispatched.place == PLACE and dispatched.grid_id == "JN-G0029"  # the reported grid stays alongside


def _dispatched(**fields: Any) -> CaseDispatched:
    now = datetime.now(UTC)
    defaults: dict[str, Any] = {
        "case_id": uuid.uuid4(),
        "department": "street_office",
        "item_code": "S02",
        "item_name_zh": "路灯",
        "resolve_hours": 72,
        "confidence": 0.9,
        "list_version": "test",
        "description": "路灯不亮",
        "grid_id": "JN-G0029",
        "community_id": "JN-C003",
        "location": Location(lat=30.72, lon=104.02),
        "occurred_at": now,
        "reported_at": now,
        "dispatched_at": now,
        "resident_name_masked": "张*",
        "resident_phone_masked": "138****5678",
    }
    return CaseDispatched(**{**defaults, **fields})


def test_a_work_item_counts_in_the_place_not_the_reported_grid() -> None:
    row = _work_item(_dispatched(place=PLACE), ROUND_THE_CLOCK)
    assert (row["grid_id"], row["community_id"], row["street"]) == ("JN-G0044", "JN-C005", "西华街道")
    assert row["reported_grid_id"] == "JN-G0029"


def test_a_dispatch_written_before_places_counts_in_its_reported_grid_with_no_street() -> None:
    row = _work_item(_dispatched(), ROUND_THE_CLOCK)
    assert (row["grid_id"], row["community_id"], row["street"]) == ("JN-G0029", "JN-C003", "")
