"""Open311 GeoReport v2 on the intake service: the admission list as services, cases as service requests, and
what a reader may see of them. Formats, parsing, the public data policy and the queries live here; the routes
in `open311_api.py`.

A request posted through Open311 becomes a case through the report desk, reported by a configured pseudo-worker
on the grid whose boundary holds the given coordinates, so it is routed like any grid worker's report.

The public data policy (docs/open311.md): the cases of an item the admission list marks personal (police items,
domestic violence, mental health, missing persons, disputes, drugs, fraud, children and elders in need,
disability, a household's money) are never listed or fetchable without a partner key granted that item's
department; the cases of public items show the location rounded to about 100 m, no address, and their
description and photo only if the reporter agreed.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from fastapi import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import FormData

from gridloop.admission.admission_list import AdmissionItem, AdmissionList, default_admission_list
from gridloop.admission.lexicon import KEYWORDS
from gridloop.contracts.events import Location, ResidentContact
from gridloop.contracts.topics import DEPARTMENT_NAMES_ZH
from gridloop.registry import Grid, Registry
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
PUBLIC_DECIMALS = 3  # 0.001° is 111 m of latitude and 96 m of longitude at Chengdu: "about 100 m"
# The public sees a fixed note per status, never a department's or worker's own words (they name people).
PUBLIC_NOTES = {
    "received": "已受理",
    "triage": "正在确认责任部门",
    "forwarded": "已转派至责任部门",
    "signed": "责任部门已签收",
    "in_progress": "正在办理",
    "returned": "正在重新分拨",
    "resolved": "已办结",
    "reopened": "已重新办理",
    "closed": "已结案",
    "not_admitted": "不属于社区工作准入事项",
}
# Open311 form fields that are not part of the request itself (left out of its idempotency fingerprint).
NOT_THE_REQUEST = frozenset({"api_key"})


class Open311Error(Exception):
    def __init__(self, code: int, description: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.headers = dict(headers or {})


# ---- rendering ----------------------------------------------------------------------------------------------


def render(data: Any, fmt: str, *, root: str, item: str | None = None, status: int = 200) -> Response:
    if fmt == "json":
        return Response(json.dumps(data, ensure_ascii=False), status_code=status, media_type="application/json")
    element = ET.Element(root)
    for entry in data if item else [data]:
        _fill(ET.SubElement(element, item) if item else element, entry)
    body = ET.tostring(element, encoding="utf-8", xml_declaration=True)
    return Response(body, status_code=status, media_type="text/xml; charset=utf-8")


def render_error(error: Open311Error, fmt: str) -> Response:
    body = [{"code": error.code, "description": error.description}]
    response = render(body, fmt if fmt in FORMATS else "json", root="errors", item="error", status=error.code)
    response.headers.update(error.headers)
    return response


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


def check_format(fmt: str) -> str:
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


def admission_item(code: str) -> AdmissionItem:
    item = default_admission_list().get(code)
    if item is None:
        raise Open311Error(404, f"service_code {code} not found")
    return item


# ---- who reads: the public data policy ----------------------------------------------------------------------


@dataclass(frozen=True)
class Open311Reader:
    """Who reads requests: anonymous or an API key (`key_digest`), and the departments a partner key is granted
    (their items' cases in full, personal ones included). Everyone else gets the public view of public items."""

    key_digest: str | None = None
    departments: frozenset[str] = frozenset()

    def sees_in_full(self, item: AdmissionItem | None) -> bool:
        return item is not None and item.department in self.departments

    def visible_codes(self, admission_list: AdmissionList) -> frozenset[str]:
        granted = {code for code, item in admission_list.items.items() if item.department in self.departments}
        return admission_list.public_codes | granted

    @property
    def rate_key(self) -> str:
        return f"key:{self.key_digest}" if self.key_digest else "anonymous"


def reader_for(api_key: str | None, settings: IntakeSettings) -> Open311Reader:
    """The reader an `api_key` query parameter names; Open311Error(403) for a key that is neither a posting key
    nor a partner key (a wrong key must not silently read less)."""
    if not api_key:
        return Open311Reader()
    if api_key not in settings.open311_api_keys and api_key not in settings.open311_partner_keys:
        raise Open311Error(403, "api_key is invalid")
    digest = hashlib.sha256(api_key.encode()).hexdigest()[:12]
    return Open311Reader(digest, frozenset(settings.open311_partner_keys.get(api_key, ())))


def public_point(lat: float, lon: float) -> tuple[float, float]:
    """A location rounded to about 100 m: enough to find the street lamp, not the household."""
    return round(lat, PUBLIC_DECIMALS), round(lon, PUBLIC_DECIMALS)


# ---- posting a request ------------------------------------------------------------------------------------


def report_from_form(form: FormData, *, settings: IntakeSettings, registry: Registry, now: datetime) -> ReportIn:
    """The Open311 fields as a report of the Open311 pseudo-worker; Open311Error(400/404) if they do not fit."""
    field = {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}
    code = field.get("service_code")
    if not code:
        raise Open311Error(400, "service_code is required")
    item = admission_item(code)
    address = field.get("address_string") or None
    if field.get("lat") or field.get("long"):
        grid = _grid_near(_coordinate(field, "lat", 90), _coordinate(field, "long", 180), registry, settings)
        location = Location(lat=float(field["lat"]), lon=float(field["long"]), address=address)
    elif address:
        fallback = settings.open311_fallback_grid
        grid = registry.grid(fallback) if fallback else next(g for g in registry.grids if g.active)
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
            public_consent=field.get("public_consent", "").lower() in ("true", "1", "yes"),
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise Open311Error(400, f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}") from None


def idempotent_report_id(key_digest: str, idempotency_key: str) -> uuid.UUID:
    """The report id of an Open311 post that carries an Idempotency-Key: scoped to the API key that sent it, so
    two clients' keys never meet, and a retry with the same key names the same case."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"gridloop:open311:{key_digest}:{idempotency_key}")


def form_fingerprint(form: FormData) -> str:
    """What an Open311 post asks for, as its idempotency fingerprint: every field but the API key, in order."""
    fields = sorted((k, str(v).strip()) for k, v in form.multi_items() if k not in NOT_THE_REQUEST)
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()


def _coordinate(field: dict[str, str], name: str, bound: float) -> float:
    try:
        value = float(field.get(name, ""))
    except ValueError:
        raise Open311Error(400, f"{name} must be a decimal number (WGS84)") from None
    if not -bound <= value <= bound:
        raise Open311Error(400, f"{name} out of range")
    return value


def _grid_near(lat: float, lon: float, registry: Registry, settings: IntakeSettings) -> Grid:
    """The grid whose boundary holds the point (gridloop/registry/places.py); none: outside the district."""
    grid = registry.grid_at(lat, lon)
    if grid is None:
        raise Open311Error(400, "lat/long is outside the district served here")
    return grid


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


def request_conditions(query: Mapping[str, str], reader: Open311Reader, *, now: datetime) -> list[Any]:
    """The filters of GET requests (ids override the others, as the spec says) and, always, the items this
    reader may see: a personal item's case is neither listed nor found by id."""
    conditions: list[Any] = [_service_code_expr().in_(sorted(reader.visible_codes(default_admission_list())))]
    ids = _split(query.get("service_request_id"))
    if ids:
        conditions.append(cases.c.case_id.in_([u for u in map(parse_uuid, ids) if u]))
        return conditions
    start, end = _window(query.get("start_date"), query.get("end_date"), now=now)
    conditions += [cases.c.reported_at >= start, cases.c.reported_at <= end]
    if codes := _split(query.get("service_code")):
        conditions.append(_service_code_expr().in_(codes))
    if statuses := _split(query.get("status")):
        if not set(statuses) <= {"open", "closed"}:
            raise Open311Error(400, "status must be open or closed")
        if set(statuses) != {"open", "closed"}:
            closed = cases.c.status.in_(CLOSED_STATUSES)
            conditions.append(closed if statuses[0] == "closed" else sa.not_(closed))
    return conditions


def one_request(case_id: uuid.UUID, reader: Open311Reader) -> list[Any]:
    return [
        cases.c.case_id == case_id,
        _service_code_expr().in_(sorted(reader.visible_codes(default_admission_list()))),
    ]


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
    """The item a case is about: the latest one it was forwarded as, else the reporter's hint."""
    return sa.func.coalesce(_FORWARDED.c.item_code, cases.c.item_hint)


async def load_requests(engine: AsyncEngine, conditions: Iterable[Any]) -> list[sa.Row]:
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
    async with engine.connect() as conn:
        return list((await conn.execute(query)).all())


def request_entry(
    row: sa.Row, reader: Open311Reader, grid_centre: Callable[[str], Grid | None]
) -> dict[str, Any] | None:
    """One request as this reader may see it: in full for a partner granted the item's department, else the
    public view; None for a personal item's case (the query leaves those out already: checked twice on purpose)."""
    item = default_admission_list().get(row.service_code) if row.service_code else None
    full = reader.sees_in_full(item)
    if not full and (item is None or item.personal):
        return None
    routed = row.forwarded_department is not None and row.status not in {"returned", "triage", "not_admitted"}
    location = row.location or {}
    expected = row.forwarded_at + timedelta(hours=item.resolve_hours) if routed and item else None
    shared = full or row.public_consent
    lat, lon = location.get("lat"), location.get("lon")
    if not full:
        grid = grid_centre(row.grid_id) if lat is None or lon is None else None
        lat, lon = (lat, lon) if grid is None else (grid.lat, grid.lon)
        lat, lon = public_point(lat, lon) if lat is not None and lon is not None else (None, None)
    return {
        "service_request_id": str(row.case_id),
        "status": "closed" if row.status in CLOSED_STATUSES else "open",
        "status_notes": row.status_notes if full else PUBLIC_NOTES.get(row.status),
        "service_name": item.name_zh if item else None,
        "service_code": row.service_code,
        "description": row.description if shared else None,
        "agency_responsible": DEPARTMENT_NAMES_ZH.get(row.forwarded_department) if routed else None,
        "service_notice": None,
        "requested_datetime": _w3c(row.reported_at),
        "updated_datetime": _w3c(row.updated_at),
        "expected_datetime": _w3c(expected),
        "address": location.get("address") if full else None,
        "address_id": None,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": row.photo_urls[0] if shared and row.photo_urls else None,
    }


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def parse_uuid(value: str) -> uuid.UUID | None:
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


def _window(start_text: str | None, end_text: str | None, *, now: datetime) -> tuple[datetime, datetime]:
    start = _when(start_text, "start_date") if start_text else None
    end = _when(end_text, "end_date") if end_text else None
    if start is None and end is None:
        end = now.astimezone(UTC)
    if start is None:
        assert end is not None
        start = end - MAX_RANGE
    if end is None:
        end = start + MAX_RANGE
    if start > end:
        raise Open311Error(400, "start_date is after end_date")
    if end - start > MAX_RANGE:
        raise Open311Error(400, "start_date to end_date may not span more than 90 days")
    return start, end
