"""Held-out metrics: item accuracy, misroute rate, triage rate and the per-department confusion."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from gridloop.admission.costs import COSTS
from gridloop.admission.examples import Example
from gridloop.contracts.topics import DEPARTMENTS

if TYPE_CHECKING:
    from gridloop.admission.classifier import Classifier, Decision

NOT_ADMITTED_COLUMN = "not_admitted"
TRIAGE_COLUMN = "triage"
CONFUSION_COLUMNS: tuple[str, ...] = (*DEPARTMENTS, NOT_ADMITTED_COLUMN, TRIAGE_COLUMN)


@dataclass(frozen=True)
class Metrics:
    n: int
    item_accuracy: float  # right item (or not_admitted for a not-admitted report); triage counts as wrong
    misroute_rate: float  # forwarded to the wrong department, or a not-admitted report forwarded at all
    triage_rate: float
    not_admitted_recall: float  # not-admitted reports recognised as such
    reason_accuracy: float  # ... and given the right reason code
    threshold: float
    list_version: str
    # true department (or not_admitted) -> predicted department / not_admitted / triage -> count
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    expected_cost: float = 0.0  # mean cost per report under COSTS
    danger_reports: int = 0  # reports labelled "danger" (violence risk) ...
    danger_away_from_police: int = 0  # ... that landed outside the police and triage (must be 0)
    model_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _true_column(example: Example, classifier: Classifier) -> str:
    if not example.admitted:
        return NOT_ADMITTED_COLUMN
    return classifier.admission_list.items[example.label].department


def _predicted_column(decision: Decision) -> str:
    if decision.outcome == "admitted":
        return str(decision.department)
    return NOT_ADMITTED_COLUMN if decision.outcome == "not_admitted" else TRIAGE_COLUMN


def evaluate(classifier: Classifier, examples: Sequence[Example]) -> Metrics:
    """Classify every example (without hints) and score the decisions."""
    decisions = classifier.classify_many(e.text for e in examples)
    rows = (*DEPARTMENTS, NOT_ADMITTED_COLUMN)
    confusion = {r: dict.fromkeys(CONFUSION_COLUMNS, 0) for r in rows}
    correct = misrouted = triaged = na_total = na_found = na_reason = 0
    cost = 0.0
    danger_total = danger_away = 0
    for example, decision in zip(examples, decisions, strict=True):
        true, predicted = _true_column(example, classifier), _predicted_column(decision)
        kind = error_kind(example, decision, true, predicted)
        if example.danger:
            danger_total += 1
            if predicted not in ("police", TRIAGE_COLUMN):
                danger_away += 1
                kind = "danger_away_from_police"
        cost += COSTS[kind]
        confusion[true][predicted] += 1
        triaged += decision.outcome == "triage"
        if example.admitted:
            correct += decision.outcome == "admitted" and decision.item_code == example.label
            misrouted += decision.outcome == "admitted" and predicted != true
        else:
            na_total += 1
            found = decision.outcome == "not_admitted"
            na_found += found
            na_reason += found and decision.reason_code == example.reason
            correct += found
            misrouted += decision.outcome == "admitted"
    n = len(examples) or 1
    return Metrics(
        n=len(examples),
        item_accuracy=correct / n,
        misroute_rate=misrouted / n,
        triage_rate=triaged / n,
        not_admitted_recall=na_found / (na_total or 1),
        reason_accuracy=na_reason / (na_total or 1),
        threshold=classifier.threshold,
        list_version=classifier.list_version,
        confusion=confusion,
        expected_cost=cost / n,
        danger_reports=danger_total,
        danger_away_from_police=danger_away,
        model_version=getattr(classifier, "model_version", ""),
    )


def error_kind(example: Example, decision: Decision, true: str, predicted: str) -> str:
    """Which cell of COSTS a decision falls in."""
    if decision.outcome == "triage":
        return "triage"
    if not example.admitted:
        return "right" if decision.outcome == "not_admitted" else "forwarded_off_list"
    if decision.outcome == "not_admitted":
        return "refused_on_list"
    if predicted != true:
        return "wrong_department"
    return "right" if decision.item_code == example.label else "right_department_wrong_item"


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    n: int
    mean_confidence: float
    accuracy: float  # share of these decisions that were right (the department, or "not admitted")


def reliability(
    classifier: Classifier, examples: Sequence[Example], edges: Sequence[float] = ()
) -> list[ReliabilityBin]:
    """Calibration: decisions (triage excluded) binned by stated confidence, against how often they were right.

    "Right" is what the confidence is about: P(department) for a forwarded report, P(not on the list) for a
    refusal. Confidence 0.9 is honest when such decisions are right about 9 times in 10.
    """
    edges = tuple(edges) or (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0001)
    decisions = classifier.classify_many(e.text for e in examples)
    rows: list[tuple[float, bool]] = []
    for example, decision in zip(examples, decisions, strict=True):
        if decision.outcome == "triage":
            continue
        if decision.outcome == "not_admitted":
            right = not example.admitted
        else:
            right = example.admitted and _true_column(example, classifier) == decision.department
        rows.append((decision.confidence, right))
    bins = []
    for low, high in itertools.pairwise(edges):
        inside = [(c, r) for c, r in rows if low <= c < high]
        if inside:
            bins.append(
                ReliabilityBin(
                    low=low,
                    high=min(high, 1.0),
                    n=len(inside),
                    mean_confidence=sum(c for c, _ in inside) / len(inside),
                    accuracy=sum(r for _, r in inside) / len(inside),
                )
            )
    return bins


def format_reliability(bins: Sequence[ReliabilityBin], title: str) -> str:
    lines = [f"{title}: reliability (triage excluded)", f"{'confidence':<14}{'n':>6}{'mean conf':>11}{'right':>8}"]
    for b in bins:
        lines.append(f"{b.low:.2f}-{b.high:<9.2f}{b.n:>6}{b.mean_confidence:>11.3f}{b.accuracy:>8.3f}")
    return "\n".join(lines)


def format_table(metrics: Metrics, title: str = "held-out") -> str:
    lines = [
        f"{title}: {metrics.n} reports, admission list {metrics.list_version}, model {metrics.model_version}, "
        f"threshold {metrics.threshold:.2f}",
        "",
        f"{'metric':<22}{'value':>8}  target",
        f"{'item accuracy':<22}{metrics.item_accuracy:>8.3f}  >= 0.95",
        f"{'misroute rate':<22}{metrics.misroute_rate:>8.3f}  <= 0.01",
        f"{'triage rate':<22}{metrics.triage_rate:>8.3f}  <= 0.08",
        f"{'not-admitted recall':<22}{metrics.not_admitted_recall:>8.3f}  >= 0.95 on near misses",
        f"{'reason-code accuracy':<22}{metrics.reason_accuracy:>8.3f}",
        f"{'cost per report':<22}{metrics.expected_cost:>8.3f}  (COSTS in costs.py)",
        *(
            [f"{'danger not to police':<22}{metrics.danger_away_from_police:>8d}  of {metrics.danger_reports}"]
            if metrics.danger_reports
            else []
        ),
        "",
        "confusion (rows: true, columns: decided)",
        f"{'':<15}" + "".join(f"{c:>14}" for c in CONFUSION_COLUMNS),
    ]
    for row, counts in metrics.confusion.items():
        lines.append(f"{row:<15}" + "".join(f"{counts[c]:>14}" for c in CONFUSION_COLUMNS))
    return "\n".join(lines)


def format_comparison(before: Metrics, after: Metrics) -> str:
    lines = [f"{'metric':<22}{'before':>10}{'after':>10}"]
    for name in ("item_accuracy", "misroute_rate", "triage_rate", "not_admitted_recall", "threshold"):
        label = name.replace("_", " ")
        lines.append(f"{label:<22}{getattr(before, name):>10.3f}{getattr(after, name):>10.3f}")
    return "\n".join(lines)
