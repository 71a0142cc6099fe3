"""The second stage (open-set check) and the calibration of confidence, on arrays and on the trained model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from gridloop.admission import cli
from gridloop.admission.classifier import _departments
from gridloop.admission.examples import cv_examples
from gridloop.admission.open_set import (
    ADMIT,
    ADMITTED,
    REFUSE,
    TRIAGE,
    Calibrator,
    OpenSetCheck,
    decide,
    fit_calibrator,
    fit_open_set,
    fit_refusal,
    score,
)
from tests.unit.test_admission_classifier import trained_classifier

# Three classes: an item of the street office, an item of the police, one off-list family.
DEPARTMENTS = np.array(["street_office", "police", ""], dtype=object)


def _rows(probs: list[list[float]], sims: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    return np.array(probs), np.array(sims)


def test_a_report_closer_to_an_off_list_family_than_to_its_item_is_refused() -> None:
    probs, sims = _rows([[0.95, 0.0, 0.05]], [[0.10, 0.05, 0.30]])
    first = decide(probs, sims, DEPARTMENTS, 0.85, 0.8, OpenSetCheck())
    second = decide(probs, sims, DEPARTMENTS, 0.85, 0.8, OpenSetCheck(refuse_gap=0.1))
    assert (first.outcome[0], first.chosen[0]) == (ADMIT, 0)
    assert (second.outcome[0], second.chosen[0]) == (REFUSE, 2)


def test_a_report_far_from_every_example_of_its_item_goes_to_triage() -> None:
    probs, sims = _rows([[0.95, 0.0, 0.05]], [[0.04, 0.02, 0.03]])
    assert decide(probs, sims, DEPARTMENTS, 0.85, 0.8, OpenSetCheck(floor=0.05)).outcome[0] == TRIAGE
    assert decide(probs, sims, DEPARTMENTS, 0.85, 0.8, OpenSetCheck(floor=0.02)).outcome[0] == ADMIT


def test_open_set_thresholds_are_fitted_under_the_cost_matrix() -> None:
    """Off-list reports that the first stage forwards sit closer to the off-list mean: a refusal gap pays."""
    rng = np.random.default_rng(3)
    n = 400
    y = rng.integers(0, 3, n)
    probs = np.where(y[:, None] == np.arange(3), 0.9, 0.05)
    probs[y == 2] = [0.9, 0.05, 0.05]  # the first stage's shortcut: off-list reports look like item 0
    sims = np.where(y[:, None] == np.arange(3), 0.4, 0.1) + rng.normal(0, 0.02, (n, 3))
    check = fit_open_set(probs, sims, y, DEPARTMENTS, 0.85, 0.8, max_triage=0.08)
    before = score(decide(probs, sims, DEPARTMENTS, 0.85, 0.8, OpenSetCheck()), y, DEPARTMENTS)
    after = score(decide(probs, sims, DEPARTMENTS, 0.85, 0.8, check), y, DEPARTMENTS)
    assert not math.isinf(check.refuse_gap)
    assert after.cost_per_report < before.cost_per_report and after.misroute_rate < before.misroute_rate
    assert after.not_admitted_recall > 0.95


def test_open_set_stays_off_when_it_cannot_help() -> None:
    y = np.array([0, 1, 2] * 50)
    probs = np.where(y[:, None] == np.arange(3), 0.9, 0.05)
    sims = np.full((len(y), 3), 0.2)
    assert fit_open_set(probs, sims, y, DEPARTMENTS, 0.85, 0.8, max_triage=0.08) == OpenSetCheck()


def test_calibrated_confidence_says_how_often_such_decisions_were_right() -> None:
    """Forwarded at a raw 0.97 but right only 7 times in 10: the calibrator says 0.7."""
    y = np.array([0] * 70 + [1] * 30)
    probs = np.tile([0.97, 0.02, 0.01], (100, 1))
    decided = decide(probs, np.zeros((100, 3)), DEPARTMENTS, 0.85, 0.8, OpenSetCheck())
    calibrator = fit_calibrator(decided, y, DEPARTMENTS)
    assert calibrator(ADMITTED, 0.97) == pytest.approx(0.7, abs=0.001)
    isotonic = fit_calibrator(decided, y, DEPARTMENTS, method="isotonic")
    assert isotonic(ADMITTED, 0.97) == pytest.approx(0.7)
    assert Calibrator()(ADMITTED, 0.97) == 0.97  # no knots: the raw score
    assert Calibrator.from_dict(calibrator.to_dict()) == calibrator
    assert OpenSetCheck.from_dict(OpenSetCheck(refuse_gap=0.1).to_dict()) == OpenSetCheck(refuse_gap=0.1)


def test_the_classifier_decides_one_report_as_cross_validation_decides_many() -> None:
    """`Classifier._classify` and the arrays cross-validation tunes on make the same decisions."""
    classifier = trained_classifier()
    texts = [e.text for e in cv_examples()[::40]]
    scores = [classifier._scores(t) for t in texts]
    decided = decide(
        np.array([s.probs for s in scores]),
        np.array([s.sims if s.sims is not None else np.zeros(len(classifier.classes)) for s in scores]),
        _departments(classifier.classes, classifier.admission_list),
        classifier.threshold,
        classifier.refusal_threshold,
        classifier.open_set,
    )
    outcomes = {ADMIT: "admitted", REFUSE: "not_admitted", TRIAGE: "triage"}
    for i, text in enumerate(texts):
        decision = classifier._classify(text, None)
        assert decision.outcome == outcomes[int(decided.outcome[i])], text
        if decision.outcome == "admitted":
            assert decision.item_code == classifier.classes[decided.chosen[i]]
        if decision.outcome == "not_admitted":
            assert "NA:" + str(decision.reason_code) == classifier.classes[decided.chosen[i]]


def test_the_model_carries_its_cross_validation_figures(capsys: pytest.CaptureFixture, monkeypatch) -> None:
    monkeypatch.setattr(cli, "default_classifier", trained_classifier)
    assert cli.evaluate_main(["--cv", "--json"]) == 0
    cv = json.loads(capsys.readouterr().out)
    assert {"first_stage", "with_open_set", "reliability_raw", "reliability_calibrated"} <= cv.keys()
    assert cv["with_open_set"]["cost_per_report"] <= cv["first_stage"]["cost_per_report"]
    assert cli.evaluate_main(["--cv"]) == 0
    assert "reliability, calibrated" in capsys.readouterr().out


def test_evaluate_scores_a_split_file_without_printing_its_texts(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    monkeypatch.setattr(cli, "default_classifier", trained_classifier)
    rows = [
        {"text": "院子门口那盏路灯黑了一个多星期", "label": "S02"},
        {"text": "宽带又断了，喊社区给电信打电话", "label": "NOT_ADMITTED", "reason": "TELECOM"},
        {"text": "楼上两口子打起来了，女的满脸是血", "label": "P06", "danger": True},
    ]
    path = tmp_path / "split.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert cli.evaluate_main(["--file", str(path), "--reliability"]) == 0
    out = capsys.readouterr().out
    assert "not-admitted recall" in out and "danger not to police" in out and "reliability" in out
    assert not any(r["text"] in out for r in rows)
    assert cli.evaluate_main(["--file", str(path), "--json", "--reliability"]) == 0
    metrics = json.loads(capsys.readouterr().out)[str(path)]
    assert metrics["n"] == 3 and metrics["danger_reports"] == 1 and "reliability" in metrics
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "label": "Z99"}\n', encoding="utf-8")
    assert cli.evaluate_main(["--file", str(bad)]) == 2


def test_refusal_threshold_follows_the_cost_matrix_on_out_of_fold_rates() -> None:
    """Refusals at P(not admitted) 0.7 that were right 85 times in 100 are cheaper than triage (0.15 x 5 < 1), those
    at 0.55 right only half the time are not: the threshold drops from the cost rule's 0.8 to 0.6, no lower; had
    the 0.7 ones been right 70 times in 100, it would stay at 0.8."""

    def rows(right_at_07: int) -> tuple[np.ndarray, np.ndarray]:
        probs = np.vstack([np.tile([0.3, 0.0, 0.7], (100, 1)), np.tile([0.45, 0.0, 0.55], (100, 1))])
        y = np.array([2] * right_at_07 + [0] * (100 - right_at_07) + [2] * 50 + [0] * 50)
        return probs, y

    assert fit_refusal(*rows(85), DEPARTMENTS, 0.8) == pytest.approx(0.6)
    assert fit_refusal(*rows(70), DEPARTMENTS, 0.8) == pytest.approx(0.8)
