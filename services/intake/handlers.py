"""Intake's handlers: accept a worker's report as a case; project status events into the case timeline."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from gridloop.auth.privacy import ResidentCipher
from gridloop.contracts.events import CaseReported, CaseStatusChanged, derived_event_id
from gridloop.contracts.topics import CASES_REPORTED, CASES_STATUS
from gridloop.delivery.consumer import Delivery
from gridloop.delivery.db import UnitOfWork
from gridloop.registry import Registry
from services.intake.schemas import ReportIn
from services.intake.tables import cases, timeline

# Timeline steps that change a case's current status (warnings and notes do not).
STATE_CHANGING = frozenset(
    {
        "received",
        "forwarded",
        "not_admitted",
        "triage",
        "signed",
        "in_progress",
        "returned",
        "resolved",
        "reopened",
        "closed",
    }
)


@dataclass(frozen=True)
class Accepted:
    case_id: uuid.UUID
    tracking_token: str
    status: str
    created: bool


def case_id_for(client_report_id: uuid.UUID) -> uuid.UUID:
    """The case id is derived from the device's report id, so a retried post names the same case."""
    return uuid.uuid5(client_report_id, "case")


async def accept_report(
    report: ReportIn, *, uow: UnitOfWork, registry: Registry, cipher: ResidentCipher, now: datetime
) -> Accepted:
    """Store the report as a case (the resident's contact sealed) and publish CaseReported + `received`, once per
    client_report_id."""
    case_id = case_id_for(report.client_report_id)
    grid = registry.grid(report.grid_id)
    token = secrets.token_urlsafe(16)
    inserted = await uow.conn.scalar(
        insert(cases)
        .values(
            case_id=case_id,
            client_report_id=report.client_report_id,
            tracking_token=token,
            worker_id=report.worker_id,
            grid_id=report.grid_id,
            community_id=grid.community_id,
            description=report.description,
            item_hint=report.item_hint,
            location=report.location.model_dump(mode="json") if report.location else None,
            occurred_at=report.occurred_at,
            reported_at=now,
            photo_urls=[str(u) for u in report.photo_urls],
            resident=cipher.seal(report.resident.model_dump(mode="json")),
            status="received",
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["client_report_id"])
        .returning(cases.c.case_id)
    )
    if inserted is None:
        row = (await uow.conn.execute(sa.select(cases).where(cases.c.case_id == case_id))).one()
        return Accepted(case_id, row.tracking_token, row.status, created=False)
    reported = CaseReported(
        case_id=case_id,
        client_report_id=report.client_report_id,
        worker_id=report.worker_id,
        grid_id=report.grid_id,
        community_id=grid.community_id,
        description=report.description,
        item_hint=report.item_hint,
        location=report.location,
        occurred_at=report.occurred_at,
        reported_at=now,
        photo_urls=[str(u) for u in report.photo_urls],
        resident=report.resident,
        tracking_token=token,
    )
    received = CaseStatusChanged(
        case_id=case_id,
        status="received",
        at=now,
        actor="intake",
        note="网格员上报已受理",
        detail={"grid_id": report.grid_id, "community_id": grid.community_id},
    )
    # `received` first: the relay sends a case's events in outbox order, so the timeline starts with it.
    await uow.publish(received, CASES_STATUS, event_id=derived_event_id(report.client_report_id, "received"))
    await uow.publish(reported, CASES_REPORTED, event_id=derived_event_id(report.client_report_id, "reported"))
    return Accepted(case_id, token, "received", created=True)


async def record_statuses(items: list[tuple[CaseStatusChanged, Delivery]], uow: UnitOfWork) -> None:
    """Project a run of status events into the case timeline and the cases' current status: one insert for the
    timeline rows and one batched update, in event order (a later step never goes back in time)."""
    await uow.conn.execute(
        insert(timeline).on_conflict_do_nothing(index_elements=["event_id"]),
        [event.step_row(delivery.event_id) for event, delivery in items],
    )
    changes = [
        {"b_case_id": event.case_id, "b_status": event.status, "b_at": event.at}
        for event, _ in items
        if event.status in STATE_CHANGING
    ]
    if changes:
        await uow.conn.execute(_UPDATE_STATUS, changes)


_UPDATE_STATUS = (
    sa.update(cases)
    .where(cases.c.case_id == sa.bindparam("b_case_id"), cases.c.updated_at <= sa.bindparam("b_at"))
    .values(status=sa.bindparam("b_status"), updated_at=sa.bindparam("b_at"))
)
