"""Retraining with operator corrections (a triaged or mis-decided report, relabelled by an operator)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gridloop.admission.admission_list import AdmissionList, default_admission_list
from gridloop.admission.classifier import Classifier, default_classifier
from gridloop.admission.examples import (
    Example,
    all_heldout_examples,
    example_from_dict,
    heldout_examples,
    train_examples,
)
from gridloop.admission.metrics import Metrics, evaluate


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
