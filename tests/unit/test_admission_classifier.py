"""How the admission classifier decides: by behaviour, and against the held-out targets."""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from gridloop.admission.admission_list import default_admission_list
from gridloop.admission.classifier import Classifier, Decision, TrainingConfig, choose_threshold, default_classifier
from gridloop.admission.examples import (
    NOT_ADMITTED,
    NOT_ADMITTED_REASONS,
    OFF_LIST_FAMILIES,
    heldout2_examples,
    heldout3_examples,
    heldout4_nearmiss_examples,
    heldout4_onlist_examples,
    heldout_examples,
    train_examples,
    violence_risk_examples,
)
from gridloop.admission.metrics import Metrics, evaluate
from gridloop.admission.open_set import ADMITTED
from gridloop.admission.retraining import corrections_from_dicts


@cache
def trained_classifier() -> Classifier:
    """Trained on the shipped training split only, with the shipped settings: the model `default_classifier`
    caches on disk (keyed by the data and settings), so that a session does not train it twice."""
    return default_classifier()


# The held-out splits (docs/classifier.md); "third" is the one the targets are judged on.
SPLITS = {
    "first": heldout_examples,
    "fresh": heldout2_examples,
    "third": heldout3_examples,
    "pooled": lambda: heldout_examples() + heldout2_examples() + heldout3_examples(),
}


@cache
def split_metrics(split: str) -> Metrics:
    return evaluate(trained_classifier(), SPLITS[split]())


@pytest.fixture
def classifier() -> Classifier:
    return trained_classifier()


def test_clear_report_is_forwarded_to_its_department(classifier: Classifier) -> None:
    decision = classifier.classify("金牛区抚琴街道金琴社区3栋门口的路灯坏了好几天，晚上黑黢黢的")
    assert (decision.outcome, decision.item_code, decision.department) == ("admitted", "S02", "street_office")
    assert "S02" in decision.reason and "街道办事处" in decision.reason


def test_case_not_on_admission_list_is_not_forwarded(classifier: Classifier) -> None:
    decision = classifier.classify("居民李某来社区要开无犯罪记录证明，说是新单位要")
    assert decision.outcome == "not_admitted"
    assert decision.item_code is None and decision.department is None
    assert decision.reason_code == "CERT_ABOLISHED"
    assert decision.reason.startswith("不属于社区工作准入事项：")


def test_private_household_repair_is_not_forwarded(classifier: Classifier) -> None:
    decision = classifier.classify("王孃孃屋头厨房的水龙头漏水，想喊网格员上门帮她修一哈")
    assert decision.outcome == "not_admitted"
    assert decision.reason_code == "PRIVATE_SERVICE"


def test_report_with_nothing_to_go_on_goes_to_triage(classifier: Classifier) -> None:
    decision = classifier.classify("嗯嗯好的")
    assert decision.outcome == "triage"
    assert decision.item_code is None and decision.department is None
    assert "转人工研判" in decision.reason


def test_agreeing_hint_is_honoured(classifier: Classifier) -> None:
    text = "金琴社区3栋楼道里堆满纸箱子，楼下小饭馆后厨的灭火器也过期了"
    for hint in ("P16", "S11"):  # both readings are plausible; the worker on the spot decides
        decision = classifier.classify(text, item_hint=hint)
        assert (decision.outcome, decision.item_code) == ("admitted", hint)
        assert decision.department == default_admission_list().items[hint].department
        assert decision.reason.startswith("按网格员选择的事项受理")


def test_contradicting_hint_goes_to_triage(classifier: Classifier) -> None:
    decision = classifier.classify("楼下烧烤摊半夜喝酒划拳，吵得整栋楼睡不着", item_hint="F01")
    assert decision.outcome == "triage"
    assert decision.item_code is None
    assert "F01" in decision.reason and "不符" in decision.reason
    assert decision.runner_up == "P11"


def test_hint_on_a_not_admitted_report_goes_to_triage(classifier: Classifier) -> None:
    decision = classifier.classify("居民要社区开无犯罪记录证明，单位要", item_hint="P13")
    assert decision.outcome == "triage"


