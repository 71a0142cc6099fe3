"""The queue of cases escalated after repeated dissatisfaction (区级督办): each waits for an operator with explicit
ways out, so no case is left in a state nothing consumes.

  open ──redispatch──► redispatched  (`reopened` to the case's department: it works and resolves the case again,
   │                                   the resident is asked again; a resident who is satisfied closes it)
   ├──close─────────► closed        (`closed` with the operator's note; the resident is told)
   └──arbitration───► arbitration ──redispatch / close──► …
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.contracts.events import CaseStatusChanged, EscalationDetail
from gridloop.contracts.topics import CASES_STATUS
from gridloop.delivery.consumer import Delivery
from gridloop.delivery.db import UnitOfWork
from services.notify import metrics
from services.notify.tables import case_steps, escalations, official_messages, officials

Decision = Literal["redispatch", "close", "arbitration"]
WAITING = ("open", "arbitration")
QUEUE_OWNER = "运营值班（督办队列）"
NEXT_STATE: dict[str, str] = {"redispatch": "redispatched", "close": "closed", "arbitration": "arbitration"}
ALLOWED: dict[str, frozenset[str]] = {
    "open": frozenset({"redispatch", "close", "arbitration"}),
    "arbitration": frozenset({"redispatch", "close"}),
}


class EscalationNotFound(LookupError):
    pass


class NotWaiting(Exception):
    """The decision does not apply to the escalation's state (decided already, or arbitration twice)."""


async def queue_escalations(items: list[tuple[CaseStatusChanged, Delivery]], uow: UnitOfWork, *, now: datetime) -> int:
    """Cases escalated after repeated dissatisfaction join the queue, owned by the district supervision office's
    official if one is listed, else by the operators' queue; returns how many joined."""
    rows = []
    for event, delivery in items:
        if event.status != "escalated" or event.detail_as(EscalationDetail).reason != "resident_dissatisfied":
            continue
        owner = await uow.conn.scalar(
            sa.select(officials.c.name)
            .where(
                officials.c.active,
                officials.c.level == "district_supervisor",
                officials.c.department.in_([event.department or "*", "*"]),
            )
            .order_by(officials.c.id)
            .limit(1)
        )
        rows.append(
            {
                "event_id": delivery.event_id,
                "case_id": event.case_id,
                "department": event.department,
                "item_code": event.item_code,
                "reason": "resident_dissatisfied",
                "comment": event.note,
                "owner": owner or QUEUE_OWNER,
                "state": "open",
                "created_at": now,
            }
        )
    if not rows:
        return 0
    created = await uow.conn.execute(
        insert(escalations).on_conflict_do_nothing(index_elements=["event_id"]).returning(escalations.c.id), rows
    )
    return len(created.all())


async def decide(
    uow: UnitOfWork, escalation_id: int, decision: Decision, *, note: str, operator: str, now: datetime
) -> sa.Row[Any]:
    """Apply an operator's decision; publishes what it leads to in the same transaction."""
    row = (
        await uow.conn.execute(sa.select(escalations).where(escalations.c.id == escalation_id).with_for_update())
    ).one_or_none()
    if row is None:
        raise EscalationNotFound(escalation_id)
    if decision not in ALLOWED.get(row.state, frozenset()):
        raise NotWaiting(f"escalation {escalation_id} is {row.state}; {decision} does not apply")
    common = {"case_id": row.case_id, "at": now, "actor": f"operator:{operator}", "department": row.department}
    if decision == "redispatch":
        event = CaseStatusChanged(
            **common,
            item_code=row.item_code,
            status="reopened",
            note=note or "区级督办：重新交办",
        )
        await uow.publish(event, CASES_STATUS, event_id=_event_id(row.event_id, "redispatch"))
    elif decision == "close":
        event = CaseStatusChanged(
            **common,
            item_code=row.item_code,
            status="closed",
            note=f"督办结案：{note}" if note else "督办结案",
        )
        await uow.publish(event, CASES_STATUS, event_id=_event_id(row.event_id, "closed"))
    decided = (
        await uow.conn.execute(
            sa.update(escalations)
            .where(escalations.c.id == escalation_id)
            .values(state=NEXT_STATE[decision], note=note, decided_by=operator, decided_at=now)
            .returning(escalations)
        )
    ).one()
    metrics.ESCALATION_DECISIONS.labels(decision).inc()
    result: sa.Row[Any] = decided
    return result


def _event_id(escalated_event_id: uuid.UUID, step: str) -> uuid.UUID:
    return uuid.uuid5(escalated_event_id, f"notify:escalation:{step}")


async def waiting(conn: AsyncConnection, *, limit: int = 100) -> list[sa.Row[Any]]:
    query = (
        sa.select(escalations)
        .where(escalations.c.state.in_(WAITING))
        .order_by(escalations.c.created_at, escalations.c.id)
        .limit(limit)
    )
    return list((await conn.execute(query)).all())


async def supervision_stats(conn: AsyncConnection) -> dict[str, object]:
    """Officials told, the queue by state, and escalation steps nobody owns: neither an official of the rung was
    told nor the case joined the queue (an unlisted department and level)."""
    told: dict[str, int] = dict(
        (
            await conn.execute(
                sa.select(official_messages.c.state, sa.func.count()).group_by(official_messages.c.state)
            )
        ).all()
    )
    queue: dict[str, int] = dict(
        (await conn.execute(sa.select(escalations.c.state, sa.func.count()).group_by(escalations.c.state))).all()
    )
    officials_told = await conn.scalar(
        sa.select(sa.func.count(sa.distinct(official_messages.c.official_id))).where(
            official_messages.c.state == "sent"
        )
    )
    told_of_rung = sa.exists().where(
        official_messages.c.case_id == case_steps.c.case_id,
        official_messages.c.level == case_steps.c.detail["level"].astext,
    )
    queued = sa.exists().where(escalations.c.event_id == case_steps.c.event_id)
    unowned = await conn.scalar(
        sa.select(sa.func.count()).where(case_steps.c.status == "escalated", ~told_of_rung, ~queued)
    )
    return {
        "officials_told": officials_told or 0,
        "official_messages": told,
        "escalations": queue,
        "without_owner": unowned or 0,
    }
