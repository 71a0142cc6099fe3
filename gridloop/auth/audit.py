"""The audit log: every change made over HTTP and every read of a resident's contact details (who, what, when).

Changes are recorded by `AuditMiddleware` for any successful POST/PUT/PATCH/DELETE, so a new endpoint cannot be
forgotten; routes that record a richer entry in their own transaction (registry changes, contact reads) mark
the request as audited. Operators read a service's log at `GET /v1/audit` (gridloop/auth/api.py).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridloop.auth.tables import audit_log
from gridloop.auth.tokens import Principal

log = logging.getLogger(__name__)

AUDIT_FAILURES = Counter("gridloop_audit_failures_total", "Audit entries that could not be written")
CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ANONYMOUS = Principal("anonymous", "-")


async def record_audit(
    conn: AsyncConnection, principal: Principal, action: str, *, request: Request | None = None, **fields: Any
) -> None:
    """Write one entry (`fields` as `audit_entry` takes them) in the caller's transaction; with `request`, the
    middleware skips its generic one."""
    await record_audits(conn, [audit_entry(principal, action, **fields)])
    if request is not None:
        request.state.audited = True


def audit_entry(
    principal: Principal,
    action: str,
    *,
    case_id: uuid.UUID | None = None,
    target: str | None = None,
    status: int | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One audit row, for `record_audits`."""
    return {
        "actor": principal.actor,
        "role": principal.role,
        "action": action,
        "case_id": case_id,
        "target": target,
        "status": status,
        "detail": detail or {},
    }


async def record_audits(conn: AsyncConnection, entries: list[dict[str, Any]]) -> None:
    """Write entries made by `audit_entry` in the caller's transaction, in one statement."""
    await conn.execute(sa.insert(audit_log), entries)  # rows as parameters: one cached multi-row INSERT


class AuditMiddleware:
    """Pure ASGI: before a successful change's answer leaves, record who made it (principal set by the auth
    dependency), the route template and its path parameters (tokens left out)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in CHANGING_METHODS:
            await self.app(scope, receive, send)
            return

        async def audited_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                await self._record(scope, message["status"])
            await send(message)

        await self.app(scope, receive, audited_send)

    async def _record(self, scope: Scope, status: int) -> None:
        state = scope.get("state") or {}
        route = scope.get("route")
        if state.get("audited") or route is None:
            return
        params = {k: str(v) for k, v in (scope.get("path_params") or {}).items() if "token" not in k}
        case_id = _uuid(params.get("case_id"))
        try:
            runtime = scope["app"].state.runtime
            async with runtime.db.engine.begin() as conn:
                await record_audit(
                    conn,
                    state.get("principal") or ANONYMOUS,
                    f"{scope['method']} {route.path}",
                    case_id=case_id,
                    target=",".join(f"{k}={v}" for k, v in params.items() if k != "case_id") or None,
                    status=status,
                )
        except Exception:  # the change is committed already; say loudly that its record is missing
            AUDIT_FAILURES.inc()
            log.exception("could not write the audit entry for %s %s", scope["method"], route.path)


def _uuid(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None
