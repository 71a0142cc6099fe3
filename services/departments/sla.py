"""Deadlines and escalation (督办): two deadlines per work item (sign for, resolve), a warning at 75 %, a breach
at 100 %, and a breach moves the deadline one rung up the supervision ladder with a further deadline of its own.

The scheduler may run in every replica: it takes due deadlines with `FOR UPDATE SKIP LOCKED`, records each
fired step in `sla_marks` (primary key per case, deadline, dispatch, generation, rung and kind) and publishes
it with a deterministic event id, so a step fires exactly once however many replicas tick.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from gridloop.contracts.events import CaseStatusChanged, EscalationDetail
from gridloop.contracts.topics import CASES_STATUS
from gridloop.delivery.db import Database, UnitOfWork
from gridloop.servicekit.clock import Clock
from services.departments import metrics
from services.departments.tables import activity, sla_deadlines, sla_marks, work_items
from services.departments.working_time import DISTRICT_TZ, ROUND_THE_CLOCK, Deadlines, Timeline

log = logging.getLogger(__name__)

DeadlineName = Literal["sign", "resolve"]
LADDER: tuple[str, ...] = ("handler", "department_head", "district_supervisor")
LADDER_ZH: tuple[str, ...] = ("承办人", "部门负责人", "区级督办")
DEADLINE_ZH = {"sign": "签收", "resolve": "办结"}
WARNING_SHARE = 0.75
ESCALATION_SHARE = 0.5  # each rung above the first gets half the original window
# A deadline runs only while its work item is in one of these statuses.
ACTIVE_STATUSES: dict[str, frozenset[str]] = {
    "sign": frozenset({"dispatched"}),
    "resolve": frozenset({"dispatched", "signed", "in_progress"}),
}


@dataclass(frozen=True)
class DeadlineState:
    rung: int
    rung_started_at: datetime
    deadline: datetime
    window: timedelta  # the original window of rung 0
    warned: bool = False
    spent: bool = False  # breached on the top rung: nothing more to fire


@dataclass(frozen=True)
class SlaStep:
    kind: Literal["sla_warning", "sla_breached", "escalated"]
    rung: int  # the rung the step happens on (for `escalated`: the rung reached)
    deadline: datetime  # that rung's deadline


def sign_for_window(resolve_hours: int) -> timedelta:
    """Urgent items (resolution within 12 h) must be signed for within 2 h, others within 24 h."""
    return timedelta(hours=2 if resolve_hours <= 12 else 24)


def deadline_windows(resolve_hours: int) -> dict[str, timedelta]:
    """A work item's two deadline windows: sign for (sign_for_window) and resolve (its item's hours)."""
    return {"sign": sign_for_window(resolve_hours), "resolve": timedelta(hours=resolve_hours)}


def warning_time(state: DeadlineState, timeline: Timeline = ROUND_THE_CLOCK) -> datetime:
    """When 75 % of the rung's working time has passed."""
    elapsed = timeline.between(state.rung_started_at, state.deadline) * WARNING_SHARE
    return timeline.add(state.rung_started_at, elapsed)


def next_fire_at(state: DeadlineState, timeline: Timeline = ROUND_THE_CLOCK) -> datetime | None:
    if state.spent:
        return None
    return state.deadline if state.warned else warning_time(state, timeline)


def due_steps(
    state: DeadlineState, now: datetime, timeline: Timeline = ROUND_THE_CLOCK
) -> tuple[list[SlaStep], DeadlineState]:
    """Every step due by `now`, in order, and the state after them (a big jump may climb several rungs). Warnings,
    breaches and each further rung's deadline are measured in the item's working time (`timeline`)."""
    steps: list[SlaStep] = []
    while not state.spent:
        if not state.warned:
            if now < warning_time(state, timeline):
                break
            steps.append(SlaStep("sla_warning", state.rung, state.deadline))
            state = replace(state, warned=True)
        if now < state.deadline:
            break
        steps.append(SlaStep("sla_breached", state.rung, state.deadline))
        if state.rung + 1 >= len(LADDER):
            state = replace(state, spent=True)
            break
        deadline = timeline.add(state.deadline, state.window * ESCALATION_SHARE)
        state = replace(state, rung=state.rung + 1, rung_started_at=state.deadline, deadline=deadline, warned=False)
        steps.append(SlaStep("escalated", state.rung, deadline))
    return steps, state


