"""The second stage after the first-stage classifier, and the calibration of what it says (issue #24).

The logistic regression learns shortcuts: one shared word (燃气, 停车, 退休) can outweigh everything else in a
report. The open-set check looks at the whole report instead: its cosine similarity (TF-IDF, the same features)
to the mean of the chosen item's own training reports, against its similarity to the not-admitted families'
means. A report that is closer to an off-list family than to the item it was sent to is refused (or triaged),
and one that is far from every example of its item goes to an operator. Its thresholds, like the calibrators
that turn a decision's raw score into "right 9 times in 10", are fitted on out-of-fold scores only.

Everything here works on arrays of scores so that cross-validation can decide thousands of reports at once; the
classifier makes the same decisions one report at a time (`Classifier._classify`; a unit test keeps them equal).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from gridloop.admission.costs import COSTS

ADMIT, REFUSE, TRIAGE = 0, 1, 2
NA_DEPARTMENT = ""  # the department of a not-admitted class


@dataclass(frozen=True)
class OpenSetCheck:
    """Thresholds of the second stage, on similarities to class means (cosine, 0-1). inf / 0 turn a rule off."""

    refuse_gap: float = math.inf  # closer to an off-list family than to the item by this much: refuse
    triage_gap: float = math.inf  # ... by this much: triage
    floor: float = 0.0  # similarity to the chosen item's mean below this: triage

    def to_dict(self) -> dict[str, float | None]:
        return {k: (None if math.isinf(v) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, row: dict[str, Any] | None) -> OpenSetCheck:
        row = row or {}
        inf = math.inf
        return cls(
            refuse_gap=inf if row.get("refuse_gap") is None else float(row["refuse_gap"]),
            triage_gap=inf if row.get("triage_gap") is None else float(row["triage_gap"]),
            floor=float(row.get("floor") or 0.0),
        )


@dataclass(frozen=True)
class Calibrator:
    """Monotone maps (isotonic regression knots) from a decision's raw score to how often such decisions are
    right, one per kind of decision; a kind without knots keeps its raw score."""

    knots: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict)

    def __call__(self, kind: str, score: float) -> float:
        found = self.knots.get(kind)
        if not found:
            return score
        return float(np.interp(score, found[0], found[1]))

    def many(self, kind: str, scores: np.ndarray) -> np.ndarray:
        found = self.knots.get(kind)
        return scores if not found else np.interp(scores, found[0], found[1])

    def to_dict(self) -> dict[str, list[list[float]]]:
        return {k: [list(x), list(y)] for k, (x, y) in self.knots.items()}

    @classmethod
    def from_dict(cls, row: dict[str, Any] | None) -> Calibrator:
        return cls({k: (tuple(map(float, xy[0])), tuple(map(float, xy[1]))) for k, xy in (row or {}).items()})


# Kinds of decision with their own calibration: what the raw score is.
ADMITTED = "admitted"  # P(department)
REFUSED = "refused"  # P(not admitted), first stage
REFUSED_OPEN_SET = "refused_open_set"  # the similarity gap, second stage


def class_means(x: Any, y: np.ndarray, n_classes: int) -> np.ndarray:
    """(features, classes): the L2-normalised mean of each class's (L2-normalised) training rows."""
    from scipy.sparse import csr_matrix

    onehot = csr_matrix((np.ones(len(y)), (y, np.arange(len(y)))), shape=(n_classes, len(y)))
    means = np.asarray((onehot @ x).todense(), dtype=np.float64)
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    means /= np.where(norms > 0, norms, 1.0)
    return np.ascontiguousarray(means.T)


@dataclass(frozen=True)
class Decided:
    """Decisions for many reports: outcome (ADMIT / REFUSE / TRIAGE), the class chosen (the item, the
    not-admitted class, or for triage the best guess), the raw score and which kind of score it is."""

    outcome: np.ndarray
    chosen: np.ndarray
    score: np.ndarray
    kind: np.ndarray  # ADMITTED / REFUSED / REFUSED_OPEN_SET / "" (triage)


