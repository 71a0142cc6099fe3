"""Retraining for a replaced list: a 64-item list with a moved item gets a model of its own, scored before and
after on the same held-out reports, and a worse model is refused."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from functools import cache

from gridloop.admission.admission_list import DEFAULT_LIST_PATH, default_admission_list, parse_admission_list
from gridloop.admission.classifier import Classifier, TrainingConfig
from gridloop.admission.examples import NOT_ADMITTED, Example, heldout_examples, train_examples
from gridloop.admission.retraining import TrainingData, restate_for_list, retrain_for_list, worse

SHIPPED = DEFAULT_LIST_PATH.read_text(encoding="utf-8")
NEW_ITEM = "S31\tstreet_office\t共享单车乱停放\tShared bikes\t共享单车堆放堵塞院落出入口\t48\tpublic"
FAST = TrainingConfig(calibrate=False)


def list_64() -> str:
    """The shipped list, S03 moved to the police, one item added (64 items)."""
    lines = [line.replace("S03\tstreet_office", "S03\tpolice") for line in SHIPPED.splitlines()]
    return "\n".join([*lines, NEW_ITEM]) + "\n"


@cache
def few() -> list[Example]:
    """A few training reports per class: enough to tell a trained model from an untrained one, quickly."""
    by: dict[str, list[Example]] = defaultdict(list)
    for e in train_examples():
        if len(by[e.label + str(e.reason)]) < 12:
            by[e.label + str(e.reason)].append(e)
    return [e for rows in by.values() for e in rows]


@cache
def small_model() -> Classifier:
    return Classifier.train(few(), default_admission_list(), config=FAST, tune_threshold=False, threshold=0.5)


def data() -> TrainingData:
    return TrainingData(train=few, heldout=lambda: heldout_examples()[:150], config=FAST, threshold=0.5)


def test_a_list_may_have_64_items() -> None:
    assert len(parse_admission_list(list_64())) == 64


def test_an_item_the_list_no_longer_has_is_off_the_list() -> None:
    shorter = parse_admission_list("\n".join(line for line in SHIPPED.splitlines() if not line.startswith("S27\t")))
    restated = restate_for_list([Example("灵堂放哀乐", "S27"), Example("路灯坏了", "S02")], shorter)
    assert [(e.label, e.reason) for e in restated] == [(NOT_ADMITTED, "OUT_OF_SCOPE"), ("S02", None)]


def test_retraining_for_a_64_item_list_learns_the_new_item_from_corrections() -> None:
    new_list = parse_admission_list(list_64())
    corrections = [
        {"text": text, "label": "S31"}
        for text in (
            "共享单车堆在院子门口，进出都过不去",
            "几十辆共享单车把单元门堵死了",
            "小区出入口全是乱停的共享单车",
            "共享单车倒了一地，堵住了院落大门",
            "院门口被共享单车占满，老人推轮椅出不去",
        )
    ] + [{"text": "这个讲的是另一个清单的事项", "label": "X99"}]  # not on this list: left out
    result = retrain_for_list(small_model(), new_list, corrections, data())
    assert result.model.list_version == new_list.version and "S31" in result.model.classes
    assert result.corrections == 5 and result.items_without_examples == []
    assert result.before.list_version == result.after.list_version == new_list.version
    assert result.model.admission_list.items["S03"].department == "police"
    assert result.accepted == (worse(result.before, result.after) == "")
    decision = result.model.classify("共享单车乱停在院子出入口，堵得走不通")
    assert decision.item_code == "S31" or decision.outcome == "triage"


def test_a_worse_model_is_refused() -> None:
    before = retrain_for_list(small_model(), default_admission_list(), [], data()).before
    assert worse(before, replace(before, item_accuracy=before.item_accuracy - 0.02)).startswith("item accuracy")
    assert worse(before, replace(before, misroute_rate=max(before.misroute_rate, 0.01) + 0.01)).startswith("misroute")
    assert worse(before, before) == ""
