"""Every service's access-control API, for operators: read its audit log, revoke a credential at once."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.auth.audit import record_audit
from gridloop.auth.deps import OperatorDep, OperatorOnly
from gridloop.auth.revocations import CHANNEL
from gridloop.auth.tables import audit_log, revoked_tokens
from gridloop.contracts.schemas import StrictModel, Text


async def revoke(conn: AsyncConnection, token_id: str, *, revoked_by: str, reason: str = "") -> bool:
    """Refuse this credential from now on; False if it was revoked already. Listening services hear of it when
    the caller's transaction commits (gridloop/auth/revocations.py)."""
    inserted = await conn.execute(
        insert(revoked_tokens)
        .values(token_id=token_id, revoked_by=revoked_by, reason=reason)
        .on_conflict_do_nothing(index_elements=["token_id"])
    )
    await conn.execute(sa.select(sa.func.pg_notify(CHANNEL, token_id)))
    return bool(inserted.rowcount)


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    case_id: uuid.UUID | None
    target: str | None
    status: int | None
    detail: dict[str, Any]


class RevocationIn(StrictModel):
    token_id: str = Field(min_length=1, max_length=64, description="the credential's id (jti), shown when issued")
    reason: Text = Field(default="", max_length=200)


class Revocation(BaseModel):
    token_id: str
    revoked: bool  # false: it was revoked already


def access_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["access"], dependencies=[OperatorOnly])

    @router.get("/audit", response_model=list[AuditEntry])
    async def read_audit_log(
        request: Request,
        case_id: uuid.UUID | None = None,
        actor: Annotated[str | None, Query(max_length=80)] = None,
        action: Annotated[str | None, Query(max_length=120)] = None,
        since: AwareDatetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[AuditEntry]:
        """This service's audit log, newest first: who changed what and who read residents' contacts."""
        conditions = []
        if case_id:
            conditions.append(audit_log.c.case_id == case_id)
        if actor:
            conditions.append(audit_log.c.actor == actor)
        if action:
            conditions.append(audit_log.c.action == action)
        if since:
            conditions.append(audit_log.c.at >= since)
        query = sa.select(audit_log).where(*conditions).order_by(audit_log.c.id.desc()).limit(limit)
        async with request.app.state.runtime.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [AuditEntry.model_validate(r._asdict()) for r in rows]

    @router.post("/revocations", response_model=Revocation)
    async def revoke_token(body: RevocationIn, request: Request, operator: OperatorDep) -> Revocation:
        """Refuse a credential on this service from the next request on (`gridloop token revoke` does every
        service at once)."""
        async with request.app.state.runtime.db.engine.begin() as conn:
            revoked = await revoke(conn, body.token_id, revoked_by=operator.actor, reason=body.reason)
            await record_audit(
                conn,
                operator,
                "revoke_token",
                target=body.token_id,
                status=200,
                detail={"reason": body.reason},
                request=request,
            )
        request.app.state.runtime.revocations.add(body.token_id)  # this process at once, not only on the notice
        return Revocation(token_id=body.token_id, revoked=revoked)

    return router