def decide(
    probs: np.ndarray,
    sims: np.ndarray,
    departments: np.ndarray,
    threshold: float,
    refusal: float,
    check: OpenSetCheck,
) -> Decided:
    """The classifier's decision rules (no hint, no danger signals) for rows of probabilities and similarities."""
    return first_stage(probs, sims, departments, threshold, refusal).then(check)


@dataclass(frozen=True)
class FirstStage:
    """First-stage decisions and what the second stage reads, computed once for many checks."""

    decided: Decided
    s_item: np.ndarray  # similarity to the mean of the best item
    gap: np.ndarray  # nearest off-list family's similarity minus s_item
    na_near: np.ndarray  # the nearest off-list family (class index)

    def then(self, check: OpenSetCheck) -> Decided:
        d = self.decided
        if not len(self.gap):
            return d
        refuse2 = (d.outcome != REFUSE) & (self.gap >= check.refuse_gap)
        triage2 = (d.outcome == ADMIT) & ~refuse2 & ((self.gap >= check.triage_gap) | (self.s_item < check.floor))
        return Decided(
            outcome=np.where(refuse2, REFUSE, np.where(triage2, TRIAGE, d.outcome)),
            chosen=np.where(refuse2, self.na_near, d.chosen),
            score=np.where(refuse2, self.gap, d.score),
            kind=np.where(refuse2, REFUSED_OPEN_SET, np.where(triage2, "", d.kind)).astype(object),
        )


def first_stage(
    probs: np.ndarray, sims: np.ndarray, departments: np.ndarray, threshold: float, refusal: float
) -> FirstStage:
    n = len(probs)
    rows = np.arange(n)
    item_cols = np.flatnonzero(departments != NA_DEPARTMENT)
    na_cols = np.flatnonzero(departments == NA_DEPARTMENT)
    best_item = item_cols[np.argmax(probs[:, item_cols], axis=1)]
    p_best = probs[rows, best_item]
    if len(na_cols):
        p_na = probs[:, na_cols].sum(axis=1)
        na_top = na_cols[np.argmax(probs[:, na_cols], axis=1)]
        says_na = probs[rows, na_top] > p_best
    else:
        p_na, na_top, says_na = np.zeros(n), np.zeros(n, dtype=np.intp), np.zeros(n, dtype=bool)
    same_dept = departments[best_item][:, None] == departments[None, :]
    p_dept = (probs * same_dept).sum(axis=1)
    outcome = np.full(n, TRIAGE)
    outcome[says_na & (p_na >= refusal)] = REFUSE
    outcome[~says_na & (p_dept >= threshold)] = ADMIT
    decided = Decided(
        outcome=outcome,
        chosen=np.where(outcome == REFUSE, na_top, best_item),
        score=np.where(outcome == REFUSE, p_na, np.where(outcome == ADMIT, p_dept, np.maximum(p_dept, p_na))),
        kind=np.where(outcome == REFUSE, REFUSED, np.where(outcome == ADMIT, ADMITTED, "")).astype(object),
    )
    if not len(na_cols):
        empty = np.empty(0)
        return FirstStage(decided, empty, empty, np.empty(0, dtype=np.intp))
    s_item = sims[rows, best_item]
    na_near = na_cols[np.argmax(sims[:, na_cols], axis=1)]
    return FirstStage(decided, s_item, sims[rows, na_near] - s_item, na_near)


@dataclass(frozen=True)
class CvMetrics:
    """Out-of-fold metrics of a set of decisions (the training side's stand-in for a held-out split)."""

    n: int
    item_accuracy: float
    misroute_rate: float
    triage_rate: float
    not_admitted_recall: float
    on_list_refused: float
    cost_per_report: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _right_department(decided: Decided, y: np.ndarray, departments: np.ndarray) -> np.ndarray:
    same: np.ndarray = departments[decided.chosen] == departments[y]
    return same


