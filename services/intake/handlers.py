"""Intake's handlers: accept a worker's report as a case; project status events into the case timeline."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from gridloop.auth.audit import audit_entry, record_audits
from gridloop.auth.privacy import ResidentCipher
from gridloop.auth.tokens import Principal
from gridloop.contracts.events import CaseReported, CaseStatusChanged, ReceivedDetail, derived_event_id
from gridloop.contracts.topics import CASES_REPORTED, CASES_STATUS
from gridloop.delivery.consumer import Delivery
from gridloop.delivery.db import UnitOfWork
from gridloop.delivery.group_commit import GroupCommit
from gridloop.servicekit.clock import Clock
from gridloop.servicekit.runtime import Runtime
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


@dataclass(frozen=True)
class Submission:
    """A report as checked at the door: the grid's community in the registry it was checked against, who posted
    it, and the action their audit entry names."""

    report: ReportIn
    community_id: str
    principal: Principal
    action: str


class ReportDesk:
    """Where routes hand in reports: the reports waiting at one moment are committed together (group commit of
    `accept_reports`); `submit` answers once its report's transaction committed."""

    def __init__(self) -> None:
        self._group: GroupCommit[Submission, Accepted] | None = None

    def open(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self._group = GroupCommit(
            runtime.db,
            partial(accept_reports, cipher=runtime.cipher, clock=runtime.clock),
            key=lambda submission: submission.report.client_report_id,
            name="intake_reports",
            max_group=settings.report_group_max,
            writers=settings.report_group_writers,
        )

    async def submit(self, submission: Submission) -> Accepted:
        if self._group is None:
            raise RuntimeError("the report desk is opened when the service starts")
        return await self._group.submit(submission)


def case_id_for(client_report_id: uuid.UUID) -> uuid.UUID:
    """The case id is derived from the device's report id, so a retried post names the same case."""
    return uuid.uuid5(client_report_id, "case")


async def accept_reports(
    submissions: list[Submission], uow: UnitOfWork, *, cipher: ResidentCipher, clock: Clock
) -> list[Accepted]:
    """Store reports as cases (the residents' contacts sealed), publish CaseReported + `received` for each new one
    (once per client_report_id) and write the audit entries: one statement per table for the whole list, which
    must not name a client_report_id twice (group commit keeps them apart)."""
    now = clock.now()  # the group's commit time is every report's reported_at
    rows = [_case_row(s.report, s.community_id, cipher=cipher, now=now) for s in submissions]
    inserted = set((await uow.conn.execute(_INSERT_CASE, rows)).scalars())
    earlier = {}
    if len(inserted) < len(rows):  # posted before: answer with the case as stored
        again = [row["case_id"] for row in rows if row["case_id"] not in inserted]
        query = sa.select(cases.c.case_id, cases.c.tracking_token, cases.c.status).where(cases.c.case_id.in_(again))
        earlier = {row.case_id: row for row in await uow.conn.execute(query)}
    accepted = []
    for submission, row in zip(submissions, rows, strict=True):
        if row["case_id"] in inserted:
            await _publish_new_case(uow, submission, row)
            accepted.append(Accepted(row["case_id"], row["tracking_token"], "received", created=True))
        else:
            stored = earlier[row["case_id"]]
            accepted.append(Accepted(stored.case_id, stored.tracking_token, stored.status, created=False))
    await record_audits(
        uow.conn,
        [
            audit_entry(s.principal, s.action, case_id=a.case_id, status=202 if a.created else 200)
            for s, a in zip(submissions, accepted, strict=True)
        ],
    )
    return accepted


_INSERT_CASE = insert(cases).on_conflict_do_nothing(index_elements=["client_report_id"]).returning(cases.c.case_id)


def _case_row(report: ReportIn, community_id: str, *, cipher: ResidentCipher, now: datetime) -> dict[str, Any]:
    return {
        "case_id": case_id_for(report.client_report_id),
        "client_report_id": report.client_report_id,
        "tracking_token": secrets.token_urlsafe(16),
        "worker_id": report.worker_id,
        "grid_id": report.grid_id,
        "community_id": community_id,
        "description": report.description,
        "item_hint": report.item_hint,
        "location": report.location.model_dump(mode="json") if report.location else None,
        "occurred_at": report.occurred_at,
        "reported_at": now,
        "photo_urls": [str(u) for u in report.photo_urls],
        "resident": cipher.seal(report.resident.model_dump(mode="json")),
        "status": "received",
        "updated_at": now,
    }


async def _publish_new_case(uow: UnitOfWork, submission: Submission, row: dict[str, Any]) -> None:
    report, now = submission.report, row["reported_at"]
    reported = CaseReported(
        case_id=row["case_id"],
        client_report_id=report.client_report_id,
        worker_id=report.worker_id,
        grid_id=report.grid_id,
        community_id=submission.community_id,
        description=report.description,
        item_hint=report.item_hint,
        location=report.location,
        occurred_at=report.occurred_at,
        reported_at=now,
        photo_urls=row["photo_urls"],
        resident_sealed=row["resident"],  # sealed as the case row stores it: no contact in clear on Kafka
        tracking_token=row["tracking_token"],
    )
    received = CaseStatusChanged(
        case_id=row["case_id"],
        status="received",
        at=now,
        actor="intake",
        note="网格员上报已受理",
        detail=ReceivedDetail(grid_id=report.grid_id, community_id=submission.community_id),
    )
    # `received` first: the relay sends a case's events in outbox order, so the timeline starts with it.
    await uow.publish(received, CASES_STATUS, event_id=derived_event_id(report.client_report_id, "received"))
    await uow.publish(reported, CASES_REPORTED, event_id=derived_event_id(report.client_report_id, "reported"))


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
