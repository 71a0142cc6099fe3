"""The demo's end-of-day summary: pure functions from what happened to a JSON-ready dict and a text table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from gridloop.demo.departments import DepartmentTally


@dataclass(frozen=True)
class PostOutcome:
    """How intake answered one report."""

    client_report_id: str
    expected_item: str | None
    status_code: int
    case_id: str | None = None


def stats_delta(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """`after - before` for nested counters, so a re-run against a running stack reports only this run."""
    delta: dict[str, Any] = {}
    for key, value in after.items():
        old = before.get(key)
        if isinstance(value, Mapping):
            delta[key] = stats_delta(old if isinstance(old, Mapping) else {}, value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            delta[key] = value - (old if isinstance(old, int | float) else 0)
        else:
            delta[key] = value
    return delta


def count_posts(posts: Sequence[PostOutcome]) -> dict[str, Any]:
    codes = Counter(p.status_code for p in posts)
    return {
        "posted": len(posts),
        "accepted": codes[202],
        "duplicates": codes[200],
        "rejected": {str(c): n for c, n in sorted(codes.items()) if 400 <= c < 500},
        "failed": {str(c): n for c, n in sorted(codes.items()) if c >= 500},
    }


def classification_agreement(
    pairs: Sequence[tuple[str | None, Mapping[str, Any] | None]], departments_of: Mapping[str, str]
) -> dict[str, Any]:
    """Compare the router's decisions with the item each report was written for.

    A report written for an item agrees when the router admitted it under that item; an off-list report agrees
    when the router did not admit it. `departments_of` maps item code to department.
    """
    decided = [(expected, d) for expected, d in pairs if d is not None]
    agree = sum(_agrees(expected, d) for expected, d in decided)
    on_list = [(e, d) for e, d in decided if e is not None]
    return {
        "sampled": len(pairs),
        "decided": len(decided),
        "agree": agree,
        "agreement_rate": round(agree / len(decided), 4) if decided else None,
        "same_department": sum(d.get("department") == departments_of.get(e) for e, d in on_list),
        "triage": sum(d.get("outcome") == "triage" for _, d in decided),
        "admitted_off_list": sum(e is None and d.get("outcome") == "admitted" for e, d in decided),
        "not_admitted_on_list": sum(d.get("outcome") == "not_admitted" for _, d in on_list),
    }


def _agrees(expected: str | None, decision: Mapping[str, Any]) -> bool:
    if expected is None:
        return decision.get("outcome") == "not_admitted"
    return decision.get("outcome") == "admitted" and decision.get("item_code") == expected


def build_summary(
    *,
    posts: Sequence[PostOutcome],
    router: Mapping[str, Any],
    departments: Mapping[str, Any],
    notify: Mapping[str, Any],
    desk: DepartmentTally,
    agreement: Mapping[str, Any],
    drained: bool,
    people: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One JSON-ready record of the run; `router`, `departments`, `notify` are this run's stats deltas, `people`
    who was told (workers, officials) and the escalation queue."""
    people = people or {}
    workers, supervision = people.get("workers", {}), people.get("supervision", {})
    decisions = router.get("decisions", {})
    by_status = departments.get("by_status", {})
    return {
        "reports": count_posts(posts),
        "routing": {
            "admitted": decisions.get("admitted", 0),
            "not_admitted": decisions.get("not_admitted", 0),
            "triage": decisions.get("triage", 0),
            "by_department": dict(router.get("by_department", {})),
        },
        "departments": {
            "resolved": by_status.get("resolved", 0),
            "by_status": dict(by_status),
            "simulated": {**asdict(desk), "errors": dict(desk.errors)},
        },
        "notify": {
            "residents_notified": notify.get("residents_notified", 0),
            "messages": dict(notify.get("messages", {})),
        },
        "workers": {
            "workers_told": workers.get("workers_told", 0),
            "updates": dict(workers.get("updates", {})),
            "action_needed": workers.get("action_needed", 0),
        },
        "officials": {
            "officials_told": supervision.get("officials_told", 0),
            "messages": dict(supervision.get("official_messages", {})),
            "escalations": dict(supervision.get("escalations", {})),
            "waiting_in_queue": supervision.get("waiting", 0),
            "escalated_without_owner": supervision.get("without_owner", 0),
        },
        "classification": dict(agreement),
        "drained": drained,
    }


def format_summary(summary: Mapping[str, Any]) -> str:
    """The summary as an aligned two-column table for the terminal."""
    rows = list(_rows(summary))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" if value != "" else label for label, value in rows)


def _rows(s: Mapping[str, Any]) -> list[tuple[str, Any]]:
    reports, routing, depts, desk = s["reports"], s["routing"], s["departments"], s["departments"]["simulated"]
    notify, cls = s["notify"], s["classification"]
    rows: list[tuple[str, Any]] = [
        ("GridLoop demo summary", ""),
        ("reports posted", reports["posted"]),
        ("  accepted (202)", reports["accepted"]),
        ("  duplicates (200)", reports["duplicates"]),
        ("  rejected (4xx)", _counts(reports["rejected"])),
        ("  failed (5xx)", _counts(reports["failed"])),
        ("routed to a department", routing["admitted"]),
    ]
    rows += [(f"  {d}", n) for d, n in sorted(routing["by_department"].items())]
    rows += [
        ("not admitted", routing["not_admitted"]),
        ("triage", routing["triage"]),
        ("resolved", depts["resolved"]),
        ("  left unsigned / unresolved", f"{desk['left_unsigned']} / {desk['left_unresolved']}"),
        ("  department errors", _counts(desk["errors"])),
        ("residents told", notify["residents_notified"]),
        ("messages by step", "" if notify["messages"] else "0"),
    ]
    rows += [(f"  {step}", _counts(states)) for step, states in sorted(notify["messages"].items())]
    workers, officials = s.get("workers", {}), s.get("officials", {})
    rows += [
        ("workers told", workers.get("workers_told", 0)),
        ("  outcomes by step", _counts(workers.get("updates", {}))),
        ("  needing the worker to act", workers.get("action_needed", 0)),
        ("officials told", officials.get("officials_told", 0)),
        ("  messages", _counts(officials.get("messages", {}))),
        ("escalated cases (queue)", _counts(officials.get("escalations", {}))),
        ("  waiting for an operator", officials.get("waiting_in_queue", 0)),
        ("  escalated without an owner", officials.get("escalated_without_owner", 0)),
    ]
    rows += [
        ("classification agreement", _agreement(cls)),
        ("  same department", cls.get("same_department", 0)),
        ("  admitted though off-list", cls.get("admitted_off_list", 0)),
        ("  not admitted though on list", cls.get("not_admitted_on_list", 0)),
        ("pipeline drained", "yes" if s["drained"] else "no (timed out; numbers may still move)"),
    ]
    return rows


def _counts(counts: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "0"


def _agreement(cls: Mapping[str, Any]) -> str:
    rate = cls.get("agreement_rate")
    if rate is None:
        return f"n/a (0 of {cls.get('sampled', 0)} sampled cases decided)"
    return f"{rate:.1%} ({cls['agree']}/{cls['decided']} decided of {cls['sampled']} sampled)"
