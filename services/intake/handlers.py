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
from gridloop.contracts.events import CaseReported, CaseStatusChanged, Place, ReceivedDetail, derived_event_id
from gridloop.contracts.topics import CASES_REPORTED, CASES_STATUS
from gridloop.delivery.consumer import Delivery
from gridloop.delivery.db import UnitOfWork
from gridloop.delivery.group_commit import GroupCommit
from gridloop.registry import Registry
from gridloop.registry.places import OutsideGrid, place_of
from gridloop.servicekit.clock import Clock
from gridloop.servicekit.runtime import Runtime
from services.intake.schemas import ReportIn
from services.intake.settings import IntakeSettings
from services.intake.tables import cases, timeline
from services.intake.worker_feed import FeedSignal, record_worker_updates

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
    # The same key came with a different body: nothing was stored, the caller gets 409 (not the stored case).
    conflict: bool = False


@dataclass(frozen=True)
class Submission:
    """A report as checked at the door: the grid's community in the registry it was checked against, where the case
    is by the boundaries (`place`), who posted it, and the action their audit entry names."""

    report: ReportIn
    community_id: str
    principal: Principal
    action: str
    place: Place
    outside_grid: OutsideGrid | None = None  # located outside the reported grid: flagged for operators
    # What the caller asked for, as the idempotency check compares it (`report_fingerprint`, or the Open311 form's).
    fingerprint: str | None = None

    @property
    def key(self) -> tuple[str, uuid.UUID]:
        """The idempotency key, scoped to its owner: the reporting worker and the report id it chose."""
        return self.report.worker_id, self.report.client_report_id


class ReportDesk:
    """Where routes hand in reports: the reports waiting at one moment are committed together (group commit of
    `accept_reports`); `submit` answers once its report's transaction committed."""

    def __init__(self) -> None:
        self._group: GroupCommit[Submission, Accepted] | None = None

    def open(self, runtime: Runtime, settings: IntakeSettings) -> None:
        self._group = GroupCommit(
            runtime.db,
            partial(accept_reports, cipher=runtime.cipher, clock=runtime.clock),
            key=lambda submission: submission.key,
            trace_key=lambda submission: str(case_id_for(*submission.key)),  # the key of the case's events
            name="intake_reports",
            max_group=settings.report_group_max,
            writers=settings.report_group_writers,
        )

    async def submit(self, submission: Submission) -> Accepted:
        if self._group is None:
            raise RuntimeError("the report desk is opened when the service starts")
        return await self._group.submit(submission)


def case_id_for(worker_id: str, client_report_id: uuid.UUID) -> uuid.UUID:
    """The case id is derived from the worker and the device's report id, so a retried post names the same case
    and another worker's post with the same report id is another case. (Cases reported before the key was scoped
    to the worker have `uuid5(client_report_id, "case")`; they are found by (worker, report id), never recomputed.)"""
    return uuid.uuid5(client_report_id, f"case:{worker_id}")


def report_fingerprint(report: ReportIn, cipher: ResidentCipher) -> str:
    """What a worker's report asks for, as the idempotency check compares it: a keyed digest of the whole body
    (keyed, since the body names a resident), so a retry must repeat it exactly."""
    return cipher.digest(report.model_dump_json())


class IdempotencyConflict(Exception):
    """The same idempotency key came with a different body."""

    def __init__(self, worker_id: str, client_report_id: uuid.UUID, case_id: uuid.UUID) -> None:
        super().__init__(
            f"client_report_id {client_report_id} of {worker_id} was accepted as case {case_id} with a different "
            "body; retry with the same body, or give a new report a new client_report_id"
        )
        self.case_id = case_id


def place_of_report(report: ReportIn, registry: Registry) -> Place:
    """Where the case is by the boundaries (what departments count it in); see `place_of`."""
    location = report.location
    if location is None:
        return place_of(registry, report.grid_id, None, None)
    return place_of(registry, report.grid_id, location.lat, location.lon)


