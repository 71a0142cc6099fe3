"""Open311 GeoReport v2 on the intake service: the admission list as services, and cases as service requests.

A request posted here becomes a case through the report desk (`accept_reports`), reported by a configured
pseudo-worker on the grid whose centre is nearest to the given coordinates, so it is routed like any grid worker's
report. Every endpoint answers in JSON or XML (by the path's extension) and reports errors in the spec's format.
"""

from __future__ import annotations

import json
import math
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine, Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.datastructures import FormData

from gridloop.admission.admission_list import AdmissionItem, default_admission_list
from gridloop.admission.lexicon import KEYWORDS
from gridloop.auth.tokens import api_key_principal
from gridloop.contracts.events import Location, ResidentContact
from gridloop.contracts.topics import DEPARTMENT_NAMES_ZH
from gridloop.registry import Grid, Registry
from services.intake import metrics
from services.intake.deps import get_registry
from services.intake.handlers import ReportDesk, Submission
from services.intake.schemas import ReportIn
from services.intake.settings import IntakeSettings
from services.intake.tables import cases, timeline

CHINA = timezone(timedelta(hours=8))
FORMATS = frozenset({"json", "xml"})
CLOSED_STATUSES = frozenset({"resolved", "closed", "not_admitted"})
MAX_RANGE = timedelta(days=90)  # the spec's default window and longest search range
MAX_RESULTS = 1000
NO_PHONE = "19900000000"  # placeholder contact for a requester who gave no mainland mobile: never messaged by SMS
SERVICE_NOTICE = "已受理，将依据社区工作准入清单分拨至责任部门办理"


