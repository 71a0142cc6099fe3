"""Retraining in the router: a model for the list in force, from the shipped examples and operators' triage
decisions and corrections; stored with its list version, activated only if it is not worse on held-out reports,
and followed by every replica (admission_list.ActiveModel) without a restart."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.admission.retraining import Retraining, TrainingData, retrain_for_list
from gridloop.delivery.db import Database
from services.router.admission_list import ActiveAdmissionList, ActiveModel
from services.router.tables import admission_list_audit, classifier_models
from services.router.triage import load_corrections

log = logging.getLogger(__name__)


@dataclass
class RetrainingState:
    """This replica's last retraining run (one at a time): what an operator polls after starting one."""

    running: bool = False
    last: dict[str, Any] | None = None
    data: TrainingData = field(default_factory=TrainingData)


async def store_model(
    conn: AsyncConnection, result: Retraining, *, operator: str, now: datetime, previous_model: str
) -> None:
    """Keep every trained model; activate it only if it was accepted. Audited either way."""
    model = result.model
    await conn.execute(
        sa.insert(classifier_models).values(
            model_version=model.model_version,
            list_version=model.list_version,
            model=model.to_bytes(),
            metrics=result.summary(),
            trained_by=operator,
            trained_at=now,
            active=False,
        )
    )
    if result.accepted:
        await conn.execute(sa.update(classifier_models).where(classifier_models.c.active).values(active=False))
        await conn.execute(
            sa.update(classifier_models)
            .where(classifier_models.c.model_version == model.model_version)
            .values(active=True)
        )
    await conn.execute(
        sa.insert(admission_list_audit).values(
            action="model_activated" if result.accepted else "model_refused",
            version=model.list_version,
            previous_version=previous_model,
            operator=operator,
            at=now,
            detail=f"model {model.model_version}"
            + (f" refused: {result.reason}" if not result.accepted else "")
            + f"; {result.corrections} corrections",
        )
    )


async def retrain_in_force(
    db: Database,
    *,
    active: ActiveAdmissionList,
    model: ActiveModel,
    state: RetrainingState,
    operator: str,
    now: datetime,
) -> dict[str, Any]:
    """Retrain for the list in force; switch this replica at once if accepted (the others follow by their check)."""
    async with db.engine.connect() as conn:
        corrections = await load_corrections(conn)
    admission_list = active.current
    current = model.current
    result = await asyncio.to_thread(retrain_for_list, current, admission_list, corrections, state.data)
    async with db.engine.begin() as conn:
        await store_model(conn, result, operator=operator, now=now, previous_model=model.version)
    if result.accepted:
        model.use(result.model)
    summary = result.summary() | {"model_version": result.model.model_version}
    log.info("retraining for %s: %s", admission_list.version, summary)
    return summary


async def run_retraining(
    db: Database,
    *,
    active: ActiveAdmissionList,
    model: ActiveModel,
    state: RetrainingState,
    operator: str,
    now: datetime,
) -> None:
    """The operator action's background task: one run at a time, its outcome kept for GET."""
    try:
        state.last = await retrain_in_force(db, active=active, model=model, state=state, operator=operator, now=now)
    except Exception as exc:
        log.exception("retraining failed")
        state.last = {"accepted": False, "reason": f"retraining failed: {exc}"}
    finally:
        state.running = False


async def _retrain_command(operator: str) -> dict[str, Any]:
    from gridloop.admission.admission_list import default_admission_list
    from gridloop.admission.classifier import default_classifier
    from services.router.admission_list import load_active
    from services.router.settings import get_settings
    from services.router.tables import outbox

    db = Database.for_service(get_settings(), outbox=outbox, source="/gridloop/router")
    try:
        active, model = ActiveAdmissionList(default_admission_list()), ActiveModel(default_classifier())
        await load_active(active, db, model)
        return await retrain_in_force(
            db, active=active, model=model, state=RetrainingState(), operator=operator, now=datetime.now(UTC)
        )
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    """`gridloop router-retrain --operator NAME`: the operator action from the command line (router settings from
    GRIDLOOP_ROUTER_*); prints the held-out metrics before and after; exit 1 if the new model was refused."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="gridloop router-retrain", description=main.__doc__)
    parser.add_argument("--operator", required=True, help="who retrains (audited)")
    args = parser.parse_args(argv or [])
    summary = asyncio.run(_retrain_command(args.operator))
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0 if summary["accepted"] else 1
