"""Operators manage the officials escalations reach (every change audited) and see what officials were told."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Request, status
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.auth.audit import record_audit
from gridloop.auth.tokens import Principal
from services.notify.deps import NotifyDep, OperatorDep, OperatorOnly, RowId
from services.notify.schemas import OfficialIn, OfficialMessageView, OfficialView
from services.notify.tables import official_messages, officials

router = APIRouter(prefix="/v1", tags=["officials (督办)"])


@router.get("/officials", response_model=list[OfficialView], dependencies=[OperatorOnly])
async def list_officials(runtime: NotifyDep) -> list[OfficialView]:
    async with runtime.db.engine.connect() as conn:
        rows = (await conn.execute(sa.select(officials).order_by(officials.c.department, officials.c.level))).all()
    return [OfficialView.model_validate(r._asdict()) for r in rows]


@router.post("/officials", response_model=OfficialView, status_code=status.HTTP_201_CREATED)
async def add_official(body: OfficialIn, request: Request, runtime: NotifyDep, operator: OperatorDep) -> OfficialView:
    async with runtime.db.engine.begin() as conn:
        row = (
            await conn.execute(
                sa.insert(officials).values(**body.model_dump(), updated_at=runtime.clock.now()).returning(officials)
            )
        ).one()
        await _audit(conn, request, operator, "add_official", row)
    return OfficialView.model_validate(row._asdict())


@router.put(
    "/officials/{official_id}", response_model=OfficialView, responses={404: {"description": "no such official"}}
)
async def change_official(
    official_id: RowId, body: OfficialIn, request: Request, runtime: NotifyDep, operator: OperatorDep
) -> OfficialView:
    async with runtime.db.engine.begin() as conn:
        row = (
            await conn.execute(
                sa.update(officials)
                .where(officials.c.id == official_id)
                .values(**body.model_dump(), updated_at=runtime.clock.now())
                .returning(officials)
            )
        ).one_or_none()
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"official {official_id} not found")
        await _audit(conn, request, operator, "change_official", row)
    return OfficialView.model_validate(row._asdict())


@router.delete(
    "/officials/{official_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "no such official"}},
)
async def remove_official(official_id: RowId, request: Request, runtime: NotifyDep, operator: OperatorDep) -> None:
    """Removing keeps the row (messages name it) and marks it inactive."""
    async with runtime.db.engine.begin() as conn:
        row = (
            await conn.execute(
                sa.update(officials)
                .where(officials.c.id == official_id)
                .values(active=False, updated_at=runtime.clock.now())
                .returning(officials)
            )
        ).one_or_none()
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"official {official_id} not found")
        await _audit(conn, request, operator, "remove_official", row)


@router.get("/cases/{case_id}/official-messages", response_model=list[OfficialMessageView], dependencies=[OperatorOnly])
async def case_official_messages(case_id: uuid.UUID, runtime: NotifyDep) -> list[OfficialMessageView]:
    async with runtime.db.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(official_messages)
                .where(official_messages.c.case_id == case_id)
                .order_by(official_messages.c.id)
            )
        ).all()
    return [OfficialMessageView.model_validate(r._asdict()) for r in rows]


async def _audit(conn: AsyncConnection, request: Request, operator: Principal, action: str, row: sa.Row[Any]) -> None:
    detail = {"department": row.department, "level": row.level, "name": row.name, "active": row.active}
    await record_audit(conn, operator, action, target=f"official:{row.id}", status=200, detail=detail, request=request)
