"""What went in against what came out: the databases, the topics and the notification records of a chaos run.

Every report intake stored (a superset of those it confirmed with 2xx) must end in exactly one outcome, every
resident-visible step in exactly one notification, and each case's status events must keep their order."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from gridloop.chaos.namespace import ChaosNamespace
from gridloop.contracts.events import RESIDENT_VISIBLE
from gridloop.contracts.topics import ALL_TOPICS, CASES_STATUS, DEPARTMENT_TOPICS, dead_letter_topic
from gridloop.delivery.kafka import decode
from gridloop.delivery.topic_reader import read_to_end
from gridloop.ops.migrate import SERVICES

# The steps a case passes at most once in a chaos run (no returns, reopenings or operator decisions).
ONCE = ("received", "forwarded", "not_admitted", "triage", "signed", "resolved")
# Causal order of the steps on the status topic; steps not listed are not ordered by the pipeline.
RANK = {
    "received": 0,
    "forwarded": 1,
    "not_admitted": 1,
    "triage": 1,
    "duplicate_linked": 2,
    "signed": 2,
    "in_progress": 3,
    "resolved": 4,
}


@dataclass
class Snapshot:
    """Counts from the databases, for the progress line and the drain test."""

    cases: int = 0
    decided: int = 0
    admitted: int = 0
    work_items: int = 0
    open_items: int = 0
    resolved: int = 0
    messages: int = 0
    undelivered: int = 0
    unpublished: int = 0

    def drained(self) -> bool:
        return (
            self.decided == self.cases
            and self.work_items >= self.admitted
            and self.open_items == 0
            and self.undelivered == 0
            and self.unpublished == 0
        )


async def snapshot(ns: ChaosNamespace) -> Snapshot:
    """One look at every database (raises if PostgreSQL is down)."""
    conns = {s: await asyncpg.connect(ns.dsn(s), timeout=5) for s in SERVICES}
    try:
        snap = Snapshot()
        snap.cases = await conns["intake"].fetchval("SELECT count(*) FROM cases")
        snap.decided, snap.admitted = await conns["router"].fetchrow(
            "SELECT count(DISTINCT case_id), count(DISTINCT case_id) FILTER (WHERE outcome = 'admitted') FROM decisions"
        )
        snap.work_items, snap.open_items, snap.resolved = await conns["departments"].fetchrow(
            "SELECT count(*), count(*) FILTER (WHERE status IN ('dispatched', 'signed')),"
            " count(*) FILTER (WHERE status = 'resolved') FROM work_items"
        )
        snap.messages, snap.undelivered = await conns["notify"].fetchrow(
            "SELECT count(*), count(*) FILTER (WHERE state IN ('pending', 'held', 'awaiting_contact')) FROM messages"
        )
        for conn in conns.values():
            snap.unpublished += await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return snap
    finally:
        for conn in conns.values():
            await conn.close()


@dataclass
class Verdict:
    counts: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # out of order, dead letters, stuck messages

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.other)


async def verify(ns: ChaosNamespace, accepted: dict[str, str], messages_log: Path) -> Verdict:
    """Compare the accepted reports (client_report_id -> case_id) with everything the pipeline recorded."""
    verdict = Verdict()
    db = await _read_databases(ns)
    status_events = await _read_topic(ns, [CASES_STATUS])
    dispatches = await _read_topic(ns, list(DEPARTMENT_TOPICS.values()))
    dead = await _read_topic(ns, [dead_letter_topic(t) for t in ALL_TOPICS], decode_events=False)

    for report_id, case_id in accepted.items():
        if db["cases"].get(report_id) != case_id:
            verdict.lost.append(f"report {report_id} (case {case_id}) accepted but not stored by intake")
    for case_id in db["cases"].values():
        _check_case(case_id, db, status_events.get(case_id, []), dispatches.get(case_id, []), verdict)
    _check_messages(db["messages"], verdict)
    if dead:
        verdict.other.append(f"{sum(len(v) for v in dead.values())} dead letter(s) in the namespace")

    outcomes = Counter(d[0] for d in db["decisions"].values() if d)
    sends = Counter(json.loads(line)["key"] for line in _lines(messages_log))
    verdict.counts = {
        "accepted": len(accepted),
        "stored": len(db["cases"]),
        "routed": outcomes["admitted"],
        "not admitted": outcomes["not_admitted"],
        "triaged": outcomes["triage"],
        "work items": len(db["work_items"]),
        "resolved": sum(1 for w in db["work_items"].values() if w == "resolved"),
        "notified": len(db["messages"]),
        "notifications sent": sum(1 for m in db["messages"] if m[3] == "sent"),
        "channel resends": sum(sends.values()) - len(sends),
        "lost": len(verdict.lost),
        "duplicated": len(verdict.duplicated),
        "other violations": len(verdict.other),
    }
    return verdict


def _check_case(case_id: str, db: dict, events: list[tuple[str, str]], dispatched: list, verdict: Verdict) -> None:
    decisions = db["decisions"].get(case_id, [])
    if not decisions:
        verdict.lost.append(f"case {case_id}: no routing decision")
        return
    if len(decisions) > 1:
        verdict.duplicated.append(f"case {case_id}: {len(decisions)} routing decisions {decisions}")
    dispatch_ids = {event_id for event_id, _ in dispatched}
    has_item = case_id in db["work_items"]
    if decisions[0] == "admitted":
        if not has_item:
            verdict.lost.append(f"case {case_id}: admitted but no work item")
        if len(dispatch_ids) != 1:
            verdict.duplicated.append(f"case {case_id}: {len(dispatch_ids)} distinct dispatches on the topics")
    elif has_item or dispatch_ids:
        verdict.duplicated.append(f"case {case_id}: {decisions[0]} yet dispatched to a department")

    first_seen: dict[str, str] = {}  # event id -> status, in topic order
    for event_id, status in events:
        first_seen.setdefault(event_id, status)
    per_status = Counter(first_seen.values())
    for status in ONCE:
        if per_status[status] > 1:
            verdict.duplicated.append(f"case {case_id}: {per_status[status]} distinct '{status}' events")
    expected = {"received", decisions[0] if decisions[0] != "admitted" else "forwarded"}
    if db["work_items"].get(case_id) == "resolved":
        expected.add("resolved")
    for status in sorted(expected - set(per_status)):
        verdict.lost.append(f"case {case_id}: no '{status}' event on the status topic")
    ranks = [RANK[s] for s in first_seen.values() if s in RANK]
    if ranks != sorted(ranks):
        verdict.other.append(f"case {case_id}: status events out of order {list(first_seen.values())}")
    told = Counter(m[1] for m in db["messages_by_case"].get(case_id, []))
    for status in sorted(set(per_status) & RESIDENT_VISIBLE):
        if told[status] == 0:
            verdict.lost.append(f"case {case_id}: no notification for '{status}'")


def _check_messages(messages: list[tuple], verdict: Verdict) -> None:
    per_step = Counter((m[0], m[1], m[2]) for m in messages)
    for (case_id, step, channel), count in per_step.items():
        if count > 1:
            verdict.duplicated.append(f"case {case_id}: {count} notifications for '{step}' by {channel}")
    stuck = [m for m in messages if m[3] in ("pending", "held", "awaiting_contact")]
    if stuck:
        verdict.other.append(f"{len(stuck)} notification(s) never delivered, e.g. {stuck[0]}")


async def _read_databases(ns: ChaosNamespace) -> dict:
    async def rows(service: str, sql: str) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(ns.dsn(service), timeout=10)
        try:
            return await conn.fetch(sql)
        finally:
            await conn.close()

    decisions: dict[str, list[str]] = defaultdict(list)
    for r in await rows("router", "SELECT case_id::text AS c, outcome FROM decisions ORDER BY round"):
        decisions[r["c"]].append(r["outcome"])
    messages = [
        (r["c"], r["step"], r["channel"], r["state"])
        for r in await rows("notify", "SELECT case_id::text AS c, step, channel, state FROM messages")
    ]
    by_case: dict[str, list[tuple]] = defaultdict(list)
    for m in messages:
        by_case[m[0]].append(m)
    cases = await rows("intake", "SELECT client_report_id::text AS r, case_id::text AS c FROM cases")
    return {
        "cases": {r["r"]: r["c"] for r in cases},
        "decisions": decisions,
        "work_items": {
            r["c"]: r["status"] for r in await rows("departments", "SELECT case_id::text AS c, status FROM work_items")
        },
        "messages": messages,
        "messages_by_case": by_case,
    }


async def _read_topic(
    ns: ChaosNamespace, topics: list[str], *, decode_events: bool = True
) -> dict[str, list[tuple[str, str]]]:
    """Case id -> [(event id, status or type)] for every record of the topics, in partition order."""
    kafka = ns.kafka()
    by_case: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for record in await read_to_end(ns.bootstrap, [kafka.topic(t) for t in topics]):
        key = (record.key or b"").decode()
        if decode_events:
            event_id, event = decode(record.headers, record.key, record.value)
            by_case[key].append((str(event_id), getattr(event, "status", event.event_type)))
        else:
            by_case[key].append((dict(record.headers or ()).get("ce_id", b"").decode(), "dead"))
    return by_case


def _lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return []
