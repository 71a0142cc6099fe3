"""Returned cases (退单): the router decides again without the departments that returned the case; a case
returned a second time goes to the triage queue for an operator to arbitrate."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from gridloop.admission.classifier import Decision
from gridloop.auth.privacy import ResidentCipher
from gridloop.contracts.events import CaseStatusChanged, ReturnedDetail, RoutingDetail, derived_event_id
from gridloop.contracts.topics import CASES_STATUS, DEPARTMENT_NAMES_ZH
from gridloop.delivery.consumer import Delivery
from gridloop.delivery.db import UnitOfWork
from gridloop.servicekit.clock import Clock
from services.router import metrics
from services.router.handlers import ItemLookup, load_report, publish_outcome, record_decision, stored_report
from services.router.tables import case_returns, cases

log = logging.getLogger(__name__)

ARBITRATION_REASON = "二次退单，待仲裁"
MAX_REROUTES = 1  # the first return is re-routed automatically; the next one needs an operator
# The model's own probability for the new item must reach this much, or the renormalised share of a near-zero
# tail (everything but the returning department) could look confident.
MIN_EVIDENCE = 0.02


class RankingClassifier(Protocol):
    """What re-deciding needs from the classifier: its class probabilities and its abstention threshold."""

    threshold: float
    list_version: str

    def probabilities(self, text: str) -> dict[str, float]: ...


def redecide(
    probabilities: Mapping[str, float],
    *,
    excluded: Iterable[str],
    admission_list: ItemLookup,
    threshold: float,
    list_version: str,
) -> Decision:
    """The most likely item of a department not excluded, judged by its probability given that the case is not
    for an excluded department; below the classifier's threshold the case goes to triage."""
    excluded = set(excluded)
    allowed = {
        code: p
        for code, p in probabilities.items()
        if (item := admission_list.get(code)) is None or item.department not in excluded  # NA classes stay in the sum
    }
    items = sorted(((p, code) for code, p in allowed.items() if admission_list.get(code) is not None), reverse=True)
    total = sum(allowed.values())
    if not items or total <= 0:
        return _triage("排除退单部门后没有可分派的事项，转人工研判", 0.0, None, list_version)
    p_best, best = items[0][0] / total, items[0][1]
    runner_up = items[1][1] if len(items) > 1 else None
    if p_best < threshold or items[0][0] < MIN_EVIDENCE:
        return _triage(
            f"排除退单部门后最接近 {best}，依据不足（置信度 {p_best:.2f}，阈值 {threshold:.2f}），转人工研判",
            p_best,
            best,
            list_version,
        )
    department = admission_list.get(best).department
    return Decision(
        outcome="admitted",
        item_code=best,
        department=department,
        confidence=round(p_best, 4),
        reason=f"退单后重新分派：{best}，转{DEPARTMENT_NAMES_ZH.get(department, department)}办理",
        reason_code="rerouted_after_return",
        runner_up=runner_up,
        list_version=list_version,
    )


def _triage(reason: str, confidence: float, best: str | None, list_version: str, code: str | None = None) -> Decision:
    return Decision(
        outcome="triage",
        item_code=None,
        department=None,
        confidence=round(confidence, 4),
        reason=reason,
        reason_code=code,
        runner_up=best,
        list_version=list_version,
    )


async def reroute_returned_case(
    event: CaseStatusChanged,
    uow: UnitOfWork,
    delivery: Delivery,
    *,
    classifier: RankingClassifier,
    admission_list: ItemLookup,
    cipher: ResidentCipher,
    clock: Clock,
) -> None:
    """On `returned`: remember the bounce, then dispatch again without the returning departments, or triage."""
    if event.status != "returned":
        return
    row = (
        await uow.conn.execute(sa.select(cases).where(cases.c.case_id == event.case_id).with_for_update())
    ).one_or_none()
    if row is None:
        raise LookupError(f"returned case {event.case_id} was never routed here")
    reported = load_report(row.reported)
    detail = event.detail_as(ReturnedDetail)
    department = detail.department or event.department
    dispatch_no = detail.dispatch_no if detail.dispatch_no is not None else reported.returns + 1
    if dispatch_no != reported.returns + 1:
        log.warning(
            "stale return of %s (dispatch %d, now at %d): ignored", event.case_id, dispatch_no, reported.returns + 1
        )
        return
    reason_code = detail.reason_code or "unspecified"
    await uow.conn.execute(
        insert(case_returns)
        .values(
            case_id=event.case_id,
            dispatch_no=dispatch_no,
            department=department,
            reason_code=reason_code,
            note=event.note,
            returned_at=event.at,
        )
        .on_conflict_do_nothing()
    )
    excluded = sorted({*reported.excluded_departments, department})
    again = reported.model_copy(update={"excluded_departments": excluded, "returns": reported.returns + 1})
    await uow.conn.execute(
        sa.update(cases).where(cases.c.case_id == event.case_id).values(reported=stored_report(again, cipher))
    )
    now = clock.now()
    if again.returns > MAX_REROUTES:
        decision = _triage(ARBITRATION_REASON, 0.0, None, classifier.list_version, code="double_return")
    else:
        decision = redecide(
            classifier.probabilities(again.description),
            excluded=excluded,
            admission_list=admission_list,
            threshold=classifier.threshold,
            list_version=classifier.list_version,
        )
    decided_by = "classifier" if decision.outcome == "admitted" else "router"
    await record_decision(uow, again, decision, decided_by=decided_by, now=now)
    metrics.RETURNS.labels(department, reason_code, "rerouted" if decision.outcome == "admitted" else "triage").inc()
    if decision.outcome == "admitted":
        await publish_outcome(
            uow,
            again,
            decision,
            admission_list=admission_list,
            cipher=cipher,
            source_event_id=delivery.event_id,
            now=now,
        )
        return
    await uow.publish(
        CaseStatusChanged(
            case_id=event.case_id,
            status="triage",
            at=now,
            actor="router",
            note=decision.reason,
            detail=RoutingDetail(
                returns=again.returns, excluded_departments=excluded, reason_code=decision.reason_code
            ),
        ),
        CASES_STATUS,
        event_id=derived_event_id(delivery.event_id, "routing-status"),
    )
