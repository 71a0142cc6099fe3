"""The demo's summary is computed from what happened, without any service."""

from __future__ import annotations

import json
from collections import Counter

from gridloop.demo.departments import DepartmentTally, fate_of
from gridloop.demo.summary import (
    PostOutcome,
    build_summary,
    classification_agreement,
    count_posts,
    format_summary,
    stats_delta,
)

DEPARTMENTS_OF = {"S03": "street_office", "S30": "street_office", "P11": "police"}


def test_posts_are_counted_by_how_intake_answered() -> None:
    posts = [PostOutcome(str(i), "S03", code) for i, code in enumerate([202, 202, 200, 422, 422, 409, 500])]
    assert count_posts(posts) == {
        "posted": 7,
        "accepted": 2,
        "duplicates": 1,
        "rejected": {"409": 1, "422": 2},
        "failed": {"500": 1},
    }


def test_stats_delta_reports_only_this_run() -> None:
    before = {"decisions": {"admitted": 10, "triage": 1}, "residents_notified": 4}
    after = {"decisions": {"admitted": 25, "triage": 1, "not_admitted": 3}, "residents_notified": 9}
    assert stats_delta(before, after) == {
        "decisions": {"admitted": 15, "triage": 0, "not_admitted": 3},
        "residents_notified": 5,
    }


def test_agreement_counts_right_item_and_off_list_rejections() -> None:
    pairs = [
        ("S03", {"outcome": "admitted", "item_code": "S03", "department": "street_office"}),
        ("S30", {"outcome": "admitted", "item_code": "S03", "department": "street_office"}),  # wrong item, same dept
        ("P11", {"outcome": "triage", "item_code": None, "department": None}),
        (None, {"outcome": "not_admitted", "item_code": None, "department": None}),
        (None, {"outcome": "admitted", "item_code": "S30", "department": "street_office"}),
        ("S03", None),  # not decided yet
    ]
    result = classification_agreement(pairs, DEPARTMENTS_OF)
    assert result["sampled"] == 6
    assert result["decided"] == 5
    assert result["agree"] == 2
    assert result["agreement_rate"] == 0.4
    assert result["same_department"] == 2
    assert result["triage"] == 1
    assert result["admitted_off_list"] == 1


def test_agreement_with_nothing_decided_has_no_rate() -> None:
    assert classification_agreement([("S03", None)], DEPARTMENTS_OF)["agreement_rate"] is None


def test_summary_is_json_ready_and_printable() -> None:
    desk = DepartmentTally(seen=3, signed=2, resolved=1, left_unsigned=1, left_unresolved=1)
    desk.errors["resolve 409"] += 1
    summary = build_summary(
        posts=[PostOutcome("a", "S03", 202, "c1"), PostOutcome("b", None, 422)],
        router={"decisions": {"admitted": 1, "not_admitted": 0, "triage": 0}, "by_department": {"street_office": 1}},
        departments={"by_status": {"resolved": 1}, "by_department": {}},
        notify={"messages": {"resolved": {"sent": 1}}, "residents_notified": 1},
        desk=desk,
        agreement=classification_agreement([("S03", {"outcome": "admitted", "item_code": "S03"})], DEPARTMENTS_OF),
        drained=True,
    )
    assert json.loads(json.dumps(summary)) == summary
    assert summary["departments"]["simulated"]["errors"] == {"resolve 409": 1}
    table = format_summary(summary)
    for expected in ("reports posted", "422: 1", "street_office", "resolved", "sent: 1", "100.0%"):
        assert expected in table


def test_departments_leave_a_few_percent_of_cases_open() -> None:
    fates = Counter(fate_of(f"case-{i}") for i in range(5000))
    assert 0.01 < fates["leave"] / 5000 < 0.03
    assert 0.02 < fates["sign_only"] / 5000 < 0.04
    assert fate_of("case-1") == fate_of("case-1")
