"""The classifier model over HTTP: which model decides, and the operator action that retrains it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel

from gridloop.servicekit.app import RuntimeDep
from services.router.deps import AdmissionListDep, ModelDep, OperatorOnly, RetrainingDep
from services.router.retraining import run_retraining

router = APIRouter(prefix="/v1/admission-list/model", tags=["admission list"], dependencies=[OperatorOnly])
_tasks: set[asyncio.Task[None]] = set()  # keep a reference so the task is not collected mid-run


class ModelView(BaseModel):
    model_version: str
    trained_for: str  # the list version the model was trained for
    list_version: str  # the list in force (decisions are restated against it)
    retraining: bool  # a run is going on on this replica
    last_retraining: dict[str, Any] | None  # held-out metrics before / after, accepted or why refused


@router.get("", response_model=ModelView)
async def get_model(active: AdmissionListDep, model: ModelDep, state: RetrainingDep) -> ModelView:
    """The model this replica decides with, and its last retraining run."""
    trained_on = getattr(model.current, "admission_list", active.shipped)
    return ModelView(
        model_version=model.version,
        trained_for=trained_on.version,
        list_version=active.version,
        retraining=state.running,
        last_retraining=state.last,
    )


@router.post(
    "/retrain",
    response_model=ModelView,
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "a retraining run is going on"}},
)
async def retrain(
    runtime: RuntimeDep,
    active: AdmissionListDep,
    model: ModelDep,
    state: RetrainingDep,
    operator: Annotated[str, Query(min_length=1, max_length=50)],
) -> ModelView:
    """Retrain for the list in force with the operators' decisions and corrections (takes a minute or two).
    Poll GET for the outcome: held-out metrics before and after; a worse model is stored but not activated."""
    if state.running:
        raise HTTPException(status.HTTP_409_CONFLICT, "a retraining run is going on")
    state.running = True
    task = asyncio.create_task(
        run_retraining(runtime.db, active=active, model=model, state=state, operator=operator, now=datetime.now(UTC))
    )
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return await get_model(active, model, state)