def moved(state: DeadlineState, delta: timedelta, now: datetime, timeline: Timeline = ROUND_THE_CLOCK) -> DeadlineState:
    """The deadline state after the deadline moved by delta of working time (an approved extension)."""
    state = replace(state, deadline=timeline.add(state.deadline, delta), spent=False)
    return replace(state, warned=now >= warning_time(state, timeline))


def step_note(deadline_name: str, step: SlaStep) -> str:
    # Read by clerks, operators and (escalations) the reporting worker: the district's own clock, not UTC ISO.
    what, due = DEADLINE_ZH[deadline_name], step.deadline.astimezone(DISTRICT_TZ).strftime("%m月%d日%H:%M")
    if step.kind == "sla_warning":
        return f"{what}时限已过75%（{LADDER_ZH[step.rung]}，截止{due}）"
    if step.kind == "sla_breached":
        return f"{what}已超时（{LADDER_ZH[step.rung]}，时限{due}）"
    return f"{what}超时，升级至{LADDER_ZH[step.rung].removesuffix('督办')}督办，新时限{due}"  # not 区级督办督办


def sla_event_id(case_id: uuid.UUID, row: sa.Row, step: SlaStep) -> uuid.UUID:
    return uuid.uuid5(
        case_id, f"departments:{row.dispatch_no}:sla:{row.deadline_name}:{row.generation}:{step.rung}:{step.kind}"
    )


def _state(row: sa.Row) -> DeadlineState:
    return DeadlineState(
        rung=row.rung,
        rung_started_at=row.rung_started_at,
        deadline=row.deadline,
        window=timedelta(seconds=row.window_seconds),
        warned=row.warned,
        spent=row.next_fire_at is None,
    )


def _columns(state: DeadlineState, timeline: Timeline) -> dict:
    return {
        "rung": state.rung,
        "rung_started_at": state.rung_started_at,
        "deadline": state.deadline,
        "warned": state.warned,
        "next_fire_at": next_fire_at(state, timeline),
    }


async def start_deadlines(
    uow: UnitOfWork, case_id: uuid.UUID, *, dispatch_no: int, start: datetime, windows: dict, timeline: Timeline
) -> None:
    """(Re)start the deadlines of a work item from `start`; `windows` maps deadline name to its window of working
    time on `timeline`. One statement for all of them."""
    rows = deadline_rows(case_id, dispatch_no=dispatch_no, start=start, windows=windows, timeline=timeline)
    await start_deadline_rows(uow, rows)


def deadline_rows(
    case_id: uuid.UUID, *, dispatch_no: int, start: datetime, windows: dict, timeline: Timeline
) -> list[dict]:
    """The rows that (re)start a work item's deadlines, for `start_deadline_rows`."""
    rows = []
    for deadline_name, window in windows.items():
        state = DeadlineState(rung=0, rung_started_at=start, deadline=timeline.add(start, window), window=window)
        values = {"dispatch_no": dispatch_no, "window_seconds": window.total_seconds(), **_columns(state, timeline)}
        rows.append({"case_id": case_id, "deadline_name": deadline_name, "generation": 0, **values})
    return rows


async def start_deadline_rows(uow: UnitOfWork, rows: list[dict]) -> None:
    """(Re)start the deadlines of any number of work items in one statement; a (case, deadline) appears once."""
    await uow.conn.execute(_START_DEADLINE, rows)  # rows as parameters: a multi-row VALUES is never cached


_start = insert(sla_deadlines)
_RESTARTED = ("dispatch_no", "window_seconds", "rung", "rung_started_at", "deadline", "warned", "next_fire_at")
_START_DEADLINE = _start.on_conflict_do_update(
    index_elements=["case_id", "deadline_name"],
    set_={**{column: _start.excluded[column] for column in _RESTARTED}, "generation": sla_deadlines.c.generation + 1},
)


async def move_deadline(
    uow: UnitOfWork, case_id: uuid.UUID, deadline_name: str, delta: timedelta, now: datetime, timeline: Timeline
) -> None:
    key = (sla_deadlines.c.case_id == case_id) & (sla_deadlines.c.deadline_name == deadline_name)
    row = (await uow.conn.execute(sa.select(sla_deadlines).where(key).with_for_update())).one_or_none()
    if row is None:
        return
    state = moved(_state(row), delta, now, timeline)
    await uow.conn.execute(
        sa.update(sla_deadlines).where(key).values(generation=row.generation + 1, **_columns(state, timeline))
    )


