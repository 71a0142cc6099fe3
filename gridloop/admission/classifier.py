"""Admission classifier: decides whether a grid report is on the admission list, which item, which department.

Features are TF-IDF weighted character n-grams, jieba words and keyword-lexicon hits; the model is a
multinomial logistic regression over the 63 items plus one class per not-admitted reason. Training uses
scikit-learn; classification uses the learned coefficients directly with numpy, which keeps a single
`classify()` call to a few tens of microseconds. When the model is unsure it abstains (outcome "triage") so
that an operator decides; the abstention threshold is tuned by cross-validation on the training split.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

from gridloop.admission.admission_list import AdmissionList, default_admission_list
from gridloop.admission.costs import refusal_threshold
from gridloop.admission.danger import danger_signals
from gridloop.admission.examples import CV_FILE, NOT_ADMITTED_REASONS, Example, load_examples, train_examples
from gridloop.admission.features import Tokenizer
from gridloop.admission.open_set import (
    ADMITTED,
    REFUSED,
    REFUSED_OPEN_SET,
    Calibrator,
    OpenSetCheck,
    class_means,
    cross_fitted_reliability,
    decide,
    fit_calibrator,
    fit_open_set,
    fit_refusal,
    score,
)
from gridloop.contracts.topics import DEPARTMENT_NAMES_ZH, DEPARTMENTS

Outcome = Literal["admitted", "not_admitted", "triage"]
NA_PREFIX = "NA:"
MODEL_ENV = "GRIDLOOP_CLASSIFIER_MODEL"
CACHE_ENV = "GRIDLOOP_CLASSIFIER_CACHE_DIR"
MODEL_FORMAT = "gridloop-admission-classifier/2"  # 2: class means, open-set check, calibrator
OLDER_FORMATS = ("gridloop-admission-classifier/1",)  # still loaded: no open-set check, raw confidence
log = logging.getLogger(__name__)


class ClassifierError(RuntimeError):
    """The classifier cannot be trained or loaded."""


@dataclass(frozen=True)
class TrainingConfig:
    model: str = "lr"  # "lr": multinomial logistic regression; "svm": one-vs-rest LinearSVC + temperature
    c: float = 30.0  # inverse regularisation strength of the logistic regression
    min_df: int = 2  # a feature must occur in at least this many training reports
    keyword_weight: float = 1.5  # lexicon hits count this many times an ordinary feature of the same idf
    folds: int = 5  # cross-validation folds used to fit the temperature and tune the abstention threshold
    cv_shuffles: int = 2  # ... pooled over this many shufflings of the situations into folds
    calibrate: bool = True  # fit a softmax temperature on the out-of-fold logits (folded into the coefficients)
    # Cross-validation tests held-out situations re-told in wording training never saw (cv.jsonl), so its
    # errors look like held-out errors; the target is half the 0.02 budget, for sampling noise on 345 reports.
    target_misroute: float = 0.01
    # > 0: the target must hold for the upper bound of the out-of-fold misroute rate at this one-sided level, from
    # a bootstrap over situations (misroutes cluster in a few situations). 0 (shipped): the point estimate. The
    # fourth attempt (docs/classifier.md) tried 0.95 with 4 shufflings; it was not shipped.
    misroute_confidence: float = 0.0
    bootstrap_samples: int = 1000
    max_triage: float = 0.10
    hint_top_k: int = 3  # a hint agrees with the text if it is among the k most likely items ...
    hint_min_probability: float = 0.0  # ... (a rank rule: calibrated probabilities are too sharp for a floor)
    # A report with danger signals goes to the police item the model likes best if the police department holds
    # at least this probability; otherwise to triage. It is never forwarded elsewhere nor refused.
    danger_police_floor: float = 0.2
    # The second stage (open_set.py): similarity to the chosen item's training reports against the off-list
    # families', thresholds fitted by cross-validation under COSTS with triage kept within this budget.
    open_set: bool = True
    open_set_max_triage: float = 0.08
    # Map each decision's raw score to how often such decisions were right out of fold (isotonic).
    calibrate_confidence: bool = True
    calibration_method: str = "platt"  # or "isotonic" (noisier on clustered errors; docs/classifier.md)
    # Refuse by the cost matrix applied to out-of-fold rates of right refusals, not to the raw P(not admitted).
    fit_refusal: bool = True
    seed: int = 7


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    item_code: str | None
    department: str | None
    confidence: float  # admitted: P(department); not_admitted: P(not on list); triage: the best of those
    reason: str
    reason_code: str | None = None
    runner_up: str | None = None  # the next most likely item (for triage: the best guess)
    features: list[str] = field(default_factory=list)  # tokens and keywords that weighed most
    list_version: str = ""
    item_confidence: float | None = None  # P(item) of the decided (or best-guess) item
    danger: list[str] = field(default_factory=list)  # danger signals found ("weapon:菜刀"); see danger.py
    model_version: str = ""  # the trained model that decided ("m-" + 8 hex digits of its parameters)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Scores:
    probs: np.ndarray
    idx: np.ndarray
    vals: np.ndarray
    keyword_hits: dict[str, list[str]]
    sims: np.ndarray | None  # cosine similarity to each class's mean training report (the open-set check)


def class_of(example: Example) -> str:
    return example.label if example.admitted else NA_PREFIX + (example.reason or "OUT_OF_SCOPE")


class Classifier:
    """A trained model plus the decision rules around it. Build with `train` or `load`."""

    def __init__(
        self,
        *,
        admission_list: AdmissionList,
        classes: Sequence[str],
        feature_names: Sequence[str],
        idf: np.ndarray,
        coef: np.ndarray,
        intercept: np.ndarray,
        threshold: float,
        config: TrainingConfig = TrainingConfig(),
        meta: dict[str, Any] | None = None,
        tokenizer: Tokenizer | None = None,
        means: np.ndarray | None = None,
        open_set: OpenSetCheck = OpenSetCheck(),
        calibrator: Calibrator = Calibrator(),
    ) -> None:
        self.admission_list = admission_list
        self.classes = tuple(classes)
        self.feature_names = tuple(feature_names)
        self.vocabulary = {name: j for j, name in enumerate(self.feature_names)}
        self.idf = np.asarray(idf, dtype=np.float64)
        self.coef = np.ascontiguousarray(coef, dtype=np.float64)  # (n_features, n_classes)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.threshold = float(threshold)
        self.means = None if means is None else np.ascontiguousarray(means, dtype=np.float64)  # (features, classes)
        self.open_set = open_set
        self.calibrator = calibrator
        # A check whose rules all stayed off (cross-validation found none that pays) costs nothing per report.
        self._open_set_on = self.means is not None and open_set != OpenSetCheck()
        self.config = config
        self.meta = dict(meta or {})
        # Refusing is decided by the cost matrix (costs.py) on out-of-fold rates (open_set.fit_refusal).
        self.refusal_threshold = float(self.meta.get("refusal_threshold", refusal_threshold()))
        self.tokenizer = tokenizer or Tokenizer()
        self.model_version = model_version_of(
            self.coef,
            self.intercept,
            self.feature_names,
            self.classes,
            self.threshold,
            # a model without a second stage or calibration keeps the version it had before format 2
            extra=""
            if open_set == OpenSetCheck() and not calibrator.knots
            else json.dumps([open_set.to_dict(), calibrator.to_dict(), self.refusal_threshold], sort_keys=True),
        )
        self._item_idx = np.array([i for i, c in enumerate(self.classes) if not c.startswith(NA_PREFIX)])
        self._na_idx = np.array([i for i, c in enumerate(self.classes) if c.startswith(NA_PREFIX)])
        self._dept_idx = {
            d: np.array(
                [
                    i
                    for i, c in enumerate(self.classes)
                    if c in admission_list and admission_list.items[c].department == d
                ],
                dtype=np.intp,
            )
            for d in DEPARTMENTS
        }
        unknown = [c for c in self.classes if not c.startswith(NA_PREFIX) and c not in admission_list]
        if unknown:
            raise ClassifierError(f"model classes not on admission list {admission_list.version}: {unknown}")

    @property
    def list_version(self) -> str:
        return self.admission_list.version

    # ---- training -------------------------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        examples: Iterable[Example],
        admission_list: AdmissionList | None = None,
        *,
        extra: Iterable[Example] = (),
        config: TrainingConfig = TrainingConfig(),
        tune_threshold: bool = True,
        threshold: float | None = None,
        cv_examples: Iterable[Example] | None = None,
    ) -> Classifier:
        """Fit on `examples` plus `extra` (e.g. operator corrections); calibrate and tune the threshold by CV.

        Cross-validation holds out whole situations and tests them on `cv_examples` (by default the shipped
        `cv.jsonl`: the training situations in other wording), restricted to situations the training rows
        name; without any, it tests on the training reports themselves.
        """
        admission_list = admission_list or default_admission_list()
        extra = list(extra)
        rows = _dedupe([*examples, *extra])
        if not rows:
            raise ClassifierError("no training examples")
        unknown = sorted({e.label for e in rows if e.admitted and e.label not in admission_list})
        if unknown:
            raise ClassifierError(f"training labels not on admission list {admission_list.version}: {unknown}")
        tokenizer = Tokenizer()
        counts = [tokenizer.features(e.text) for e in rows]
        labels = [class_of(e) for e in rows]
        classes = _class_order(labels, admission_list)
        feature_names, idf = _vocabulary(counts, config.min_df, config.keyword_weight)
        vocabulary = {name: j for j, name in enumerate(feature_names)}
        x = _matrix(counts, vocabulary, idf)
        y = np.array([classes.index(label) for label in labels])
        coef, intercept = _fit(x, y, len(classes), config)
        means = class_means(x, y, len(classes)) if config.open_set else None
        temperature = 1.0
        meta: dict[str, Any] = {"n_train": len(rows), "n_extra": len(extra)}
        open_set, calibrator = OpenSetCheck(), Calibrator()
        # The open-set check and the confidence calibrator are fitted on the same out-of-fold scores as the
        # temperature and threshold; a model trained without cross-validation (a quick test) has neither.
        if (threshold is None and tune_threshold) or config.calibrate:
            logits, sims, y_test, situations = _cv_logits(
                rows, x, y, classes, vocabulary, idf, tokenizer, config, cv_examples
            )
            if config.calibrate:
                temperature = fit_temperature(logits, y_test)
                coef, intercept = coef * temperature, intercept * temperature
            probs = _softmax(logits * temperature)
            if threshold is None and tune_threshold:
                threshold = choose_threshold(probs, y_test, classes, admission_list, config, situations)
            threshold = 0.5 if threshold is None else threshold
            departments = _departments(classes, admission_list)
            refusal = refusal_threshold()
            if config.fit_refusal:
                refusal = fit_refusal(probs, y_test, departments, refusal)
            meta["refusal_threshold"] = refusal
            first = decide(probs, sims, departments, threshold, refusal, OpenSetCheck())
            if config.open_set:
                open_set = fit_open_set(
                    probs, sims, y_test, departments, threshold, refusal, config.open_set_max_triage
                )
            final = decide(probs, sims, departments, threshold, refusal, open_set)
            if config.calibrate_confidence:
                calibrator = fit_calibrator(final, y_test, departments, method=config.calibration_method)
            raw_table, calibrated_table = cross_fitted_reliability(
                final, y_test, departments, situations, method=config.calibration_method
            )
            meta["cv"] = {
                "rows": len(y_test),
                "first_stage": score(first, y_test, departments).to_dict(),
                "with_open_set": score(final, y_test, departments).to_dict(),
                "reliability_raw": raw_table,
                "reliability_calibrated": calibrated_table,
            }
        if threshold is None:
            threshold = 0.5
        meta["temperature"] = temperature
        return cls(
            admission_list=admission_list,
            classes=classes,
            feature_names=feature_names,
            idf=idf,
            coef=coef,
            intercept=intercept,
            threshold=threshold,
            config=config,
            meta=meta,
            tokenizer=tokenizer,
            means=means,
            open_set=open_set,
            calibrator=calibrator,
        )

    # ---- classification -------------------------------------------------------------------------------

    def _scores(self, text: str) -> _Scores:
        counts, hits = self.tokenizer.analyse(text)
        vocabulary = self.vocabulary
        pairs = [(j, c) for n, c in counts.items() if (j := vocabulary.get(n)) is not None]
        if pairs:
            idx = np.fromiter((j for j, _ in pairs), dtype=np.intp, count=len(pairs))
            tf = np.fromiter((c for _, c in pairs), dtype=np.float64, count=len(pairs))
            vals = (1.0 + np.log(tf)) * self.idf[idx]
            vals /= math.sqrt(float(vals @ vals))
            logits = vals @ self.coef[idx] + self.intercept
            sims = vals @ self.means[idx] if self._open_set_on and self.means is not None else None
        else:
            idx, vals = np.empty(0, dtype=np.intp), np.empty(0)
            logits = self.intercept.copy()
            sims = np.zeros(len(self.classes)) if self._open_set_on else None
        logits -= logits.max()
        probs = np.exp(logits)
        probs /= probs.sum()
        return _Scores(probs, idx, vals, hits, sims)

    def probabilities(self, text: str) -> dict[str, float]:
        """Class -> probability (item codes and NA:<reason>), for inspection and tests."""
        probs = self._scores(text).probs
        return {c: float(p) for c, p in zip(self.classes, probs, strict=True)}

    def classify(self, description: str, item_hint: str | None = None) -> Decision:
        decision = self._classify(description, item_hint)
        signals = danger_signals(description)
        if signals:
            decision = self._escalate(decision, [str(s) for s in signals], description)
        return dataclasses.replace(decision, model_version=self.model_version)

    def _escalate(self, decision: Decision, signals: list[str], description: str) -> Decision:
        """Danger signals: the police (best police item) or an operator, never another department or a refusal."""
        if decision.outcome == "admitted" and decision.department == "police":
            return dataclasses.replace(decision, danger=signals)
        scores = self._scores(description)
        police = self._dept_idx["police"]
        p_police = float(scores.probs[police].sum()) if len(police) else 0.0
        said = "、".join(s.split(":", 1)[1] for s in signals)
        if p_police >= self.config.danger_police_floor:
            best = self.classes[int(police[int(np.argmax(scores.probs[police]))])]
            item = self.admission_list.items[best]
            return Decision(
                outcome="admitted",
                item_code=best,
                department="police",
                confidence=round(p_police, 4),
                reason=f"描述含危险信号（{said}），按社区工作准入事项 {best}「{item.name_zh}」转派出所处置",
                runner_up=decision.item_code or decision.runner_up,
                features=self._explain(scores, best),
                list_version=self.list_version,
                item_confidence=round(float(scores.probs[self.classes.index(best)]), 4),
                danger=signals,
            )
        return Decision(
            outcome="triage",
            item_code=None,
            department=None,
            confidence=round(p_police, 4),
            reason=f"描述含危险信号（{said}），不能按普通事项处理或不予受理，转人工研判",
            runner_up=decision.item_code or decision.runner_up,
            features=decision.features,
            list_version=self.list_version,
            item_confidence=decision.item_confidence,
            danger=signals,
        )

    def _classify(self, description: str, item_hint: str | None) -> Decision:
        scores = self._scores(description)
        probs = scores.probs
        item_probs = probs[self._item_idx]
        order = np.argsort(-item_probs)
        best = self.classes[self._item_idx[order[0]]]
        second = self.classes[self._item_idx[order[1]]] if len(order) > 1 else None
        p_best = float(item_probs[order[0]])
        p_na = float(probs[self._na_idx].sum()) if len(self._na_idx) else 0.0
        p_na_top = float(probs[self._na_idx].max()) if len(self._na_idx) else 0.0
        if item_hint is not None and item_hint in self.admission_list:
            return self._decide_with_hint(item_hint, scores, order, p_na)
        says_na = p_na_top > p_best
        if says_na and p_na >= self.refusal_threshold:
            na_class = self.classes[self._na_idx[int(np.argmax(probs[self._na_idx]))]]
            return self._refused(scores, na_class, self.calibrator(REFUSED, p_na), runner_up=best)
        # Gate on the department, not the item: only a wrong department is a misroute. A report whose top
        # items all belong to one department is forwarded there even when the item itself is uncertain.
        p_department = float(probs[self._dept_idx[self.admission_list.items[best].department]].sum())
        admit = not says_na and p_department >= self.threshold
        # The second stage (open_set.py): is the report really like the reports of the item it would go to?
        if scores.sims is not None and len(self._na_idx):
            check = self.open_set
            s_item = float(scores.sims[self._item_idx[order[0]]])
            na_near = int(self._na_idx[int(np.argmax(scores.sims[self._na_idx]))])
            gap = float(scores.sims[na_near]) - s_item
            if gap >= check.refuse_gap:
                confidence = self.calibrator(REFUSED_OPEN_SET, gap)
                return self._refused(scores, self.classes[na_near], confidence, runner_up=best)
            if admit and (gap >= check.triage_gap or s_item < check.floor):
                item = self.admission_list.items[best]
                return dataclasses.replace(
                    self._triage(scores, best, p_department, second=second),
                    reason=f"描述与事项 {best}「{item.name_zh}」的典型情形相差较远"
                    f"{'，更像不属于准入清单的事项' if gap >= check.triage_gap else ''}，转人工研判",
                )
        if not admit:
            return self._triage(scores, best, p_na if says_na else p_department, second=None if says_na else second)
        return self._admitted(best, p_department, scores, runner_up=second, hinted=False, p_item=p_best)

    def _refused(self, scores: _Scores, na_class: str, confidence: float, *, runner_up: str) -> Decision:
        reason_code = na_class[len(NA_PREFIX) :]
        return Decision(
            outcome="not_admitted",
            item_code=None,
            department=None,
            confidence=round(confidence, 4),
            reason="不属于社区工作准入事项：" + NOT_ADMITTED_REASONS[reason_code],
            reason_code=reason_code,
            runner_up=runner_up,
            features=self._explain(scores, na_class),
            list_version=self.list_version,
        )

    def classify_many(
        self, descriptions: Iterable[str], item_hints: Iterable[str | None] | None = None
    ) -> list[Decision]:
        texts = list(descriptions)
        hints = list(item_hints) if item_hints is not None else [None] * len(texts)
        if len(hints) != len(texts):
            raise ValueError("item_hints must be as long as descriptions")
        return [self.classify(t, h) for t, h in zip(texts, hints, strict=True)]

    def _decide_with_hint(self, hint: str, scores: _Scores, order: np.ndarray, p_na: float) -> Decision:
        cfg = self.config
        hint_pos = self._item_idx.tolist().index(self.classes.index(hint)) if hint in self.classes else None
        ranked = [self.classes[self._item_idx[i]] for i in order]
        p_hint = float(scores.probs[self._item_idx[hint_pos]]) if hint_pos is not None else 0.0
        agrees = hint in ranked[: cfg.hint_top_k] and p_hint >= cfg.hint_min_probability and p_na < max(p_hint, 0.5)
        if agrees:
            runner_up = ranked[1] if ranked[0] == hint else ranked[0]
            department = self.admission_list.items[hint].department
            p_department = float(scores.probs[self._dept_idx[department]].sum())
            return self._admitted(hint, p_department, scores, runner_up=runner_up, hinted=True, p_item=p_hint)
        item = self.admission_list.items[hint]
        if p_na >= float(scores.probs[self._item_idx[order[0]]]):
            looks_like = "描述更像不属于准入清单的事项"
        else:
            top = self.admission_list.items[ranked[0]]
            looks_like = f"描述更接近 {top.code}「{top.name_zh}」"
        return Decision(
            outcome="triage",
            item_code=None,
            department=None,
            confidence=round(p_hint, 4),
            reason=f"网格员选择的事项 {hint}「{item.name_zh}」与描述不符（{looks_like}），转人工研判",
            runner_up=ranked[0],
            features=self._explain(scores, ranked[0]),
            list_version=self.list_version,
        )

    def _admitted(
        self, code: str, p: float, scores: _Scores, *, runner_up: str | None, hinted: bool, p_item: float | None = None
    ) -> Decision:
        item = self.admission_list.items[code]
        dept = DEPARTMENT_NAMES_ZH.get(item.department, item.department)
        basis = "按网格员选择的事项受理（描述与之相符）：" if hinted else ""
        return Decision(
            outcome="admitted",
            item_code=code,
            department=item.department,
            confidence=round(self.calibrator(ADMITTED, p), 4),
            reason=f"{basis}属于社区工作准入事项 {code}「{item.name_zh}」，转{dept}办理",
            runner_up=runner_up,
            features=self._explain(scores, code),
            list_version=self.list_version,
            item_confidence=round(p if p_item is None else p_item, 4),
        )

    def _triage(self, scores: _Scores, best: str, p: float, *, second: str | None) -> Decision:
        item = self.admission_list.items[best]
        return Decision(
            outcome="triage",
            item_code=None,
            department=None,
            confidence=round(p, 4),
            reason=(
                f"无法可靠判断是否属于准入事项（置信度 {p:.2f} 低于阈值 {self.threshold:.2f}），"
                f"最接近 {best}「{item.name_zh}」，转人工研判"
            ),
            runner_up=best,
            features=self._explain(scores, best),
            list_version=self.list_version,
        )

    def _explain(self, scores: _Scores, cls: str, top: int = 6) -> list[str]:
        """The tokens that pushed most towards `cls`, keyword hits first, readable (no feature prefixes)."""
        out: list[str] = [f"关键词:{w}" for w in scores.keyword_hits.get(cls, [])[:3]]
        if len(scores.idx):
            contrib = scores.vals * self.coef[scores.idx, self.classes.index(cls)]
            for k in np.argsort(-contrib)[: top * 2]:
                if contrib[k] <= 0:
                    break
                name = self.feature_names[scores.idx[k]]
                if name.startswith("k:"):
                    continue
                token = name[2:]
                if token.strip() and token not in out and len(token) > 1:
                    out.append(token)
                if len(out) >= top:
                    break
        return out

    # ---- persistence ----------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the model as a NumPy .npz archive (no pickle; loads with allow_pickle=False)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            self._write(f)
        return path

    def to_bytes(self) -> bytes:
        """The .npz archive in memory (the router stores retrained models in its database)."""
        buffer = io.BytesIO()
        self._write(buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, admission_list: AdmissionList | None = None) -> Classifier:
        return cls.load(io.BytesIO(data), admission_list)

    def _write(self, f: BinaryIO) -> None:
        meta = {
            "format": MODEL_FORMAT,
            "list_version": self.list_version,
            "threshold": self.threshold,
            "config": asdict(self.config),
            **self.meta,
            "open_set": self.open_set.to_dict(),
            "calibrator": self.calibrator.to_dict(),
        }
        extra: dict[str, Any] = {} if self.means is None else {"means": self.means.astype(np.float32)}
        np.savez_compressed(
            f,
            **extra,
            coef=self.coef.astype(np.float32),
            intercept=self.intercept,
            idf=self.idf,
            feature_names=np.array(self.feature_names, dtype=str),
            classes=np.array(self.classes, dtype=str),
            meta=np.array(json.dumps(meta, ensure_ascii=False)),
        )

    @classmethod
    def load(cls, path: str | Path | BinaryIO, admission_list: AdmissionList | None = None) -> Classifier:
        admission_list = admission_list or default_admission_list()
        source = Path(path) if isinstance(path, str | Path) else path
        try:
            with np.load(source, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                arrays = {k: data[k] for k in ("coef", "intercept", "idf", "feature_names", "classes")}
                means = data["means"] if "means" in data.files else None
        except (OSError, KeyError, ValueError) as exc:
            raise ClassifierError(f"cannot read classifier model {path}: {exc}") from exc
        if meta.get("format") not in (MODEL_FORMAT, *OLDER_FORMATS):
            raise ClassifierError(f"{path}: not a {MODEL_FORMAT} model")
        if meta.get("list_version") != admission_list.version:
            raise ClassifierError(
                f"{path} was trained for admission list {meta.get('list_version')}, "
                f"but the current list is {admission_list.version}; retrain it"
            )
        config = TrainingConfig(**meta.pop("config", {}))
        threshold = meta.pop("threshold")
        open_set = OpenSetCheck.from_dict(meta.pop("open_set", None))
        calibrator = Calibrator.from_dict(meta.pop("calibrator", None))
        return cls(
            admission_list=admission_list,
            classes=arrays["classes"].tolist(),
            feature_names=arrays["feature_names"].tolist(),
            idf=arrays["idf"],
            coef=arrays["coef"],
            intercept=arrays["intercept"],
            threshold=threshold,
            config=config,
            meta=meta,
            means=means,
            open_set=open_set,
            calibrator=calibrator,
        )


def model_version_of(
    coef: np.ndarray,
    intercept: np.ndarray,
    features: Sequence[str],
    classes: Sequence[str],
    threshold: float,
    extra: str = "",
) -> str:
    """A stable name for a trained model: its parameters as saved (float32 coefficients), hashed."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(coef, dtype=np.float32).tobytes())
    digest.update(np.ascontiguousarray(intercept, dtype=np.float64).tobytes())
    digest.update("\n".join([*features, "|", *classes, f"{threshold:.4f}"]).encode("utf-8"))
    if extra:  # the second stage and calibration (format 2)
        digest.update(extra.encode("utf-8"))
    return "m-" + digest.hexdigest()[:8]


