"""Retraining: for the admission list in force, with operators' corrections (triage decisions and relabelled
reports), reporting held-out metrics before and after, and refusing a model that is worse."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gridloop.admission.admission_list import AdmissionList, default_admission_list
from gridloop.admission.classifier import Classifier, Decision, TrainingConfig, default_classifier
from gridloop.admission.examples import (
    NOT_ADMITTED,
    Example,
    all_heldout_examples,
    example_from_dict,
    heldout2_examples,
    heldout3_examples,
    heldout_examples,
    train_examples,
)
from gridloop.admission.metrics import Metrics, evaluate

# A retrained model may lose this much held-out item accuracy (noise of one report in a few hundred) ...
ACCURACY_TOLERANCE = 0.005
# ... and may not misroute more than the current model, nor more than the target.
MISROUTE_TARGET = 0.01


def corrections_from_dicts(rows: Iterable[Mapping[str, object]], admission_list: AdmissionList) -> list[Example]:
    """Validate corrections (same format as the examples); held-out texts are refused to keep it honest."""
    heldout = {e.text for e in all_heldout_examples()}
    corrections: list[Example] = []
    for n, row in enumerate(rows, start=1):
        try:
            example = example_from_dict(row, admission_list.codes)
        except ValueError as exc:
            raise ValueError(f"correction {n}: {exc}") from None
        if example.text in heldout:
            raise ValueError(f"correction {n}: text is in the held-out split and cannot be used for training")
        corrections.append(example)
    return corrections


def restate_for_list(examples: Iterable[Example], admission_list: AdmissionList) -> list[Example]:
    """Examples restated for a replaced list: a report about an item the list no longer has is now off the list."""
    out = []
    for e in examples:
        if e.admitted and e.label not in admission_list:
            e = dataclasses.replace(e, label=NOT_ADMITTED, reason="OUT_OF_SCOPE")
        out.append(e)
    return out


class _OnList:
    """A model's decisions restated against another list (what the router does while it has no model for it)."""

    def __init__(self, classifier: Classifier, admission_list: AdmissionList) -> None:
        self._classifier = classifier
        self.admission_list = admission_list
        self.threshold = classifier.threshold
        self.list_version = admission_list.version
        self.model_version = classifier.model_version

    def classify_many(self, texts: Iterable[str]) -> list[Decision]:
        return [self._restate(d) for d in self._classifier.classify_many(texts)]

    def _restate(self, decision: Decision) -> Decision:
        if decision.outcome != "admitted":
            return decision
        item = self.admission_list.get(str(decision.item_code))
        if item is None:
            return dataclasses.replace(decision, outcome="triage", item_code=None, department=None)
        return dataclasses.replace(decision, department=item.department)


@dataclass(frozen=True)
class TrainingData:
    """Where retraining takes its examples from (the shipped splits; tests pass smaller ones)."""

    train: Callable[[], list[Example]] = train_examples
    heldout: Callable[[], list[Example]] = lambda: heldout_examples() + heldout2_examples() + heldout3_examples()
    config: TrainingConfig = field(default_factory=TrainingConfig)
    threshold: float | None = None  # None: tuned by cross-validation (config)


@dataclass(frozen=True)
class Retraining:
    before: Metrics
    after: Metrics
    model: Classifier
    accepted: bool
    reason: str  # why it was refused ("" when accepted)
    corrections: int
    items_without_examples: list[str]  # items of the list the model cannot choose: no example names them

    def summary(self) -> dict[str, Any]:
        keys = ("item_accuracy", "misroute_rate", "triage_rate", "not_admitted_recall", "expected_cost")
        return {
            "before": {k: round(getattr(self.before, k), 4) for k in keys} | {"model": self.before.model_version},
            "after": {k: round(getattr(self.after, k), 4) for k in keys} | {"model": self.after.model_version},
            "accepted": self.accepted,
            "reason": self.reason,
            "corrections": self.corrections,
            "items_without_examples": self.items_without_examples,
            "list_version": self.model.list_version,
        }


def worse(before: Metrics, after: Metrics) -> str:
    """Why `after` is worse than `before` on the same held-out reports ("" if it is not)."""
    if after.item_accuracy < before.item_accuracy - ACCURACY_TOLERANCE:
        return f"item accuracy {after.item_accuracy:.3f} < {before.item_accuracy:.3f}"
    if after.misroute_rate > max(before.misroute_rate, MISROUTE_TARGET):
        return f"misroute {after.misroute_rate:.3f} > {max(before.misroute_rate, MISROUTE_TARGET):.3f}"
    return ""


def retrain_for_list(
    current: Classifier,
    admission_list: AdmissionList,
    corrections: Sequence[Mapping[str, object]],
    data: TrainingData | None = None,
) -> Retraining:
    """Train for `admission_list` on the shipped examples (restated for it) plus the corrections that name an item
    it has; score the current model (restated for the list) and the new one on the same held-out reports."""
    data = data or TrainingData()
    usable = [row for row in corrections if row.get("label") == NOT_ADMITTED or row.get("label") in admission_list]
    extra = corrections_from_dicts(usable, admission_list)
    rows = restate_for_list(data.train(), admission_list)
    heldout = restate_for_list(data.heldout(), admission_list)
    trained = Classifier.train(
        rows,
        admission_list,
        extra=extra,
        config=data.config,
        tune_threshold=data.threshold is None,
        threshold=data.threshold,
    )
    before = evaluate(_OnList(current, admission_list), heldout)  # type: ignore[arg-type]
    after = evaluate(trained, heldout)
    named = {e.label for e in [*rows, *extra] if e.admitted}
    missing = [code for code in admission_list.codes if code not in named]
    reason = worse(before, after)
    return Retraining(before, after, trained, not reason, reason, len(extra), missing)


def retrain(
    corrections: list[dict[str, object]],
    *,
    base: Classifier | None = None,
    admission_list: AdmissionList | None = None,
) -> tuple[Metrics, Metrics, Classifier]:
    """Train on the shipped split plus `corrections`; return held-out metrics before and after, and the model."""
    admission_list = admission_list or default_admission_list()
    extra = corrections_from_dicts(corrections, admission_list)
    base = base or default_classifier()
    heldout = heldout_examples()
    before = evaluate(base, heldout)
    retrained = Classifier.train(train_examples(), admission_list, extra=extra, config=base.config)
    return before, evaluate(retrained, heldout), retrained
