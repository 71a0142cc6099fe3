"""The three rates against random case histories: hypothesis writes histories (dispatch, sign, return and
re-dispatch, extension asked and decided, resolve, reopen, rate) in any order the rules allow; the departments'
own step functions record them in PostgreSQL, and every count the rate queries give must equal an independent,
obviously-correct reading of the same event log written straight from the rules in docs/departments.md."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridloop.contracts.events import CaseDispatched, CaseStatusChanged
from gridloop.delivery.db import Database
from services.departments import extensions, handlers, rates, reopen
from services.departments.tables import outbox
from services.departments.working_time import Deadlines

pytestmark = pytest.mark.integration

T0 = datetime(2024, 6, 3, tzinfo=UTC)  # far from every other test's cases
HOURS = {1: 12, 2: 24, 3: 6}  # resolution window of the n-th dispatch; sign for within 2 h (<= 12 h) or 24 h
RATINGS = ("satisfied", "basically_satisfied", "dissatisfied")
EXAMPLE = count()
CALENDAR_HOURS = Deadlines(working=False)  # the oracle counts calendar hours; the working calendar is tested apart


@dataclass
class Event:
    at: datetime
    case: int
    kind: str  # dispatch | sign | return | ask | approve | refuse | resolve | reopen | rate
    dispatch_no: int
    rating: str | None = None
    hours: int = 0


@dataclass
class Script:
    start_minutes: int
    steps: list[tuple[int, int]] = field(default_factory=list)  # (choice, minutes after the previous step)


scripts = st.lists(
    st.builds(
        Script,
        st.integers(0, 48 * 60),
        st.lists(st.tuples(st.integers(0, 11), st.integers(1, 30 * 60)), max_size=9),
    ),
    min_size=1,
    max_size=5,
)


def history(case: int, script: Script) -> list[Event]:
    """The events a script makes, choosing among the steps the rules allow in each state."""
    at = T0 + timedelta(minutes=script.start_minutes)
    n, state, pending, events = 1, "dispatched", False, [Event(at, case, "dispatch", 1)]
    for choice, gap in script.steps:
        at += timedelta(minutes=gap)
        options: list[tuple[str, ...]] = {
            "dispatched": [("sign",), ("return",)],
            "signed": [("resolve",), ("return",), *([("approve",), ("refuse",)] if pending else [("ask",)])],
            "resolved": [("reopen",), *(("rate", r) for r in RATINGS)],
            "returned": [("dispatch",)] if n < 3 else [],
        }[state]
        if not options:
            break
        kind, *rest = options[choice % len(options)]
        if kind == "dispatch":
            n += 1
        events.append(Event(at, case, kind, n, rating=rest[0] if rest else None, hours=1 + choice % 5 * 3))
        state = {"sign": "signed", "return": "returned", "dispatch": "dispatched", "resolve": "resolved"}.get(
            kind, "signed" if kind == "reopen" else state
        )
        pending = kind == "ask" or (pending and kind not in ("approve", "refuse", "return"))
    return events


# The oracle: each department task's facts read off the event log, then the rules applied one by one.


@dataclass
class Task:
    item: str
    dispatched_at: datetime
    sign_deadline: datetime
    original_deadline: datetime
    deadline: datetime
    signed: datetime | None = None
    returned: datetime | None = None
    first_resolved: datetime | None = None
    reopens: int = 0
    asked_at: datetime | None = None
    asked_hours: int = 0


def oracle(events: list[Event], items: dict[int, str], start: datetime, end: datetime, now: datetime) -> dict:
    tasks: dict[tuple[int, int], Task] = {}
    current: dict[int, tuple[int, int]] = {}
    ratings: dict[int, tuple[datetime, str, tuple[int, int]]] = {}
    for e in events:
        key = (e.case, e.dispatch_no)
        if e.kind == "dispatch":
            hours = HOURS[e.dispatch_no]
            sign = timedelta(hours=2 if hours <= 12 else 24)
            deadline = e.at + timedelta(hours=hours)
            tasks[key] = Task(items[e.dispatch_no], e.at, e.at + sign, deadline, deadline)
            current[e.case] = key
            continue
        task = tasks[key]
        if e.kind == "sign":
            task.signed = e.at
        elif e.kind == "return":
            task.returned = e.at
        elif e.kind == "resolve" and task.first_resolved is None:
            task.first_resolved = e.at
        elif e.kind == "reopen":
            task.reopens += 1
        elif e.kind == "ask":
            task.asked_at, task.asked_hours = e.at, e.hours
        elif e.kind == "approve" and task.asked_at is not None and task.asked_at <= task.deadline:
            task.deadline += timedelta(hours=task.asked_hours)
        elif e.kind == "rate" and e.rating is not None:
            ratings[e.case] = (e.at, e.rating, current[e.case])

    counts: dict[str, dict[str, int]] = {}

    def bump(item: str, kind: str) -> None:
        counts.setdefault(item, dict.fromkeys((*rates.WORK_KINDS, "rated", "satisfied"), 0))[kind] += 1

    for task in tasks.values():
        answers = [t for t in (task.signed, task.returned) if t is not None]
        answered = min(answers) if answers else None
        if start <= task.dispatched_at < end:
            bump(task.item, "dispatched")
            if answered is not None or task.sign_deadline <= now:
                bump(task.item, "response_due")
                if answered is not None and answered <= task.sign_deadline:
                    bump(task.item, "signed_on_time")
        if task.returned is not None and start <= task.returned < end:
            bump(task.item, "returned")
        prompt_return = task.returned is not None and task.signed is None and task.returned <= task.sign_deadline
        if prompt_return:
            continue  # not this department's case: not due for resolution
        outcomes = [t for t in (task.first_resolved, task.returned) if t is not None]
        due_at = min([*outcomes, task.deadline])
        if not (start <= due_at < end and due_at <= now):
            continue
        bump(task.item, "due")
        if task.reopens:
            bump(task.item, "reopened")
            continue  # a reopened case was not resolved
        if task.first_resolved is not None and task.first_resolved <= task.deadline:
            bump(task.item, "resolved_on_time")
        if task.first_resolved is not None and task.first_resolved <= task.original_deadline:
            bump(task.item, "resolved_within_original")
    for at, rating, key in ratings.values():
        if start <= at < end:
            bump(tasks[key].item, "rated")
            if rating != "dissatisfied":
                bump(tasks[key].item, "satisfied")
    return counts


# Recording the histories with the departments' own steps.


def dispatched(case_id: uuid.UUID, item: str, n: int, at: datetime) -> CaseDispatched:
    return CaseDispatched(
        case_id=case_id,
        department="police",
        item_code=item,
        item_name_zh="测试事项",
        resolve_hours=HOURS[n],
        confidence=0.9,
        list_version="test",
        description="测试",
        grid_id=f"G-prop-{case_id.hex[:12]}",  # a grid of its own: never a duplicate
        community_id="JN-PROP",
        occurred_at=at,
        reported_at=at,
        dispatched_at=at,
        resident_name_masked="张*",
        resident_phone_masked="138****5678",
        dispatch_no=n,
    )


async def record(db: Database, events: list[Event], case_ids: dict[int, uuid.UUID], items: dict[int, str]) -> None:
    asked: dict[uuid.UUID, uuid.UUID] = {}
    for e in events:
        case_id = case_ids[e.case]
        async with db.unit_of_work() as uow:
            if e.kind == "dispatch":
                event = dispatched(case_id, items[e.dispatch_no], e.dispatch_no, e.at)
                await handlers.receive_dispatches([(event, None)], uow, deadlines=CALENDAR_HOURS)  # type: ignore[list-item]
            elif e.kind == "sign":
                await handlers.sign_for(uow, case_id, assignee="甲", now=e.at)
            elif e.kind == "return":
                await handlers.return_case(uow, case_id, reason_code="not_our_remit", note="", assignee="甲", now=e.at)
            elif e.kind == "resolve":
                await handlers.resolve(uow, case_id, result="已办结", assignee=None, photo_urls=[], now=e.at)
            elif e.kind == "ask":
                asked[case_id] = await extensions.request_extension(
                    uow, case_id, assignee="甲", reason="需要协调", hours=e.hours, now=e.at
                )
            elif e.kind in ("approve", "refuse"):
                await extensions.decide_extension(
                    uow,
                    case_id,
                    asked[case_id],
                    approve=e.kind == "approve",
                    operator="乙",
                    note="",
                    now=e.at,
                    deadlines=CALENDAR_HOURS,
                )
            elif e.kind == "reopen":
                status = CaseStatusChanged(case_id=case_id, status="reopened", at=e.at, actor="resident", note="不满意")
                await reopen.reopen_work_item(status, uow, None, deadlines=CALENDAR_HOURS)  # type: ignore[arg-type]
            elif e.kind == "rate":
                status = CaseStatusChanged(
                    case_id=case_id, status="feedback_received", at=e.at, actor="resident", detail={"rating": e.rating}
                )
                await handlers.record_feedback(status, uow, None)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
async def db(ns):
    database = Database(ns.database_urls["departments"], outbox=outbox, source="/gridloop/departments")
    yield database
    await database.dispose()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scripts=scripts, after_minutes=st.integers(0, 48 * 60))
async def test_the_three_rates_equal_the_rules_applied_to_the_event_log(db, scripts, after_minutes):
    example = next(EXAMPLE)
    tag = uuid.uuid4().hex[:8]
    items = {n: f"PROP-{tag}-{n}" for n in HOURS}  # each dispatch of a case goes to an item of its own
    events = sorted(
        (e for case, script in enumerate(scripts) for e in history(case, script)), key=lambda e: (e.at, e.case)
    )
    case_ids = {case: uuid.uuid4() for case in range(len(scripts))}
    await record(db, events, case_ids, items)
    now = events[-1].at + timedelta(minutes=after_minutes)
    windows = [(T0, T0 + timedelta(days=1)), (T0 + timedelta(days=1), T0 + timedelta(days=2)), (T0, now)]
    windows.append((T0 - timedelta(days=1), now + timedelta(days=30)))
    async with db.engine.connect() as conn:
        for start, end in windows:
            rows = await rates.compute_rates(conn, "item", start, end, now)
            got = {
                r.group: {k: getattr(r, k) for k in (*rates.WORK_KINDS, "rated", "satisfied")}
                for r in rows
                if r.group in items.values()
            }
            expected = oracle(events, items, start, end, now)
            expected = {item: c for item, c in expected.items() if any(c.values())}
            assert got == expected, (example, start, end, now, events)