def default_model_path(list_version: str) -> Path:
    return Path(".gridloop") / "models" / f"classifier-{list_version}.npz"


def _cache_path(admission_list: AdmissionList, config: TrainingConfig) -> Path:
    from gridloop.admission.examples import TRAIN_FILE

    digest = hashlib.sha256()
    data = TRAIN_FILE.read_bytes() + (CV_FILE.read_bytes() if CV_FILE.exists() else b"")
    for part in (MODEL_FORMAT, admission_list.version, json.dumps(asdict(config)), data):
        digest.update(part if isinstance(part, bytes) else part.encode())
    cache_dir = Path(os.environ.get(CACHE_ENV, Path(".gridloop") / "cache"))
    return cache_dir / f"classifier-{admission_list.version}-{digest.hexdigest()[:12]}.npz"


@cache
def default_classifier() -> Classifier:
    """$GRIDLOOP_CLASSIFIER_MODEL if set; else the model trained on the shipped split (cached on disk)."""
    path = os.environ.get(MODEL_ENV)
    if path:
        return Classifier.load(path)
    admission_list, config = default_admission_list(), TrainingConfig()
    cached = _cache_path(admission_list, config)
    if cached.exists():
        return Classifier.load(cached, admission_list)
    classifier = Classifier.train(train_examples(), admission_list, config=config)
    try:
        classifier.save(cached)
    except OSError as exc:  # a read-only working directory only costs the next process a retrain
        log.warning("could not cache the trained classifier at %s: %s", cached, exc)
    return classifier