class Open311Error(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class Open311Route(APIRoute):
    """Turns Open311Error into the spec's error body, in the format the path asked for."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Open311Error as exc:
                fmt = request.path_params.get("fmt", "json")
                body = [{"code": exc.code, "description": exc.description}]
                return render(body, fmt if fmt in FORMATS else "json", root="errors", item="error", status=exc.code)

        return handle


router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route)


# ---- rendering ----------------------------------------------------------------------------------------------


def render(data: Any, fmt: str, *, root: str, item: str | None = None, status: int = 200) -> Response:
    if fmt == "json":
        return Response(json.dumps(data, ensure_ascii=False), status_code=status, media_type="application/json")
    element = ET.Element(root)
    for entry in data if item else [data]:
        _fill(ET.SubElement(element, item) if item else element, entry)
    body = ET.tostring(element, encoding="utf-8", xml_declaration=True)
    return Response(body, status_code=status, media_type="text/xml; charset=utf-8")


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    elif isinstance(value, list):
        singular = {"attributes": "attribute", "values": "value"}.get(element.tag, "item")
        for child in value:
            _fill(ET.SubElement(element, singular), child)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(404, f"unknown format {fmt!r}: use .json or .xml")
    return fmt


def _w3c(at: datetime | None) -> str | None:
    return at.astimezone(CHINA).isoformat(timespec="seconds") if at else None


# ---- services ---------------------------------------------------------------------------------------------


def service_entry(item: AdmissionItem) -> dict[str, Any]:
    return {
        "service_code": item.code,
        "service_name": item.name_zh,
        "description": item.scope_zh,
        "metadata": False,
        "type": "realtime",
        "keywords": ",".join(KEYWORDS.get(item.code, ())),
        "group": DEPARTMENT_NAMES_ZH.get(item.department, item.department),
    }


def service_definition(item: AdmissionItem) -> dict[str, Any]:
    """No input is required beyond the standard fields; two informational attributes describe the item."""
    department = DEPARTMENT_NAMES_ZH.get(item.department, item.department)
    informational = [("SCOPE", item.scope_zh), ("DEADLINE", f"由{department}办理，办结时限 {item.resolve_hours} 小时")]
    return {
        "service_code": item.code,
        "attributes": [
            {
                "variable": False,
                "code": code,
                "datatype": "text",
                "required": False,
                "datatype_description": None,
                "order": order,
                "description": text,
                "values": [],
            }
            for order, (code, text) in enumerate(informational, start=1)
        ],
    }


def _item(code: str) -> AdmissionItem:
    item = default_admission_list().get(code)
    if item is None:
        raise Open311Error(404, f"service_code {code} not found")
    return item


@router.get("/services.{fmt}")
async def get_services(fmt: str) -> Response:
    """The 63 items of the admission list as Open311 services (group = responsible department)."""
    items = default_admission_list().items.values()
    return render([service_entry(i) for i in items], _format(fmt), root="services", item="service")


@router.get("/services/{service_code}.{fmt}")
async def get_service_definition(service_code: str, fmt: str) -> Response:
    fmt = _format(fmt)
    return render(service_definition(_item(service_code)), fmt, root="service_definition")


# ---- posting a request ------------------------------------------------------------------------------------


@router.post("/requests.{fmt}")
async def post_request(fmt: str, request: Request) -> Response:
    """Create a case (form-encoded, with api_key); it is routed like any report."""
    fmt = _format(fmt)
    settings: IntakeSettings = request.app.state.runtime.settings
    form = await request.form()
    api_key = form.get("api_key")
    if not isinstance(api_key, str) or api_key not in settings.open311_api_keys:
        raise Open311Error(403, "api_key is missing or invalid")
    principal = request.state.principal = api_key_principal(api_key)  # for the audit log
    request.app.state.auth.api_key_limit.check(api_key)  # 429 with Retry-After
    registry: Registry = await get_registry(request)  # 503 while the registry is not loaded
    report = report_from_form(form, settings=settings, registry=registry, now=datetime.now(UTC))
    community_id = registry.grid(report.grid_id).community_id
    desk: ReportDesk = request.app.state.report_desk
    accepted = await desk.submit(Submission(report, community_id, principal, f"POST {request.scope['route'].path}"))
    request.state.audited = True
    metrics.REPORTS_RECEIVED.labels(community=community_id).inc()
    body = [{"service_request_id": str(accepted.case_id), "service_notice": SERVICE_NOTICE, "account_id": None}]
    return render(body, fmt, root="service_requests", item="request")


def report_from_form(form: FormData, *, settings: IntakeSettings, registry: Registry, now: datetime) -> ReportIn:
    """The Open311 fields as a report of the Open311 pseudo-worker; Open311Error(400/404) if they do not fit."""
    field = {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}
    code = field.get("service_code")
    if not code:
        raise Open311Error(400, "service_code is required")
    item = _item(code)
    address = field.get("address_string") or None
    if field.get("lat") or field.get("long"):
        grid = _grid_near(_coordinate(field, "lat", 90), _coordinate(field, "long", 180), registry, settings)
        location = Location(lat=float(field["lat"]), lon=float(field["long"]), address=address)
    elif address:
        grid = registry.grid(settings.open311_fallback_grid) if settings.open311_fallback_grid else registry.grids[0]
        location = Location(address=address[:300])
    else:
        raise Open311Error(400, "a location is required: lat and long, or address_string")
    media = field.get("media_url", "")
    try:
        return ReportIn(
            client_report_id=uuid.uuid4(),
            worker_id=settings.open311_worker_id,
            grid_id=grid.grid_id,
            description=field.get("description") or item.name_zh,
            item_hint=item.code,
            location=location,
            occurred_at=now,
            photo_urls=[media] if media.startswith(("http://", "https://")) else [],
            resident=_requester(field),
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise Open311Error(400, f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}") from None


def _coordinate(field: dict[str, str], name: str, bound: float) -> float:
    try:
        value = float(field.get(name, ""))
    except ValueError:
        raise Open311Error(400, f"{name} must be a decimal number (WGS84)") from None
    if not -bound <= value <= bound:
        raise Open311Error(400, f"{name} out of range")
    return value


def _grid_near(lat: float, lon: float, registry: Registry, settings: IntakeSettings) -> Grid:
    """The grid whose centre is nearest (equirectangular distance: exact enough inside one district)."""

    def km(grid: Grid) -> float:
        dx = math.radians(grid.lon - lon) * math.cos(math.radians(lat))
        return 6371.0 * math.hypot(dx, math.radians(grid.lat - lat))

    nearest = min(registry.grids, key=km)
    if km(nearest) > settings.open311_max_distance_km:
        raise Open311Error(400, "lat/long is outside the district served here")
    return nearest


def _requester(field: dict[str, str]) -> ResidentContact:
    """SMS if a mainland mobile is given, else e-mail if given, else no messages (placeholder number)."""
    name = (field.get("last_name", "") + field.get("first_name", "")).strip() or "Open311用户"
    phone = re.sub(r"[\s\-()]", "", field.get("phone", "")).removeprefix("+86")
    email = field.get("email") or None
    if re.fullmatch(r"1[3-9]\d{9}", phone):
        return ResidentContact(name=name[:50], phone=phone, channel="sms", email=email)
    if email:
        return ResidentContact(name=name[:50], phone=NO_PHONE, channel="email", email=email)
    return ResidentContact(name=name[:50], phone=NO_PHONE, channel="none", notify_consent=False)


# ---- reading requests -------------------------------------------------------------------------------------


@router.get("/requests.{fmt}")
async def get_requests(fmt: str, request: Request) -> Response:
    """Requests by id list, or filtered by service_code, start_date/end_date (≤ 90 days) and status."""
    fmt = _format(fmt)
    query = request.query_params
    ids = _split(query.get("service_request_id"))
    conditions: list[Any] = []
    if ids:  # the spec: ids override every other filter
        conditions.append(cases.c.case_id.in_([u for u in map(_uuid, ids) if u]))
    else:
        start, end = _window(query.get("start_date"), query.get("end_date"))
        conditions += [cases.c.reported_at >= start, cases.c.reported_at <= end]
        if codes := _split(query.get("service_code")):
            conditions.append(_service_code_expr().in_(codes))
        if statuses := _split(query.get("status")):
            if not set(statuses) <= {"open", "closed"}:
                raise Open311Error(400, "status must be open or closed")
            if set(statuses) != {"open", "closed"}:
                closed = cases.c.status.in_(CLOSED_STATUSES)
                conditions.append(closed if statuses[0] == "closed" else sa.not_(closed))
    rows = await _load(request, conditions)
    return render([request_entry(r, request) for r in rows], fmt, root="service_requests", item="request")


@router.get("/requests/{service_request_id}.{fmt}")
async def get_request(service_request_id: str, fmt: str, request: Request) -> Response:
    fmt = _format(fmt)
    case_id = _uuid(service_request_id)
    rows = await _load(request, [cases.c.case_id == case_id]) if case_id else []
    if not rows:
        raise Open311Error(404, f"service_request_id {service_request_id} not found")
    return render([request_entry(rows[0], request)], fmt, root="service_requests", item="request")


def _forwarded() -> Any:
    return (
        sa.select(timeline.c.item_code, timeline.c.department, timeline.c.at)
        .where(timeline.c.case_id == cases.c.case_id, timeline.c.status == "forwarded")
        .order_by(timeline.c.at.desc())
        .limit(1)
        .lateral("forwarded")
    )


_FORWARDED = _forwarded()


def _service_code_expr() -> Any:
    return sa.func.coalesce(_FORWARDED.c.item_code, cases.c.item_hint)


async def _load(request: Request, conditions: Iterable[Any]) -> list[sa.Row]:
    last_note = (
        sa.select(timeline.c.note)
        .where(timeline.c.case_id == cases.c.case_id)
        .order_by(timeline.c.at.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = (
        sa.select(
            cases,
            _service_code_expr().label("service_code"),
            _FORWARDED.c.department.label("forwarded_department"),
            _FORWARDED.c.at.label("forwarded_at"),
            last_note.label("status_notes"),
        )
        .select_from(cases.outerjoin(_FORWARDED, sa.true()))
        .where(*conditions)
        .order_by(cases.c.reported_at.desc())
        .limit(MAX_RESULTS)
    )
    async with request.app.state.runtime.db.engine.connect() as conn:
        return list((await conn.execute(query)).all())


def request_entry(row: sa.Row, request: Request) -> dict[str, Any]:
    settings: IntakeSettings = request.app.state.runtime.settings
    item = default_admission_list().get(row.service_code) if row.service_code else None
    routed = row.forwarded_department is not None and row.status not in {"returned", "triage", "not_admitted"}
    location = row.location or {}
    expected = row.forwarded_at + timedelta(hours=item.resolve_hours) if routed and item else None
    return {
        "service_request_id": str(row.case_id),
        "status": "closed" if row.status in CLOSED_STATUSES else "open",
        "status_notes": row.status_notes,
        "service_name": item.name_zh if item else None,
        "service_code": row.service_code,
        # A grid worker's own wording may name residents: only requests posted through Open311 show theirs.
        "description": row.description if row.worker_id == settings.open311_worker_id else None,
        "agency_responsible": DEPARTMENT_NAMES_ZH.get(row.forwarded_department) if routed else None,
        "service_notice": None,
        "requested_datetime": _w3c(row.reported_at),
        "updated_datetime": _w3c(row.updated_at),
        "expected_datetime": _w3c(expected),
        "address": location.get("address"),
        "address_id": None,
        "zipcode": None,
        "lat": location.get("lat"),
        "long": location.get("lon"),
        "media_url": row.photo_urls[0] if row.photo_urls else None,
    }


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _when(value: str, name: str) -> datetime:
    try:
        at = datetime.fromisoformat(re.sub(r" (\d{2}:?\d{2})$", r"+\1", value.strip()))  # an unencoded '+'
    except ValueError:
        raise Open311Error(400, f"{name} must be a W3C date-time, e.g. 2026-11-25T09:00:00+08:00") from None
    return at if at.tzinfo else at.replace(tzinfo=CHINA)


def _window(start_text: str | None, end_text: str | None) -> tuple[datetime, datetime]:
    start = _when(start_text, "start_date") if start_text else None
    end = _when(end_text, "end_date") if end_text else None
    if start is None and end is None:
        end = datetime.now(UTC)
    if start is None:
        start = end - MAX_RANGE
    if end is None:
        end = start + MAX_RANGE
    if start > end:
        raise Open311Error(400, "start_date is after end_date")
    if end - start > MAX_RANGE:
        raise Open311Error(400, "start_date to end_date may not span more than 90 days")
    return start, end
