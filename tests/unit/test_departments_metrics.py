"""Departments' /metrics stays bounded: no metric family crosses item and community (that cross product was
32,000 lines and 3.3 MB per scrape), and the database-derived gauges drop combinations that left the window."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

from prometheus_client import REGISTRY, generate_latest

from services.departments import collectors

METRIC_MODULES = ("gridloop.delivery.metrics", "gridloop.servicekit.app", "services.departments.metrics")
CROSSED = {"item_code", "community"}


def row(dimension: str, department: str, key: str, **counts: int) -> SimpleNamespace:
    """A row as rate_counts_query returns it: per item (community NULL) or per community (item NULL)."""
    values = {name: counts.get(name, 0) for name in (*collectors.KINDS, *collectors.DEADLINES)}
    item_code, community_id = (key, None) if dimension == "item" else (None, key)
    return SimpleNamespace(
        dimension=dimension, department=department, item_code=item_code, community_id=community_id, **values
    )


def exported_samples() -> list:
    return [sample for family in REGISTRY.collect() for sample in family.samples]


def test_no_metric_family_the_departments_service_exports_has_both_item_and_community_labels():
    for module in METRIC_MODULES:
        importlib.import_module(module)
    crossed = [
        name
        for collector, names in REGISTRY._collector_to_names.items()
        if CROSSED <= set(getattr(collector, "_labelnames", ()))
        for name in names
    ]
    assert not crossed, f"item × community is unbounded for one family (issue 8): {sorted(crossed)}"


def test_the_rate_gauges_export_per_item_and_per_community_series_never_both():
    collectors.set_rate_gauges(
        [
            row("item", "police", "P04", dispatched=8, signed_on_time=6, due=4, resolved_on_time=1, sign=2),
            row("item", "finance", "F15", dispatched=2, due=1, resolve=1),
            row("community", "police", "JN-A", dispatched=5, signed_on_time=4, due=3, resolved_on_time=1, sign=2),
            row("community", "police", "JN-B", dispatched=3, signed_on_time=2, due=1),
            row("community", "finance", "JN-A", dispatched=2, due=1, resolve=1),
        ]
    )
    samples = exported_samples()
    assert not [s for s in samples if CROSSED <= set(s.labels)], "a sample labelled by item and community"

    def value(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    assert value("gridloop_item_rate_cases", kind="dispatched", department="police", item_code="P04") == 8
    assert value("gridloop_item_rate_cases", kind="dispatched", department="finance", item_code="F15") == 2
    assert value("gridloop_community_rate_cases", kind="signed_on_time", department="police", community="JN-B") == 2
    assert value("gridloop_item_overdue_cases", clock="resolve", department="finance", item_code="F15") == 1
    assert value("gridloop_community_overdue_cases", clock="sign", department="police", community="JN-A") == 2
    # Both breakdowns add up to the same department totals, which is what the recording rules rely on.
    for department in ("police", "finance"):
        for kind in collectors.KINDS:
            per_item = sum(
                s.value
                for s in samples
                if s.name == "gridloop_item_rate_cases"
                and s.labels["kind"] == kind
                and s.labels["department"] == department
            )
            per_community = sum(
                s.value
                for s in samples
                if s.name == "gridloop_community_rate_cases"
                and s.labels["kind"] == kind
                and s.labels["department"] == department
            )
            assert per_item == per_community, (department, kind)


def test_a_combination_that_left_the_window_disappears_instead_of_keeping_its_last_value():
    collectors.set_rate_gauges([row("item", "police", "P04", dispatched=1), row("community", "police", "JN-A")])
    collectors.set_rate_gauges([row("item", "police", "P05", dispatched=1), row("community", "police", "JN-B")])
    labelled = {
        (s.name, s.labels.get("item_code") or s.labels.get("community"))
        for s in exported_samples()
        if s.name in {"gridloop_item_rate_cases", "gridloop_community_rate_cases", "gridloop_item_overdue_cases"}
    }
    assert labelled == {
        ("gridloop_item_rate_cases", "P05"),
        ("gridloop_community_rate_cases", "JN-B"),
        ("gridloop_item_overdue_cases", "P05"),
    }


def test_the_departments_gauges_stay_small_at_full_scale():
    """Every item in every community (63 × 108, 3 departments): the export grows with items + communities."""
    items = [(f"D{n % 3}", f"I{n:02d}") for n in range(63)]
    communities = [(f"D{d}", f"C{n:03d}") for n in range(108) for d in range(3)]
    collectors.set_rate_gauges(
        [row("item", d, code, dispatched=100, sign=1) for d, code in items]
        + [row("community", d, code, dispatched=30, sign=1) for d, code in communities]
    )
    families = {
        "gridloop_item_rate_cases",
        "gridloop_community_rate_cases",
        "gridloop_item_overdue_cases",
        "gridloop_community_overdue_cases",
    }
    series = [s for s in exported_samples() if s.name in families]
    assert len(series) == (63 + 3 * 108) * (len(collectors.KINDS) + len(collectors.DEADLINES))  # 2,322, not 32,000
    # These families' share of the exposition (the process registry also holds whatever other tests exported).
    text = generate_latest(REGISTRY).decode()
    size = sum(len(line) + 1 for line in text.splitlines() if any(name in line for name in families))
    assert size < 400_000  # was 3.3 MB