def score(decided: Decided, y: np.ndarray, departments: np.ndarray) -> CvMetrics:
    """Accuracy, misroute, triage and cost per report (COSTS) of decisions against true classes."""
    is_na = departments[y] == NA_DEPARTMENT
    admit, refuse, triage = (decided.outcome == k for k in (ADMIT, REFUSE, TRIAGE))
    same_dept = _right_department(decided, y, departments)
    misroute = admit & (is_na | ~same_dept)
    correct = (admit & (decided.chosen == y)) | (refuse & is_na)
    cost = np.where(
        triage,
        COSTS["triage"],
        np.where(
            refuse,
            np.where(is_na, COSTS["right"], COSTS["refused_on_list"]),
            np.where(
                is_na,
                COSTS["forwarded_off_list"],
                np.where(
                    ~same_dept,
                    COSTS["wrong_department"],
                    np.where(decided.chosen == y, COSTS["right"], COSTS["right_department_wrong_item"]),
                ),
            ),
        ),
    )
    n = max(len(y), 1)
    return CvMetrics(
        n=len(y),
        item_accuracy=float(correct.sum() / n),
        misroute_rate=float(misroute.sum() / n),
        triage_rate=float(triage.sum() / n),
        not_admitted_recall=float((refuse & is_na).sum() / max(int(is_na.sum()), 1)),
        on_list_refused=float((refuse & ~is_na).sum() / max(int((~is_na).sum()), 1)),
        cost_per_report=float(cost.mean()) if len(y) else 0.0,
    )


def fit_open_set(
    probs: np.ndarray,
    sims: np.ndarray,
    y: np.ndarray,
    departments: np.ndarray,
    threshold: float,
    refusal: float,
    max_triage: float,
) -> OpenSetCheck:
    """The thresholds with the least out-of-fold cost per report (COSTS) among those that keep triage within
    `max_triage` and misroutes no higher than the first stage alone; the rules stay off if none helps."""
    stage = first_stage(probs, sims, departments, threshold, refusal)
    base = score(stage.decided, y, departments)
    best, best_cost = OpenSetCheck(), base.cost_per_report
    refuse_gaps = [math.inf, *np.round(np.arange(-0.04, 0.30, 0.02), 3)]
    triage_gaps = [math.inf, *np.round(np.arange(-0.10, 0.20, 0.02), 3)]
    floors = [0.0, *np.round(np.arange(0.04, 0.30, 0.02), 3)]
    for refuse_gap, triage_gap, floor in itertools.product(refuse_gaps, triage_gaps, floors):
        if triage_gap >= refuse_gap:
            continue  # the refusal rule already covers these
        check = OpenSetCheck(float(refuse_gap), float(triage_gap), float(floor))
        m = score(stage.then(check), y, departments)
        if m.triage_rate <= max(max_triage, base.triage_rate) and m.misroute_rate <= base.misroute_rate:
            if m.cost_per_report < best_cost - 1e-9:
                best, best_cost = check, m.cost_per_report
    return best


def fit_refusal(
    probs: np.ndarray, y: np.ndarray, departments: np.ndarray, cost_rule: float, lowest: float = 0.5
) -> float:
    """The refusal threshold on P(not admitted), by the cost matrix read on out-of-fold rates instead of on the
    raw probability: refusing instead of triaging pays when such refusals are right at least `cost_rule` of the
    time (1 - cost(triage) / cost(refused on-list)). The lowest threshold (steps of 0.05, not below `lowest`)
    whose extra refusals — the reports that would otherwise be triaged — meet that rate together."""
    na_cols = np.flatnonzero(departments == NA_DEPARTMENT)
    item_cols = np.flatnonzero(departments != NA_DEPARTMENT)
    if not len(na_cols) or not len(y):
        return cost_rule
    p_na = probs[:, na_cols].sum(axis=1)
    says_na = probs[:, na_cols].max(axis=1) > probs[:, item_cols].max(axis=1)
    is_na = departments[y] == NA_DEPARTMENT
    best = cost_rule
    for t in np.round(np.arange(cost_rule - 0.05, lowest - 1e-9, -0.05), 2):
        extra = says_na & (p_na >= t) & (p_na < cost_rule)
        if extra.sum() and is_na[extra].mean() >= cost_rule:
            best = float(t)
    return best


def _right(decided: Decided, y: np.ndarray, departments: np.ndarray) -> np.ndarray:
    """What a decision's confidence is about: the department for a forwarded report, "off the list" for a
    refusal (as in metrics.reliability)."""
    is_na = departments[y] == NA_DEPARTMENT
    right: np.ndarray = np.where(decided.outcome == REFUSE, is_na, ~is_na & _right_department(decided, y, departments))
    return right


