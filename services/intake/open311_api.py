"""Open311 GeoReport v2 routes on intake (docs/open311.md): services, posting requests, reading them as the
public data policy allows. Formats, parsing, the policy and the queries are in `open311.py`."""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from gridloop.admission.admission_list import AdmissionList
from gridloop.auth.ratelimit import RATE_LIMITED
from gridloop.auth.tokens import api_key_principal
from gridloop.registry import Grid, NotInRegistry, Registry
from services.intake import metrics
from services.intake.deps import get_registry
from services.intake.handlers import ReportDesk, Submission, place_of_report
from services.intake.open311 import (
    SERVICE_NOTICE,
    Open311Error,
    Open311Reader,
    admission_item,
    check_format,
    form_fingerprint,
    idempotent_report_id,
    load_requests,
    one_request,
    parse_uuid,
    reader_for,
    render,
    render_error,
    report_from_form,
    request_conditions,
    request_entry,
    service_definition,
    service_entry,
)
from services.intake.registry import RegistryNotLoaded
from services.intake.settings import IntakeSettings


class Open311Route(APIRoute):
    """Turns Open311Error into the spec's error body, in the format the path asked for."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Open311Error as exc:
                return render_error(exc, request.path_params.get("fmt", "json"))

        return handle


router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route)


def _settings(request: Request) -> IntakeSettings:
    settings: IntakeSettings = request.app.state.runtime.settings
    return settings


def _reader(request: Request) -> Open311Reader:
    """Who reads (the `api_key` query parameter, optional), held to the public reads' rate: per API key, else per
    client address."""
    reader = reader_for(request.query_params.get("api_key"), _settings(request))
    client = request.client.host if request.client else "unknown"
    limiter = request.app.state.auth.public_read_limit
    wait = limiter.retry_after(reader.rate_key if reader.key_digest else f"ip:{client}")
    if wait > 0:
        RATE_LIMITED.labels(limiter.kind).inc()
        raise Open311Error(429, "too many requests; retry later", {"Retry-After": str(max(1, math.ceil(wait)))})
    return reader


def _grid_centre(request: Request) -> Callable[[str], Grid | None]:
    try:
        registry: Registry = request.app.state.registry.current
    except RegistryNotLoaded:  # no centre to fall back to: a request without coordinates shows none
        return lambda _grid_id: None

    def centre(grid_id: str) -> Grid | None:
        try:
            return registry.grid(grid_id)
        except NotInRegistry:
            return None

    return centre


def in_force(request: Request) -> AdmissionList:
    """The list in force in the router, as this replica last saw it (services/intake/admission_list.py)."""
    admission_list: AdmissionList = request.app.state.admission_list.current
    return admission_list


@router.get("/services.{fmt}")
async def get_services(fmt: str, request: Request) -> Response:
    """The items of the admission list in force as Open311 services (group = responsible department)."""
    items = in_force(request).items.values()
    return render([service_entry(i) for i in items], check_format(fmt), root="services", item="service")


@router.get("/services/{service_code}.{fmt}")
async def get_service_definition(service_code: str, fmt: str, request: Request) -> Response:
    fmt = check_format(fmt)
    return render(service_definition(admission_item(service_code, in_force(request))), fmt, root="service_definition")


@router.post("/requests.{fmt}")
async def post_request(fmt: str, request: Request) -> Response:
    """Create a case (form-encoded, with api_key); it is routed like any report."""
    fmt = check_format(fmt)
    settings = _settings(request)
    form = await request.form()
    api_key = form.get("api_key")
    if not isinstance(api_key, str) or api_key not in settings.open311_api_keys:
        raise Open311Error(403, "api_key is missing or invalid")
    principal = request.state.principal = api_key_principal(api_key)  # for the audit log
    request.app.state.auth.api_key_limit.check(api_key)  # 429 with Retry-After
    registry: Registry = await get_registry(request)  # 503 while the registry is not loaded
    report = report_from_form(
        form, settings=settings, registry=registry, admission_list=in_force(request), now=datetime.now(UTC)
    )
    fingerprint = None
    if idempotency_key := request.headers.get("Idempotency-Key", "").strip():
        if len(idempotency_key) > 255:
            raise Open311Error(400, "Idempotency-Key is longer than 255 characters")
        report = report.model_copy(
            update={"client_report_id": idempotent_report_id(principal.subject, idempotency_key)}
        )
        fingerprint = form_fingerprint(form)
    community_id = registry.grid(report.grid_id).community_id
    desk: ReportDesk = request.app.state.report_desk
    action = f"POST {request.scope['route'].path}"
    place = place_of_report(report, registry)
    accepted = await desk.submit(Submission(report, community_id, principal, action, place, fingerprint=fingerprint))
    request.state.audited = True
    if accepted.conflict:
        metrics.REPORTS_REJECTED.labels(reason="idempotency_conflict").inc()
        raise Open311Error(
            409,
            f"Idempotency-Key {idempotency_key!r} was used by this api_key for a different request "
            f"(service_request_id {accepted.case_id}); retry with the same fields, or use a new key",
        )
    if accepted.created:
        metrics.REPORTS_RECEIVED.labels(community=community_id).inc()
    else:
        metrics.REPORTS_DUPLICATE.inc()
    body = [{"service_request_id": str(accepted.case_id), "service_notice": SERVICE_NOTICE, "account_id": None}]
    return render(body, fmt, root="service_requests", item="request")


@router.get("/requests.{fmt}")
async def get_requests(fmt: str, request: Request) -> Response:
    """Requests by id list, or filtered by service_code, start_date/end_date (≤ 90 days) and status; only the
    items this reader may see."""
    fmt = check_format(fmt)
    reader = _reader(request)
    admission_list = in_force(request)
    conditions = request_conditions(request.query_params, reader, admission_list=admission_list, now=datetime.now(UTC))
    rows = await load_requests(request.app.state.runtime.db.engine, conditions)
    centre = _grid_centre(request)
    entries = [e for e in (request_entry(r, reader, centre, admission_list) for r in rows) if e is not None]
    return render(entries, fmt, root="service_requests", item="request")


@router.get("/requests/{service_request_id}.{fmt}")
async def get_request(service_request_id: str, fmt: str, request: Request) -> Response:
    """One request; a personal item's case is not found, exactly like a case that does not exist."""
    fmt = check_format(fmt)
    reader = _reader(request)
    case_id = parse_uuid(service_request_id)
    admission_list = in_force(request)
    query = one_request(case_id, reader, admission_list) if case_id else None
    rows = await load_requests(request.app.state.runtime.db.engine, query) if query else []
    entry = request_entry(rows[0], reader, _grid_centre(request), admission_list) if rows else None
    if entry is None:
        raise Open311Error(404, f"service_request_id {service_request_id} not found")
    return render([entry], fmt, root="service_requests", item="request")
