"""Operators manage the officials escalations reach (every change audited) and see what officials were told.
The queries are in officials.py."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request, status

from gridloop.auth.audit import record_audit
from gridloop.auth.tokens import Principal
from gridloop.delivery.db import UnitOfWork
from services.notify import officials
from services.notify.deps import NotifyDep, OperatorDep, OperatorOnly, RowId
from services.notify.schemas import OfficialIn, OfficialMessageView, OfficialView

router = APIRouter(prefix="/v1", tags=["officials (督办)"])


@router.get("/officials", response_model=list[OfficialView], dependencies=[OperatorOnly])
async def list_officials(runtime: NotifyDep) -> list[OfficialView]:
    async with runtime.db.engine.connect() as conn:
        return await officials.list_officials(conn)


@router.post("/officials", response_model=OfficialView, status_code=status.HTTP_201_CREATED)
async def add_official(body: OfficialIn, request: Request, runtime: NotifyDep, operator: OperatorDep) -> OfficialView:
    async with runtime.db.unit_of_work() as uow:
        official = await officials.add_official(uow.conn, body, now=runtime.clock.now())
        await _audit(uow, request, operator, "add_official", official)
    return official


@router.put(
    "/officials/{official_id}", response_model=OfficialView, responses={404: {"description": "no such official"}}
)
async def change_official(
    official_id: RowId, body: OfficialIn, request: Request, runtime: NotifyDep, operator: OperatorDep
) -> OfficialView:
    async with runtime.db.unit_of_work() as uow:
        official = await officials.change_official(uow.conn, official_id, body, now=runtime.clock.now())
        if official is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"official {official_id} not found")
        await _audit(uow, request, operator, "change_official", official)
    return official


@router.delete(
    "/officials/{official_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "no such official"}},
)
async def remove_official(official_id: RowId, request: Request, runtime: NotifyDep, operator: OperatorDep) -> None:
    """Removing keeps the row (messages name it) and marks it inactive."""
    async with runtime.db.unit_of_work() as uow:
        official = await officials.deactivate_official(uow.conn, official_id, now=runtime.clock.now())
        if official is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"official {official_id} not found")
        await _audit(uow, request, operator, "remove_official", official)


@router.get("/cases/{case_id}/official-messages", response_model=list[OfficialMessageView], dependencies=[OperatorOnly])
async def case_official_messages(case_id: uuid.UUID, runtime: NotifyDep) -> list[OfficialMessageView]:
    async with runtime.db.engine.connect() as conn:
        return await officials.messages_to_officials(conn, case_id)


async def _audit(uow: UnitOfWork, request: Request, operator: Principal, action: str, official: OfficialView) -> None:
    detail = {
        "department": official.department,
        "level": official.level,
        "name": official.name,
        "active": official.active,
    }
    await record_audit(
        uow.conn, operator, action, target=f"official:{official.id}", status=200, detail=detail, request=request
    )
