"""The district operator console's logic: the classifier's candidates for a triage case, the rate board's rows,
and the departments API the console reads with the operator's own credential (routes in
operator_console_pages.py; docs/consoles.md).

The three rates, extensions and escalations live in the departments service. The console asks its REST API over
HTTP rather than reading its database or serving part of the console from departments: one console, one sign-in,
and departments applies its own rules to the operator's credential exactly as for any other client.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from pydantic import BaseModel

from gridloop.admission.admission_list import AdmissionList
from services.router.admission_list import ListBoundClassifier

SHANGHAI = ZoneInfo("Asia/Shanghai")
GROUPS_ZH = {"department": "部门", "item": "事项", "community": "社区"}


@dataclass(frozen=True)
class Candidate:
    code: str
    name_zh: str
    department: str
    probability: float


class TriageCandidates:
    """The router's classifier, for showing its ranking of a triage case (set when the service starts)."""

    def __init__(self) -> None:
        self.classifier: ListBoundClassifier | None = None

    def rank(self, description: str, in_force: AdmissionList, n: int = 3) -> list[Candidate]:
        if self.classifier is None:
            return []
        ranked = sorted(self.classifier.probabilities(description).items(), key=lambda kv: kv[1], reverse=True)
        out = []
        for code, probability in ranked:
            item = in_force.get(code)
            if item is not None:
                out.append(Candidate(code, item.name_zh, item.department, probability))
            if len(out) == n:
                break
        return out


class RateRow(BaseModel):
    """One row of the departments API's /v1/rates, and the overdue count the board shows."""

    group: str
    dispatched: int
    signed_on_time: int
    due: int
    resolved_on_time: int
    rated: int
    satisfied: int
    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None

    @property
    def overdue(self) -> int:
        """Cases whose resolution deadline fell in the period and that were not resolved by it."""
        return self.due - self.resolved_on_time


class ExtensionRequest(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    department: str
    requested_by: str
    reason: str
    hours: int
    state: str
    requested_at: datetime


class EscalatedCase(BaseModel):
    case_id: uuid.UUID
    department: str
    item_code: str
    item_name_zh: str
    status: str
    description: str
    community_id: str
    resolve_deadline: datetime
    result: str | None
    escalation: dict[str, str]


def period(start: date | None, end: date | None, today: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in Shanghai time; the last 30 days by default."""
    end = end or today
    start = start or end - timedelta(days=29)
    return (
        datetime.combine(start, time(), SHANGHAI),
        datetime.combine(end + timedelta(days=1), time(), SHANGHAI),
    )


class DepartmentsUnavailable(Exception):
    """The departments API did not answer (the console shows that section as unavailable)."""


class DepartmentsClient:
    """The departments REST API, called with the signed-in operator's credential."""

    def __init__(self, base_url: str, token: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._base_url = base_url
        self._headers = {"Authorization": f"Bearer {token}"}
        self._transport = transport

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            async with httpx.AsyncClient(
                base_url=self._base_url, headers=self._headers, timeout=10, transport=self._transport
            ) as client:
                response = await client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise DepartmentsUnavailable(str(exc)) from None
        if response.status_code >= 500 or response.status_code in (401, 403):
            raise DepartmentsUnavailable(f"{method} {path}: {response.status_code}")
        return response

    async def rates(self, group_by: str, start: datetime, end: datetime) -> list[RateRow]:
        response = await self._call(
            "GET", "/v1/rates", params={"group_by": group_by, "from": start.isoformat(), "to": end.isoformat()}
        )
        return [RateRow.model_validate(r) for r in response.json()["rows"]]

    async def pending_extensions(self) -> list[ExtensionRequest]:
        response = await self._call("GET", "/v1/extensions", params={"state": "pending"})
        return [ExtensionRequest.model_validate(r) for r in response.json()]

    async def escalated(self) -> list[EscalatedCase]:
        response = await self._call("GET", "/v1/work-items", params={"escalated": "true", "limit": 200})
        return [EscalatedCase.model_validate(r) for r in response.json()["items"]]

    async def decide_extension(
        self, case_id: uuid.UUID, extension_id: uuid.UUID, *, approve: bool, operator: str, note: str
    ) -> int:
        response = await self._call(
            "POST",
            f"/v1/work-items/{case_id}/extensions/{extension_id}/decision",
            json={"approve": approve, "operator": operator, "note": note},
        )
        return int(response.status_code)
