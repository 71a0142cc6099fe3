"""The operators' queue of cases escalated after repeated dissatisfaction, and their decisions (audited)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status

from gridloop.auth.audit import record_audit
from services.notify.deps import NotifyDep, OperatorDep, OperatorOnly, RowId
from services.notify.escalations import EscalationNotFound, NotWaiting, decide, supervision_stats, waiting
from services.notify.schemas import EscalationDecisionIn, EscalationView, SupervisionStats

router = APIRouter(prefix="/v1/escalations", tags=["escalation queue (督办)"])


@router.get("", response_model=list[EscalationView], dependencies=[OperatorOnly])
async def escalation_queue(runtime: NotifyDep) -> list[EscalationView]:
    """Escalated cases waiting for a decision (open or in arbitration), oldest first."""
    async with runtime.db.engine.connect() as conn:
        return [EscalationView.model_validate(r._asdict()) for r in await waiting(conn)]


@router.get("/stats", response_model=SupervisionStats, dependencies=[OperatorOnly])
async def escalation_stats(runtime: NotifyDep) -> SupervisionStats:
    """Officials told, the queue by state, and escalations without an owner (should stay 0)."""
    async with runtime.db.engine.connect() as conn:
        return SupervisionStats.model_validate(await supervision_stats(conn))


@router.post(
    "/{escalation_id}/decision",
    response_model=EscalationView,
    responses={404: {"description": "no such escalation"}, 409: {"description": "decided already"}},
)
async def decide_escalation(
    escalation_id: RowId, body: EscalationDecisionIn, request: Request, runtime: NotifyDep, operator: OperatorDep
) -> EscalationView:
    """redispatch (the department works the case again), close (with a note), or arbitration (then one of the
    other two)."""
    async with runtime.db.unit_of_work() as uow:
        try:
            row = await decide(
                uow, escalation_id, body.decision, note=body.note, operator=operator.subject, now=runtime.clock.now()
            )
        except EscalationNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"escalation {escalation_id} not found") from None
        except NotWaiting as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        await record_audit(
            uow.conn,
            operator,
            f"escalation_{body.decision}",
            case_id=row.case_id,
            target=f"escalation:{escalation_id}",
            status=200,
            detail={"note": body.note},
            request=request,
        )
    return EscalationView.model_validate(row._asdict())
