"""The demo's HTTP calls to the four services, in one place. Retries 503s; turns refused connections into
`ServiceUnavailable` with a message an operator can act on.

Each call carries the credential of who would make it: a report its worker's, a department's step the
department's (given tokens first, else minted with GRIDLOOP_AUTH_SIGNING_KEY, which the demo holds in
development), anything else an operator's."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from gridloop.auth.credentials import Credentials

RETRY_ATTEMPTS = 6
MAX_BACKOFF_SECONDS = 5.0


class ServiceUnavailable(RuntimeError):
    """A service did not answer; the message names it and its URL."""


@dataclass(frozen=True)
class ServiceUrls:
    intake: str = "http://127.0.0.1:8001"
    router: str = "http://127.0.0.1:8002"
    departments: str = "http://127.0.0.1:8003"
    notify: str = "http://127.0.0.1:8004"

    def of(self, service: str) -> str:
        return str(getattr(self, service)).rstrip("/")


@dataclass
class DemoClient:
    """Use as `async with DemoClient(urls) as client:`; one connection pool for all services."""

    urls: ServiceUrls = field(default_factory=ServiceUrls)
    department_tokens: dict[str, str] = field(default_factory=dict)
    credentials: Credentials = field(default_factory=Credentials)
    timeout: float = 15.0
    transport: httpx.AsyncBaseTransport | None = None  # tests pass an in-memory one
    _http: httpx.AsyncClient | None = field(default=None, init=False, repr=False)

    async def __aenter__(self) -> DemoClient:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
        self._http = httpx.AsyncClient(timeout=self.timeout, limits=limits, transport=self.transport)
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def post_report(self, body: dict[str, Any]) -> httpx.Response:
        """POST the report; the caller reads 202 (new), 200 (repeat) or 4xx (rejected)."""
        headers = self.credentials.worker(str(body.get("worker_id", "")))
        return await self._request("intake", "POST", "/v1/reports", json=body, headers=headers)

    async def registry_version(self) -> int | None:
        """The registry version intake has in force (None: empty)."""
        return _json_ok(await self._request("intake", "GET", "/v1/registry")).get("version")

    async def work_items(
        self, department: str, *, status: str = "dispatched", limit: int = 200, offset: int = 0
    ) -> list[dict[str, Any]]:
        params = {"department": department, "status": status, "limit": limit, "offset": offset}
        resp = await self._request("departments", "GET", "/v1/work-items", params=params, department=department)
        return list(_json_ok(resp)["items"])

    async def sign(self, department: str, case_id: str, handler: str) -> httpx.Response:
        path = f"/v1/work-items/{case_id}/sign"
        return await self._request("departments", "POST", path, json={"handler": handler}, department=department)

    async def resolve(self, department: str, case_id: str, result: str) -> httpx.Response:
        path = f"/v1/work-items/{case_id}/resolve"
        return await self._request("departments", "POST", path, json={"result": result}, department=department)

    async def stats(self, service: str) -> dict[str, Any]:
        return _json_ok(await self._request(service, "GET", "/v1/stats"))

    async def people_stats(self) -> dict[str, Any]:
        """Who was told: workers (intake's feed) and officials, with the escalation queue (notify)."""
        workers = _json_ok(await self._request("intake", "GET", "/v1/workers/updates/stats"))
        supervision = _json_ok(await self._request("notify", "GET", "/v1/escalations/stats"))
        return {"workers": workers, "supervision": supervision}

    async def officials(self) -> list[dict[str, Any]]:
        resp = await self._request("notify", "GET", "/v1/officials")
        resp.raise_for_status()
        return list(resp.json())

    async def add_official(self, official: dict[str, Any]) -> None:
        (await self._request("notify", "POST", "/v1/officials", json=official)).raise_for_status()

    async def decision(self, case_id: str) -> dict[str, Any] | None:
        """The router's decision for a case, or None while it has not decided."""
        resp = await self._request("router", "GET", f"/v1/decisions/{case_id}")
        return None if resp.status_code == 404 else _json_ok(resp)

    async def _request(
        self,
        service: str,
        method: str,
        path: str,
        *,
        department: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        assert self._http is not None, "use DemoClient as an async context manager"
        url = self.urls.of(service) + path
        headers = headers or self._auth_header(department)
        for attempt in range(RETRY_ATTEMPTS):
            last = attempt == RETRY_ATTEMPTS - 1
            try:
                resp = await self._http.request(method, url, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                if last:
                    raise ServiceUnavailable(f"{service} is not reachable at {url} ({type(exc).__name__})") from exc
            else:
                if resp.status_code != 503 or last:
                    return resp
            await asyncio.sleep(_backoff(attempt))
        raise AssertionError("unreachable")

    def _auth_header(self, department: str | None) -> dict[str, str]:
        token = self.department_tokens.get(department or "")
        if token:
            return {"Authorization": f"Bearer {token}"}
        return self.credentials.department(department) if department else self.credentials.operator("演示值班员")


def _backoff(attempt: int) -> float:
    """Exponential backoff with jitter, so many concurrent posts do not retry in step."""
    return min(MAX_BACKOFF_SECONDS, 0.2 * 2**attempt) * random.uniform(0.5, 1.0)


def _json_ok(resp: httpx.Response) -> dict[str, Any]:
    if resp.status_code == 503:
        raise ServiceUnavailable(f"{resp.request.url} kept answering 503 Service Unavailable")
    resp.raise_for_status()
    return dict(resp.json())