# ---- training helpers ---------------------------------------------------------------------------------


def _dedupe(examples: list[Example]) -> list[Example]:
    """Later examples win: an operator correction overrides a shipped label for the same text."""
    by_text: dict[str, Example] = {}
    for e in examples:
        by_text.pop(e.text, None)
        by_text[e.text] = e
    return list(by_text.values())


def _class_order(labels: list[str], admission_list: AdmissionList) -> list[str]:
    present = set(labels)
    items = [c for c in admission_list.codes if c in present]
    reasons = [NA_PREFIX + r for r in NOT_ADMITTED_REASONS if NA_PREFIX + r in present]
    return items + reasons


def _vocabulary(counts: list[Counter[str]], min_df: int, keyword_weight: float) -> tuple[list[str], np.ndarray]:
    df: Counter[str] = Counter()
    for c in counts:
        df.update(c.keys())
    names = sorted(name for name, n in df.items() if n >= min_df or name.startswith("k:"))
    n_docs = len(counts)
    idf = np.array([math.log((1 + n_docs) / (1 + df[name])) + 1.0 for name in names])
    idf[[j for j, name in enumerate(names) if name.startswith("k:")]] *= keyword_weight
    return names, idf


def _matrix(counts: list[Counter[str]], vocabulary: dict[str, int], idf: np.ndarray) -> Any:
    from scipy.sparse import csr_matrix

    data: list[float] = []
    indices: list[int] = []
    indptr = [0]
    for c in counts:
        row = sorted((vocabulary[n], (1.0 + math.log(k)) * idf[vocabulary[n]]) for n, k in c.items() if n in vocabulary)
        norm = math.sqrt(sum(v * v for _, v in row)) or 1.0
        indices.extend(j for j, _ in row)
        data.extend(v / norm for _, v in row)
        indptr.append(len(indices))
    return csr_matrix((data, indices, indptr), shape=(len(counts), len(vocabulary)))