async def accept_reports(
    submissions: list[Submission], uow: UnitOfWork, *, cipher: ResidentCipher, clock: Clock
) -> list[Accepted]:
    """Store reports as cases (the residents' contacts sealed), publish CaseReported + `received` for each new one
    (once per client_report_id) and write the audit entries: one statement per table for the whole list, which
    must not name a client_report_id twice (group commit keeps them apart)."""
    now = clock.now()  # the group's commit time is every report's reported_at
    rows = [_case_row(s, cipher=cipher, now=now) for s in submissions]
    inserted = set((await uow.conn.execute(_INSERT_CASE, rows)).scalars())
    earlier = {}
    if len(inserted) < len(rows):  # posted before under this worker's key: answer with the case as stored
        again = [(row["worker_id"], row["client_report_id"]) for row in rows if row["case_id"] not in inserted]
        query = sa.select(
            cases.c.worker_id,
            cases.c.client_report_id,
            cases.c.case_id,
            cases.c.tracking_token,
            cases.c.status,
            cases.c.request_fingerprint,
        ).where(sa.tuple_(cases.c.worker_id, cases.c.client_report_id).in_(again))
        earlier = {(row.worker_id, row.client_report_id): row for row in await uow.conn.execute(query)}
    accepted = []
    for submission, row in zip(submissions, rows, strict=True):
        if row["case_id"] in inserted:
            await _publish_new_case(uow, submission, row)
            accepted.append(Accepted(row["case_id"], row["tracking_token"], "received", created=True))
            continue
        stored = earlier[submission.key]
        # A case stored before fingerprints (None) cannot be compared: it is answered as the same report.
        conflict = stored.request_fingerprint not in (None, row["request_fingerprint"])
        token = "" if conflict else stored.tracking_token  # a conflicting caller never learns the token
        accepted.append(Accepted(stored.case_id, token, stored.status, created=False, conflict=conflict))
    await record_audits(
        uow.conn,
        [
            audit_entry(
                s.principal, s.action, case_id=a.case_id, status=409 if a.conflict else 202 if a.created else 200
            )
            for s, a in zip(submissions, accepted, strict=True)
        ],
    )
    return accepted


# No conflict target: the case id derives from the worker and report id, so a retry conflicts on both unique
# indexes. Naming only one of them made a retry racing its first post (two groups committing at once) fail on the
# other with a 500: PostgreSQL waits for the other insert, then raises on any unique index that is not the arbiter.
_INSERT_CASE = insert(cases).on_conflict_do_nothing().returning(cases.c.case_id)


def _case_row(submission: Submission, *, cipher: ResidentCipher, now: datetime) -> dict[str, Any]:
    report, community_id, outside = submission.report, submission.community_id, submission.outside_grid
    return {
        "case_id": case_id_for(report.worker_id, report.client_report_id),
        "client_report_id": report.client_report_id,
        "request_fingerprint": submission.fingerprint or report_fingerprint(report, cipher),
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
        "public_consent": report.public_consent,
        "resident": cipher.seal(report.resident.model_dump(mode="json")),
        "status": "received",
        "updated_at": now,
        "outside_grid_m": outside.metres if outside else None,
        "located_grid_id": outside.located_grid_id if outside else None,
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
        place=submission.place,
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
    # Ids from the case (worker and report id), not the report id alone: two workers' ids never meet.
    await uow.publish(received, CASES_STATUS, event_id=derived_event_id(row["case_id"], "received"))
    await uow.publish(reported, CASES_REPORTED, event_id=derived_event_id(row["case_id"], "reported"))


async def record_statuses(
    items: list[tuple[CaseStatusChanged, Delivery]], uow: UnitOfWork, *, feed: FeedSignal | None = None
) -> None:
    """Project a run of status events into the case timeline, the cases' current status and the reporting workers'
    feeds (worker_feed.py; `feed` wakes this process's streams once committed): one insert for the timeline rows,
    one batched update, one insert for the workers' updates, in event order (a later step never goes back in
    time)."""
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
    if await record_worker_updates(items, uow) and feed is not None:
        uow.after_commit(feed.notify)


_UPDATE_STATUS = (
    sa.update(cases)
    .where(cases.c.case_id == sa.bindparam("b_case_id"), cases.c.updated_at <= sa.bindparam("b_at"))
    .values(status=sa.bindparam("b_status"), updated_at=sa.bindparam("b_at"))
)
