"""Router's handlers: decide each reported case against the admission list and forward what is on it."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from gridloop.auth.privacy import ResidentCipher
from gridloop.contracts.events import (
    CaseDispatched,
    CaseReported,
    CaseStatusChanged,
    ForwardedDetail,
    RoutingDetail,
    derived_event_id,
    mask_name,
    mask_phone,
)
from gridloop.contracts.topics import CASES_STATUS, DEPARTMENT_NAMES_ZH, topic_for_department
from gridloop.delivery.consumer import Delivery
from gridloop.delivery.db import UnitOfWork
from gridloop.servicekit.clock import Clock
from services.router import metrics
from services.router.tables import cases, decisions


class DecisionView(Protocol):
    outcome: str
    item_code: str | None
    department: str | None
    confidence: float
    reason: str
    runner_up: str | None
    features: Any
    list_version: str


class ReportClassifier(Protocol):
    def classify(self, description: str, item_hint: str | None = None) -> DecisionView: ...


class ItemLookup(Protocol):
    def get(self, code: str) -> Any: ...


def stored_report(event: CaseReported, cipher: ResidentCipher) -> dict[str, Any]:
    """The reported case as the router keeps it for re-routing: the resident's contact sealed at rest (an event
    from before intake sealed contacts is sealed here)."""
    data = event.model_dump(mode="json")
    if data["resident"] is not None:
        data["resident_sealed"], data["resident"] = cipher.seal(data["resident"]), None
    return data


def load_report(stored: dict[str, Any]) -> CaseReported:
    if stored.get("resident_sealed") is None:  # stored by an earlier version: the sealed contact under "resident"
        stored = {**stored, "resident": None, "resident_sealed": stored["resident"]}
    return CaseReported.model_validate(stored)


async def route_cases(
    items: list[tuple[CaseReported, Delivery]],
    uow: UnitOfWork,
    *,
    classifier: ReportClassifier,
    admission_list: ItemLookup,
    cipher: ResidentCipher,
    clock: Clock,
) -> None:
    """Classify a run of reported cases; forward each to its department, or record why it is not forwarded.

    The run's cases and decisions are written with one batched statement each (in order, so a case reported
    twice in a run gets its rounds counted as one by one would)."""
    now = clock.now()
    await uow.conn.execute(
        _STORE_CASE,
        [{"case_id": e.case_id, "reported": stored_report(e, cipher), "received_at": now} for e, _ in items],
    )
    decided = []
    for event, delivery in items:
        decided.append((event, delivery, classifier.classify(event.description, event.item_hint)))
        # A classification is synchronous (~0.3 ms); a poll of 200 would hold the event loop for ~60 ms, and the
        # relay sending the previous poll's dispatches with it. Give the loop a turn after each one.
        await asyncio.sleep(0)
    await uow.conn.execute(
        _INSERT_DECISION, [_decision_row(e, d, decided_by="classifier", now=now) for e, _, d in decided]
    )
    for event, delivery, decision in decided:
        _count(decision)
        await publish_outcome(
            uow,
            event,
            decision,
            admission_list=admission_list,
            cipher=cipher,
            source_event_id=delivery.event_id,
            now=now,
        )


_store = insert(cases)
_STORE_CASE = _store.on_conflict_do_update(index_elements=["case_id"], set_={"reported": _store.excluded.reported})

# Rounds count decisions, not dispatches: an operator's triage decision and a later re-route each add one.
_INSERT_DECISION = (
    insert(decisions)
    .values(
        round=sa.select(sa.func.coalesce(sa.func.max(decisions.c.round), 0) + 1)
        .where(decisions.c.case_id == sa.bindparam("b_case_id"))
        .scalar_subquery()
    )
    .on_conflict_do_nothing(constraint="uq_decisions_case_round")
)


def _decision_row(event: CaseReported, decision: DecisionView, *, decided_by: str, now: datetime) -> dict[str, Any]:
    return {
        "case_id": event.case_id,
        "b_case_id": event.case_id,  # the same, for the round's subquery
        "outcome": decision.outcome,
        "item_code": decision.item_code,
        "department": decision.department,
        "confidence": decision.confidence,
        "reason": decision.reason,
        "reason_code": getattr(decision, "reason_code", None),
        "runner_up": decision.runner_up,
        "features": list(decision.features or []),
        "list_version": decision.list_version,
        "model_version": getattr(decision, "model_version", ""),
        "danger": list(getattr(decision, "danger", None) or []),
        "decided_by": decided_by,
        "decided_at": now,
    }


def _count(decision: DecisionView) -> None:
    metrics.DECISIONS.labels(decision.outcome, decision.department or "none", decision.item_code or "none").inc()
    metrics.CONFIDENCE.labels(decision.outcome).observe(decision.confidence)


async def record_decision(
    uow: UnitOfWork, event: CaseReported, decision: DecisionView, *, decided_by: str, now: datetime
) -> None:
    """One decision (an operator's, or a re-route's), as `route_cases` writes them."""
    await uow.conn.execute(_INSERT_DECISION, [_decision_row(event, decision, decided_by=decided_by, now=now)])
    _count(decision)


async def publish_outcome(
    uow: UnitOfWork,
    event: CaseReported,
    decision: DecisionView,
    *,
    admission_list: ItemLookup,
    cipher: ResidentCipher,
    source_event_id: Any,
    now: datetime,
) -> None:
    """Dispatch to the department topic plus a `forwarded` step, or a `not_admitted` / `triage` step."""
    status_id = derived_event_id(source_event_id, "routing-status")
    if decision.outcome != "admitted":
        not_admitted = decision.outcome == "not_admitted"
        note = decision.reason if not_admitted else "待人工分拨（分类置信度不足）"
        await uow.publish(
            CaseStatusChanged(
                case_id=event.case_id,
                status="not_admitted" if not_admitted else "triage",
                at=now,
                actor="router",
                note=note,
                detail=RoutingDetail(confidence=round(decision.confidence, 3)),
            ),
            CASES_STATUS,
            event_id=status_id,
        )
        return
    if decision.item_code is None:
        raise ValueError(f"an admitted decision for {event.case_id} names no item")
    item = admission_list.get(decision.item_code)
    department = item.department
    resident = event.contact(cipher.open)  # departments see it masked only
    dispatched = CaseDispatched(
        case_id=event.case_id,
        department=department,
        item_code=item.code,
        item_name_zh=item.name_zh,
        resolve_hours=item.resolve_hours,
        confidence=decision.confidence,
        list_version=decision.list_version,
        description=event.description,
        grid_id=event.grid_id,
        community_id=event.community_id,
        location=event.location,
        occurred_at=event.occurred_at,
        reported_at=event.reported_at,
        dispatched_at=now,
        resident_name_masked=mask_name(resident.name),
        resident_phone_masked=mask_phone(resident.phone),
        dispatch_no=event.returns + 1,
        photo_urls=event.photo_urls,
        place=event.place,  # where the case is by the boundaries, as intake placed it
    )
    forwarded = CaseStatusChanged(
        case_id=event.case_id,
        status="forwarded",
        at=now,
        actor="router",
        department=department,
        item_code=item.code,
        note=f"已转派至{DEPARTMENT_NAMES_ZH[department]}（{item.name_zh}）",
        detail=ForwardedDetail(item_name_zh=item.name_zh, resolve_hours=item.resolve_hours),
    )
    # `forwarded` first: the relay sends a case's events in outbox order, so the department cannot sign for the
    # case before its timeline says it was forwarded.
    await uow.publish(forwarded, CASES_STATUS, event_id=status_id)
    await uow.publish(
        dispatched, topic_for_department(department), event_id=derived_event_id(source_event_id, "dispatched")
    )