def test_unknown_hint_is_ignored(classifier: Classifier) -> None:
    text = "低保户王孃孃说这个月的低保金还没到账"
    assert classifier.classify(text, item_hint="X99") == classifier.classify(text)


def test_decision_explains_itself(classifier: Classifier) -> None:
    decision = classifier.classify("有人从三楼窗户拉电线下来给电瓶车充电，飞线挂在树上")
    assert isinstance(decision, Decision)
    assert (decision.outcome, decision.item_code) == ("admitted", "S12")
    # The threshold gates the raw P(department); the confidence stated is calibrated (open_set.Calibrator).
    assert 0.0 <= decision.confidence <= 1.0
    assert decision.confidence >= classifier.calibrator(ADMITTED, classifier.threshold)
    assert decision.runner_up is not None and decision.runner_up != "S12"
    assert decision.features and any(f.startswith("关键词:") for f in decision.features)
    assert decision.list_version == default_admission_list().version
    assert decision.to_dict()["item_code"] == "S12"


@pytest.mark.parametrize(
    ("text", "item"),
    [
        ("小区广场舞音响开到晚上十点过，吵得人睡不着", "P11"),
        ("旁边工地半夜还在打桩浇混凝土，吵得睡不着", "S29"),
        ("有户人家办丧事，在路边搭灵堂，吹吹打打到半夜", "S27"),
        ("两家人为漏水已经动手打起来了，男的扬言要拿刀砍人", "P05"),
        ("楼上楼下为漏水赔偿扯皮，想请社区调解一哈", "S30"),
        ("院子消防通道被几辆私家车堵死了，消防车进不来", "P12"),
        ("小区门口流动摊贩卖水果，把人行道占完了", "S06"),
    ],
)
def test_confusable_items_are_told_apart(classifier: Classifier, text: str, item: str) -> None:
    assert classifier.classify(text).item_code == item


def test_classification_is_deterministic(classifier: Classifier) -> None:
    texts = [e.text for e in heldout_examples()[:40]]
    assert classifier.classify_many(texts) == classifier.classify_many(texts)


def test_classify_many_takes_hints_alongside() -> None:
    decisions = trained_classifier().classify_many(["路灯不亮了", "路灯不亮了"], ["S02", "F01"])
    assert [d.outcome for d in decisions] == ["admitted", "triage"]


def test_model_survives_save_and_load(tmp_path: Path, classifier: Classifier) -> None:
    loaded = Classifier.load(classifier.save(tmp_path / "model.npz"))
    text = "楼道里头有人给电瓶车充电，插线板拖了一地"
    assert loaded.classify(text).item_code == classifier.classify(text).item_code
    assert loaded.threshold == classifier.threshold


def test_splits_are_large_enough_and_disjoint() -> None:
    train, heldout = train_examples(), heldout_examples()
    codes = default_admission_list().codes
    train_counts = Counter(e.label for e in train)
    heldout_counts = Counter(e.label for e in heldout)
    assert all(train_counts[c] >= 15 for c in codes) and train_counts[NOT_ADMITTED] >= 60
    assert all(heldout_counts[c] >= 4 for c in codes) and heldout_counts[NOT_ADMITTED] >= 20
    assert {e.reason for e in heldout if not e.admitted} == set(NOT_ADMITTED_REASONS) - set(OFF_LIST_FAMILIES)
    assert not {e.text for e in train} & {e.text for e in heldout}


def test_corrections_cannot_smuggle_in_held_out_reports() -> None:
    admission_list = default_admission_list()
    heldout_text = heldout_examples()[0].text
    with pytest.raises(ValueError, match="held-out"):
        corrections_from_dicts([{"text": heldout_text, "label": "S03"}], admission_list)
    with pytest.raises(ValueError, match="unknown item code"):
        corrections_from_dicts([{"text": "新的报告", "label": "X99"}], admission_list)


