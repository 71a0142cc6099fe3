"""Credentials for tests: headers for any role, and an httpx auth that signs a request as a real caller would."""

from __future__ import annotations

import json
from collections.abc import Generator

import httpx

from gridloop.auth.credentials import Credentials

CREDENTIALS = Credentials()
OPERATOR = CREDENTIALS.operator("测试值班员")


def as_department(department: str) -> dict[str, str]:
    return CREDENTIALS.department(department)


def as_worker(worker_id: str) -> dict[str, str]:
    return CREDENTIALS.worker(worker_id)


class ActingAsCaller(httpx.Auth):
    """Unless a test sets its own Authorization header: a report is posted by the worker it names, anything
    else is asked by an operator. Tests of access control use clients without this."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "authorization" not in request.headers:
            request.headers.update(self._headers(request))
        yield request

    def _headers(self, request: httpx.Request) -> dict[str, str]:
        if request.method == "POST" and request.url.path == "/v1/reports":
            try:
                worker_id = json.loads(request.content).get("worker_id")
            except (ValueError, AttributeError):
                worker_id = None
            if isinstance(worker_id, str) and worker_id:
                return as_worker(worker_id)
        return OPERATOR