def fit_calibrator(
    decided: Decided, y: np.ndarray, departments: np.ndarray, min_rows: int = 30, method: str = "platt"
) -> Calibrator:
    """Per kind of decision (triage is not calibrated), a monotone map from the raw score to how often such
    decisions were right: "platt" (logistic regression on the score's log-odds; two parameters, stable where
    errors are few and clustered) or "isotonic". Stored as knots either way."""
    right = _right(decided, y, departments).astype(np.float64)
    knots: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {}
    for kind in (ADMITTED, REFUSED, REFUSED_OPEN_SET):
        rows = decided.kind == kind
        if rows.sum() < min_rows or right[rows].min() == right[rows].max():
            continue
        scores = decided.score[rows].astype(np.float64)
        if method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, right[rows])
            knots[kind] = (tuple(map(float, iso.X_thresholds_)), tuple(map(float, iso.y_thresholds_)))
            continue
        from sklearn.linear_model import LogisticRegression

        feature = _log_odds if kind != REFUSED_OPEN_SET else (lambda v: v)
        model = LogisticRegression(C=100.0).fit(feature(scores)[:, None], right[rows])
        grid = np.unique(np.concatenate([np.quantile(scores, np.linspace(0, 1, 201)), [scores.min(), scores.max()]]))
        fitted = model.predict_proba(feature(grid)[:, None])[:, 1]
        knots[kind] = (tuple(map(float, grid)), tuple(map(float, np.maximum.accumulate(fitted))))
    return Calibrator(knots)


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    out: np.ndarray = np.log(p / (1 - p))
    return out


def calibrated(decided: Decided, calibrator: Calibrator) -> np.ndarray:
    out = decided.score.astype(np.float64).copy()
    for kind in (ADMITTED, REFUSED, REFUSED_OPEN_SET):
        rows = decided.kind == kind
        out[rows] = calibrator.many(kind, out[rows])
    return out


RELIABILITY_EDGES: tuple[float, ...] = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0001)


def reliability_rows(
    confidence: np.ndarray, right: np.ndarray, edges: Sequence[float] = RELIABILITY_EDGES
) -> list[dict[str, float]]:
    """Decisions binned by stated confidence: n, mean stated, share right."""
    out = []
    for low, high in itertools.pairwise(edges):
        inside = (confidence >= low) & (confidence < high)
        if inside.any():
            out.append(
                {
                    "low": float(low),
                    "high": float(min(high, 1.0)),
                    "n": int(inside.sum()),
                    "mean_confidence": float(confidence[inside].mean()),
                    "right": float(right[inside].mean()),
                }
            )
    return out


def cross_fitted_reliability(
    decided: Decided, y: np.ndarray, departments: np.ndarray, situations: np.ndarray, method: str = "platt"
) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """Reliability of the raw and of the calibrated confidence, the calibrator cross-fitted: fitted on one half
    of the situations and read on the other (and vice versa), so the table is not scored on what it was fitted
    on."""
    decided_rows = decided.outcome != TRIAGE
    right = _right(decided, y, departments)
    half = np.array([hash_half(str(s)) for s in situations], dtype=bool)
    stated = np.zeros(len(y))
    for part in (half, ~half):
        sub = Decided(decided.outcome[~part], decided.chosen[~part], decided.score[~part], decided.kind[~part])
        calibrator = fit_calibrator(sub, y[~part], departments, method=method)
        part_decided = Decided(decided.outcome[part], decided.chosen[part], decided.score[part], decided.kind[part])
        stated[part] = calibrated(part_decided, calibrator)
    raw = decided.score.astype(np.float64)
    return (
        reliability_rows(raw[decided_rows], right[decided_rows]),
        reliability_rows(stated[decided_rows], right[decided_rows]),
    )


def hash_half(situation: str) -> bool:
    """A stable coin per situation (not Python's salted hash)."""
    import zlib

    return zlib.crc32(situation.encode("utf-8")) % 2 == 0