def _fit(x: Any, y: np.ndarray, n_classes: int, config: TrainingConfig) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if config.model == "svm":
        model: Any = LinearSVC(C=config.c, max_iter=5000, random_state=config.seed)
    else:
        model = LogisticRegression(C=config.c, solver="newton-cg", max_iter=200, random_state=config.seed)
    model.fit(x, y)
    coef = np.zeros((x.shape[1], n_classes))
    intercept = np.full(n_classes, -1e3)  # a class absent from this fit is never predicted
    coef[:, model.classes_] = model.coef_.T
    intercept[model.classes_] = model.intercept_
    return coef, intercept


def situations_of(group: str | None) -> tuple[str, ...]:
    """The situations a report was written from ("S03#4+S03#7" -> both); none for an ungrouped report."""
    return tuple(group.split("+")) if group else ()


def situation_folds(
    train_situations: Sequence[tuple[str, ...]],
    test_situations: Sequence[str],
    test_labels: Sequence[int],
    folds: int,
    seed: int,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, test rows) per fold: each fold tests whole situations and trains on no report that uses them.

    Situations are dealt out per class (stratified), shuffled by `seed`. A paired training report is left out
    of every fold that tests either of its situations, so a tested situation never leaks in through a partner.
    Training reports without a situation (operator corrections) train in every fold.
    """
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[str]] = {}
    for situation, label in zip(test_situations, test_labels, strict=True):
        found = by_class.setdefault(int(label), [])
        if situation not in found:
            found.append(situation)
    fold_of: dict[str, int] = {}
    offset = 0
    for label in sorted(by_class):
        situations = sorted(by_class[label])
        for k, i in enumerate(rng.permutation(len(situations))):
            fold_of[situations[i]] = (offset + k) % folds
        offset += len(situations)  # so that classes with few situations do not all start in fold 0
    out = []
    for f in range(folds):
        test = np.array([i for i, s in enumerate(test_situations) if fold_of.get(s) == f], dtype=np.intp)
        train = np.array(
            [i for i, used in enumerate(train_situations) if all(fold_of.get(s) != f for s in used)], dtype=np.intp
        )
        out.append((train, test))
    return out


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def cross_validated_scores(
    x: Any,
    y: np.ndarray,
    x_test: Any,
    y_test: np.ndarray,
    train_situations: Sequence[tuple[str, ...]],
    test_situations: Sequence[str],
    n_classes: int,
    config: TrainingConfig,
    *,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold logits and similarities to the class means for the rows of `x_test`, each from a fold that
    never saw its situation."""
    logits = np.full((x_test.shape[0], n_classes), np.nan)
    sims = np.zeros((x_test.shape[0], n_classes))
    seed = config.seed if seed is None else seed
    for train_idx, test_idx in situation_folds(train_situations, test_situations, y_test, config.folds, seed):
        if not len(test_idx):
            continue
        coef, intercept = _fit(x[train_idx], y[train_idx], n_classes, config)
        logits[test_idx] = np.asarray(x_test[test_idx] @ coef) + intercept
        sims[test_idx] = np.asarray(x_test[test_idx] @ class_means(x[train_idx], y[train_idx], n_classes))
    return logits, sims