async def escalation_levels(conn: sa.ext.asyncio.AsyncConnection, case_id: uuid.UUID) -> dict[str, str]:
    rows = await conn.execute(
        sa.select(sla_deadlines.c.deadline_name, sla_deadlines.c.rung).where(sla_deadlines.c.case_id == case_id)
    )
    return {name: LADDER[rung] for name, rung in rows}


class SlaScheduler:
    """Fires due SLA steps, a pass per `tick` (run periodically). Safe to run in several replicas at once."""

    def __init__(self, db: Database, clock: Clock, deadlines: Deadlines, *, batch: int = 200) -> None:
        self._db = db
        self._clock = clock
        self._deadlines = deadlines
        self._batch = batch

    async def tick(self) -> int:
        """One pass over the due deadlines; returns how many steps this replica fired."""
        now = self._clock.now()
        query = (
            sa.select(
                sla_deadlines,
                work_items.c.status,
                work_items.c.department,
                work_items.c.item_code,
                work_items.c.dispatch_no.label("current_dispatch_no"),
            )
            .join(work_items, work_items.c.case_id == sla_deadlines.c.case_id)
            .where(sla_deadlines.c.next_fire_at <= now)
            .order_by(sla_deadlines.c.next_fire_at)
            .limit(self._batch)
            .with_for_update(of=sla_deadlines, skip_locked=True)
        )
        fired = 0
        async with self._db.unit_of_work() as uow:
            await self._deadlines.refresh(uow.conn)
            for row in (await uow.conn.execute(query)).all():
                fired += await self._advance(uow, row, now)
        return fired

    async def _advance(self, uow: UnitOfWork, row: sa.Row, now: datetime) -> int:
        key = (sla_deadlines.c.case_id == row.case_id) & (sla_deadlines.c.deadline_name == row.deadline_name)
        if row.status not in ACTIVE_STATUSES[row.deadline_name] or row.dispatch_no != row.current_dispatch_no:
            await uow.conn.execute(sa.update(sla_deadlines).where(key).values(next_fire_at=None))  # stopped
            return 0
        timeline = self._deadlines.timeline(row.item_code)
        steps, state = due_steps(_state(row), now, timeline)
        fired = 0
        for step in steps:
            fired += await self._fire(uow, row, step, now)
        await uow.conn.execute(sa.update(sla_deadlines).where(key).values(**_columns(state, timeline)))
        return fired

    async def _fire(self, uow: UnitOfWork, row: sa.Row, step: SlaStep, now: datetime) -> int:
        mark = (
            insert(sla_marks)
            .values(
                case_id=row.case_id,
                deadline_name=row.deadline_name,
                dispatch_no=row.dispatch_no,
                generation=row.generation,
                rung=step.rung,
                kind=step.kind,
                fired_at=now,
            )
            .on_conflict_do_nothing()
        )
        if not (await uow.conn.execute(mark)).rowcount:
            return 0
        note = step_note(row.deadline_name, step)
        from_level = LADDER[step.rung - 1] if step.kind == "escalated" else None
        detail = EscalationDetail(
            deadline_name=row.deadline_name, level=LADDER[step.rung], from_level=from_level, deadline=step.deadline
        )
        await uow.conn.execute(
            sa.insert(activity).values(
                case_id=row.case_id, action=step.kind, actor="sla", note=note, photo_urls=[], at=now
            )
        )
        await uow.publish(
            CaseStatusChanged(
                case_id=row.case_id,
                status=step.kind,
                at=now,
                actor="sla",
                department=row.department,
                item_code=row.item_code,
                note=note,
                detail=detail,
            ),
            CASES_STATUS,
            event_id=sla_event_id(row.case_id, row, step),
        )
        if step.kind == "escalated":
            metrics.ESCALATIONS.labels(row.department, row.deadline_name, LADDER[step.rung]).inc()
        else:
            metrics.SLA_EVENTS.labels(row.department, row.deadline_name, step.kind).inc()
        return 1
