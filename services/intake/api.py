"""Intake's HTTP API: grid workers post reports with their own credentials; operators and the reporting worker
read a case's timeline; operators read a resident's contact (audited)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import AwareDatetime

from gridloop.auth.audit import record_audit
from gridloop.auth.privacy import ERASED_MARK
from gridloop.contracts.events import ResidentContact
from gridloop.registry import NotInRegistry, Registry
from gridloop.registry.places import OutsideGrid, check_place
from gridloop.servicekit.app import RuntimeDep
from services.intake import metrics, queries
from services.intake.admission_list import RouterAdmissionList
from services.intake.deps import (
    ActiveWorkerDep,
    AdmissionListDep,
    CipherDep,
    CurrentPrincipal,
    OperatorDep,
    RegistryDep,
    ReportDeskDep,
    WorkerLimitDep,
    check_worker_active,
)
from services.intake.handlers import IdempotencyConflict, Submission, place_of_report
from services.intake.schemas import CaseView, OutsideGridCase, ReportAccepted, ReportIn
from services.intake.settings import IntakeSettings

router = APIRouter(prefix="/v1", tags=["reports"])


def _unprocessable(field: str, message: str, value: object) -> HTTPException:
    metrics.REPORTS_REJECTED.labels(reason=field).inc()
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[{"loc": ["body", field], "msg": message, "type": "value_error", "input": value}],
    )


def check_against_registry(report: ReportIn, registry: Registry, admission_list: RouterAdmissionList) -> None:
    try:
        grid = registry.grid(report.grid_id)
    except NotInRegistry:
        raise _unprocessable("grid_id", f"unknown grid {report.grid_id}", report.grid_id) from None
    if not grid.active:
        message = f"grid {report.grid_id} is no longer in use (redrawn or merged): report on the grid in force"
        raise _unprocessable("grid_id", message, report.grid_id)
    try:
        registry.worker(report.worker_id)
    except NotInRegistry:
        raise _unprocessable("worker_id", f"unknown worker {report.worker_id}", report.worker_id) from None
    if report.item_hint is not None and report.item_hint not in admission_list:
        raise _unprocessable("item_hint", f"{report.item_hint} is not on the admission list", report.item_hint)
    if not registry.is_assigned(report.worker_id, report.grid_id):
        metrics.REPORTS_REJECTED.labels(reason="not_assigned").inc()
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"worker {report.worker_id} is not assigned to {report.grid_id}")


@router.post(
    "/reports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReportAccepted,
    responses={
        200: {"model": ReportAccepted, "description": "already accepted (this worker, same client_report_id and body)"},
        401: {"description": "no or bad credentials"},
        403: {"description": "not a worker, another worker's report, or a grid the worker is not assigned to"},
        409: {"description": "this worker's client_report_id was accepted with a different body"},
        413: {"description": "body too large"},
        429: {"description": "too many reports from this worker; see Retry-After"},
        503: {"description": "database unreachable or busy; retry after Retry-After seconds"},
    },
)
async def post_report(
    report: ReportIn,
    request: Request,
    response: Response,
    worker: ActiveWorkerDep,
    registry: RegistryDep,
    desk: ReportDeskDep,
    limit: WorkerLimitDep,
    admission_list: AdmissionListDep,
) -> ReportAccepted:
    if report.worker_id != worker.subject:
        metrics.REPORTS_REJECTED.labels(reason="other_worker").inc()
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"signed in as {worker.subject}, not {report.worker_id}")
    limit.check(worker.subject)
    check_against_registry(report, registry, admission_list)
    community_id = registry.grid(report.grid_id).community_id
    settings: IntakeSettings = request.app.state.runtime.settings
    outside = _outside_grid(report, registry, settings.place_tolerance_m)
    # Committed with the reports posted at the same moment; the audit entry in the same transaction.
    place = place_of_report(report, registry)
    accepted = await desk.submit(Submission(report, community_id, worker, "POST /v1/reports", place, outside))
    request.state.audited = True
    if accepted.conflict:
        metrics.REPORTS_REJECTED.labels(reason="idempotency_conflict").inc()
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            str(IdempotencyConflict(report.worker_id, report.client_report_id, accepted.case_id)),
        )
    if accepted.created:
        metrics.REPORTS_RECEIVED.labels(community=community_id).inc()
        if outside is not None:
            metrics.REPORTS_OUTSIDE_GRID.inc()
    else:
        metrics.REPORTS_DUPLICATE.inc()
        response.status_code = status.HTTP_200_OK
    return ReportAccepted(case_id=accepted.case_id, tracking_token=accepted.tracking_token, status=accepted.status)


def _outside_grid(report: ReportIn, registry: Registry, tolerance_m: float) -> OutsideGrid | None:
    location = report.location
    if location is None or location.lat is None or location.lon is None:
        return None
    return check_place(registry, report.grid_id, location.lat, location.lon, tolerance_m=tolerance_m)


@router.get(
    "/cases/outside-grid",
    response_model=list[OutsideGridCase],
    responses={403: {"description": "operators only"}},
)
async def list_cases_outside_grid(
    runtime: RuntimeDep,
    operator: OperatorDep,
    since: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[OutsideGridCase]:
    """Reports located outside the grid they name (beyond the GPS tolerance), newest first, for operators to check."""
    async with runtime.db.engine.connect() as conn:
        return await queries.cases_outside_grid(conn, since=since, limit=limit)


@router.get(
    "/cases/{case_id}",
    response_model=CaseView,
    responses={404: {"description": "no such case (or not reported by this worker)"}},
)
async def get_case(case_id: uuid.UUID, request: Request, runtime: RuntimeDep, caller: CurrentPrincipal) -> CaseView:
    """A case and its timeline: for operators, and for the worker who reported it (while still active)."""
    check_worker_active(caller, request.app.state.registry)
    if caller.role not in ("operator", "worker"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only operators and the reporting worker read cases here")
    async with runtime.db.engine.connect() as conn:
        case = await queries.case_with_timeline(
            conn, case_id, worker_id=caller.subject if caller.role == "worker" else None
        )
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"case {case_id} not found")
    return case


@router.get(
    "/cases/{case_id}/resident",
    response_model=ResidentContact,
    responses={404: {"description": "no such case"}, 410: {"description": "erased under the retention policy"}},
)
async def get_resident_contact(
    case_id: uuid.UUID, request: Request, runtime: RuntimeDep, operator: OperatorDep, cipher: CipherDep
) -> ResidentContact:
    """The resident's contact details in clear, for an operator who must call back; every read is audited."""
    async with runtime.db.engine.begin() as conn:
        stored = await queries.sealed_resident(conn, case_id)
        if stored is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"case {case_id} not found")
        if stored.get(ERASED_MARK):
            await record_audit(conn, operator, "read_resident_contact", case_id=case_id, status=410, request=request)
            raise HTTPException(status.HTTP_410_GONE, "居民联系方式已按保留期限删除")
        await record_audit(conn, operator, "read_resident_contact", case_id=case_id, status=200, request=request)
    return ResidentContact.model_validate(cipher.open(stored))