def test_corrections_teach_the_model_a_new_phrasing() -> None:
    text = "楼下那个铁皮小亭子里头天天有人放码收高利息"
    corrections = [{"text": f"{text}，第{i}次反映", "label": "F15"} for i in range(12)]
    extra = corrections_from_dicts(corrections, default_admission_list())
    seen: Counter[str] = Counter()
    few = [
        e for e in train_examples() if (seen.update([e.label + str(e.reason)]) or seen[e.label + str(e.reason)] <= 20)
    ]
    fast = TrainingConfig(calibrate=False)  # two single fits on a subset: the same comparison, in seconds
    base = Classifier.train(few, config=fast, threshold=0.5)
    retrained = Classifier.train(few, extra=extra, config=fast, threshold=0.5)
    assert retrained.probabilities(text)["F15"] > base.probabilities(text)["F15"]


def test_threshold_bound_on_clustered_misroutes_is_at_least_the_point_estimate() -> None:
    """Misroutes that come from a few situations make the bootstrap upper bound stricter than the point rate."""
    admission_list = default_admission_list()
    classes = ["P01", "S03"]  # police, street office
    rng = np.random.default_rng(0)
    n = 600
    y = np.zeros(n, dtype=int)  # all truly P01
    situations = np.array([f"P01#{i // 2}" for i in range(n)])
    p_police = rng.uniform(0.6, 1.0, n)
    wrong = np.isin(situations, ["P01#0", "P01#1", "P01#2"])  # 6 rows, confidently sent to the street office
    p_police[wrong] = 0.03
    probs = np.column_stack([p_police, 1 - p_police])
    point = choose_threshold(probs, y, classes, admission_list, TrainingConfig(target_misroute=0.01))
    bounded = choose_threshold(
        probs, y, classes, admission_list, TrainingConfig(target_misroute=0.01, misroute_confidence=0.95), situations
    )
    assert point == 0.0  # 6 of 600 = 0.01 meets the point target with no abstention at all
    assert bounded > point


def test_held_out_meets_accuracy_misroute_and_triage_targets() -> None:
    """The issue's targets, on the third blind-written split (scored once before the model was chosen) and on
    all held-out splits pooled (1,197 reports)."""
    for metrics in (split_metrics("third"), split_metrics("pooled")):
        assert metrics.item_accuracy >= 0.90
        assert metrics.misroute_rate <= 0.02
        assert metrics.triage_rate <= 0.10


def test_every_held_out_split_stays_above_the_measured_floor() -> None:
    """A regression guard a little under the level measured on each split (see docs/classifier.md)."""
    floors = {  # split: (accuracy at least, misroute at most, triage at most); measured 0.925/0.006/0.046,
        # 0.918/0.009/0.052 and 0.960/0.005/0.026 (issue #24's model: more families, fewer misroutes, more triage)
        "first": (split_metrics("first"), 0.91, 0.015, 0.06),
        "fresh": (split_metrics("fresh"), 0.91, 0.02, 0.06),
        "third": (split_metrics("third"), 0.95, 0.015, 0.03),
    }
    for split, (metrics, accuracy, misroute, triage) in floors.items():
        assert metrics.item_accuracy >= accuracy, split
        assert metrics.misroute_rate <= misroute, split
        assert metrics.triage_rate <= triage, split


@pytest.mark.xfail(strict=True, reason="issue #24's targets are missed on the fourth blind split (docs/classifier.md)")
def test_near_misses_are_refused_and_violence_risk_stays_with_police_or_triage() -> None:
    near = evaluate(trained_classifier(), heldout4_nearmiss_examples())
    violence = evaluate(trained_classifier(), violence_risk_examples())
    assert near.not_admitted_recall >= 0.95 and near.misroute_rate <= 0.01
    assert violence.danger_away_from_police == 0


def test_fourth_blind_split_stays_above_the_measured_floor() -> None:
    """Measured once (0.716 recall / 0.115 misroute on near misses; 0.920 / 0.000 on-list; 14 of 82 violence-risk
    reports outside police or triage): a regression guard, not a target."""
    near = evaluate(trained_classifier(), heldout4_nearmiss_examples())
    onlist = evaluate(trained_classifier(), heldout4_onlist_examples())
    violence = evaluate(trained_classifier(), violence_risk_examples())
    assert near.n >= 22 * 14 and near.not_admitted_recall >= 0.70 and near.misroute_rate <= 0.13
    assert onlist.item_accuracy >= 0.90 and onlist.misroute_rate <= 0.01
    assert violence.danger_reports == violence.n and violence.danger_away_from_police <= 14