def _cv_logits(
    rows: list[Example],
    x: Any,
    y: np.ndarray,
    classes: list[str],
    vocabulary: dict[str, int],
    idf: np.ndarray,
    tokenizer: Tokenizer,
    config: TrainingConfig,
    cv_examples: Iterable[Example] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold logits and class-mean similarities (pooled over `config.cv_shuffles` shufflings), their true
    classes and situations."""
    train_situations = [situations_of(e.group) for e in rows]
    known = {s for used in train_situations for s in used}
    if cv_examples is None:
        cv_examples = load_examples(CV_FILE) if CV_FILE.exists() else []
    tests = [e for e in cv_examples if e.group in known and class_of(e) in classes]
    if tests:
        x_test = _matrix([tokenizer.features(e.text) for e in tests], vocabulary, idf)
        y_test = np.array([classes.index(class_of(e)) for e in tests])
        test_situations = [str(e.group) for e in tests]
    else:  # no re-told situations: test on the training reports themselves, by their main situation
        train_situations = [used or (f"#{i}",) for i, used in enumerate(train_situations)]
        x_test, y_test, test_situations = x, y, [used[0] for used in train_situations]
    scores = [
        cross_validated_scores(
            x, y, x_test, y_test, train_situations, test_situations, len(classes), config, seed=config.seed + k
        )
        for k in range(max(1, config.cv_shuffles))
    ]
    pooled = np.vstack([logits for logits, _ in scores])
    pooled_sims = np.vstack([sims for _, sims in scores])
    keep = ~np.isnan(pooled).any(axis=1)
    situations = np.tile(np.array(test_situations, dtype=object), len(scores))
    return pooled[keep], pooled_sims[keep], np.tile(y_test, len(scores))[keep], situations[keep]


def _departments(classes: Sequence[str], admission_list: AdmissionList) -> np.ndarray:
    """Each class's department; "" for a not-admitted class (open_set.NA_DEPARTMENT)."""
    return np.array(
        [admission_list.items[c].department if not c.startswith(NA_PREFIX) else "" for c in classes], dtype=object
    )


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature (a multiplier on the logits) with the least out-of-fold log loss."""
    best_loss, best_t = math.inf, 1.0
    for t in np.exp(np.linspace(math.log(0.25), math.log(40.0), 121)):
        p = _softmax(logits * t)
        loss = float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())
        if loss < best_loss:
            best_loss, best_t = loss, float(t)
    return round(best_t, 4)


def choose_threshold(
    probs: np.ndarray,
    y: np.ndarray,
    classes: list[str],
    admission_list: AdmissionList,
    config: TrainingConfig,
    situations: Sequence[str] | np.ndarray | None = None,
) -> float:
    """The lowest threshold whose out-of-fold misroute rate meets `config.target_misroute`.

    With `situations` (the situation each row re-tells) and `config.misroute_confidence` > 0, the rate must be
    met by its bootstrap upper bound, resampling whole situations: a situation's re-tellings (and its rows from
    every shuffling) fail together, so the misroutes come in clusters and the point estimate is noisy.
    """
    dept = np.array(
        [admission_list.items[c].department if not c.startswith(NA_PREFIX) else "" for c in classes], dtype=object
    )
    item_cols = np.array([i for i, c in enumerate(classes) if not c.startswith(NA_PREFIX)])
    na_cols = np.array([i for i, c in enumerate(classes) if c.startswith(NA_PREFIX)])
    best_item = item_cols[np.argmax(probs[:, item_cols], axis=1)]
    p_item = probs[np.arange(len(y)), best_item]
    p_na = probs[:, na_cols].sum(axis=1) if len(na_cols) else np.zeros(len(y))
    says_na = probs[:, na_cols].max(axis=1) > p_item if len(na_cols) else np.zeros(len(y), dtype=bool)
    p_dept = np.array([probs[i, dept == dept[best_item[i]]].sum() for i in range(len(y))])
    confidence = np.where(says_na, p_na, p_dept)
    true_dept = dept[y]
    wrong_dept = ~says_na & (dept[best_item] != true_dept)  # includes NA reports admitted to any department
    candidates = np.round(np.arange(0.0, 0.96, 0.01), 2)
    weights = n_by = inverse = None
    if situations is not None and config.misroute_confidence > 0 and len(y):
        _, inverse = np.unique(np.asarray(situations, dtype=str), return_inverse=True)
        n_groups = int(inverse.max()) + 1
        rng = np.random.default_rng(config.seed)
        weights = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=config.bootstrap_samples)
        n_by = weights @ np.bincount(inverse, minlength=n_groups)
    for t in candidates:
        misrouted = wrong_dept & (confidence >= t)
        if weights is None or inverse is None or n_by is None:
            rate = float(misrouted.mean())
        else:
            rates = (weights @ np.bincount(inverse, weights=misrouted, minlength=weights.shape[1])) / n_by
            rate = float(np.quantile(rates, config.misroute_confidence))
        if rate <= config.target_misroute:
            return float(t)
    return float(candidates[-1])
