"""Router's HTTP API: routing decisions and their counts (operators). The queries are in queries.py."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, status

from gridloop.servicekit.app import RuntimeDep
from services.router import queries
from services.router.deps import OperatorOnly
from services.router.schemas import DecisionView, RouterStats

router = APIRouter(prefix="/v1", tags=["routing"], dependencies=[OperatorOnly])


@router.get("/decisions/{case_id}", response_model=DecisionView, responses={404: {"description": "not decided"}})
async def get_decision(case_id: uuid.UUID, runtime: RuntimeDep) -> DecisionView:
    """The latest routing decision for a case, with its explanation."""
    async with runtime.db.engine.connect() as conn:
        decision = await queries.latest_decision(conn, case_id)
    if decision is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no routing decision for case {case_id}")
    return decision


@router.get("/stats", response_model=RouterStats)
async def get_stats(runtime: RuntimeDep) -> RouterStats:
    """Latest decision per case, counted by outcome and by department."""
    async with runtime.db.engine.connect() as conn:
        return await queries.decision_stats(conn)
