"""Errors are not equal: danger signals keep a report with the police or an operator, refusals follow the costs,
and every decision names the model that made it."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridloop.admission.classifier import Classifier, default_classifier
from gridloop.admission.costs import COSTS, refusal_threshold
from gridloop.admission.danger import danger_signals
from gridloop.admission.examples import Example, all_heldout_examples, train_examples
from gridloop.admission.metrics import evaluate, reliability


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return default_classifier()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("两家人为停车位吵架，男的拿着菜刀在楼下比划", "weapon"),
        ("他喝了酒放话说今晚要弄死楼上那家", "threat"),
        ("邻居推搡起来，一个人头被打破了", "injury"),
        ("楼上那家的娃娃经常被打，哭得撕心裂肺", "person_at_risk"),
        ("她说老公喝醉了就拳打脚踢", "violence"),
    ],
)
def test_danger_signals_are_found_by_kind(text: str, kind: str) -> None:
    assert kind in {s.kind for s in danger_signals(text)}


# Phrasings written for the second issue #24 session (not in any bank): dialect, voice-input slips, very short.
DANGER_PROBES = [
    "两个邻居扯筋扯到后头打起来了",
    "楼下那个男的锤人，锤了好几拳",
    "他在门口吼老子弄死你",
    "说要杀了前妻",
    "屋头男人又打婆娘了",
    "女的被老公掐住脖子差点没气",
    "娃娃被继父打得满身是伤",
    "老人被儿子赶出门睡在楼梯间",
    "小伙子站在天台边上说要跳下去",
    "那个妹妹手腕上好多刀口，说想自残",
    "两伙人拿钢管在巷子里干起来了",
    "醉汉提起菜刀追人",
    "他捅了对方一刀跑了",
    "打架打得头破血流",
    "有人抢包把婆婆推倒在地",
    "娃儿被锁在屋头三天没吃饭",
    "家庭暴力，女方要求报警",
    "说再不还钱就烧了他家的房子",
    "挨了打，脸肿起老高",
    "一个男的威胁要砍人",
]
ROUTINE_PROBES = [
    "打12345一直占线",
    "老人想学用手机打电话",
    "小区打扫卫生没人管",
    "娃娃要打疫苗在哪打",
    "商场跳楼价大甩卖",
    "广场舞要跳到十点",
    "打针打肿了找医院",
    "钥匙锁在屋头了喊开锁",
    "打车打不到",
    "楼下烧纸钱，车都熏黑了",
]


@pytest.mark.parametrize("text", DANGER_PROBES)
def test_violence_and_danger_in_many_wordings_are_found(text: str) -> None:
    assert danger_signals(text), text


@pytest.mark.parametrize("text", ROUTINE_PROBES)
def test_everyday_uses_of_the_same_characters_are_not_danger(text: str) -> None:
    assert danger_signals(text) == []


def test_every_report_with_danger_signals_stays_with_the_police_or_an_operator(classifier: Classifier) -> None:
    for text in DANGER_PROBES:
        decision = classifier.classify(text)
        assert (decision.outcome, decision.department) in {("admitted", "police"), ("triage", None)}, text


@pytest.mark.parametrize(
    "text",
    [
        "路灯坏了好几天",
        "蚊蝇滋生，好久没人消杀了",
        "楼道里堆满杂物，防火门被拿砖头抵起",
        "菜市场的刀削面馆油烟大",
        "商场跳楼价促销",
    ],
)
def test_routine_reports_carry_no_danger_signal(text: str) -> None:
    assert danger_signals(text) == []


def test_few_routine_training_reports_look_dangerous() -> None:
    """The patterns are narrow: under 0.5 % of the reports about non-police items match any."""
    routine = [e for e in train_examples() if not e.admitted or not e.label.startswith("P")]
    flagged = [e for e in routine if danger_signals(e.text)]
    assert len(flagged) / len(routine) < 0.005, [e.text for e in flagged][:5]


@pytest.mark.parametrize(
    "text",
    [
        "两家人为了楼道放鞋柜吵了好久，今天男的拿着菜刀出来说要砍死对方",  # reads like mediation (S30)
        "包工头欠了工钱不给，工人说再不给就去他家放火",  # reads like a wage dispute (off the list)
        "老人住的屋子漏雨，儿子回来要钱不给就动手打她，身上都是伤",  # reads like housing / elderly care
    ],
)
def test_a_report_with_danger_signals_stays_with_the_police_or_an_operator(classifier: Classifier, text: str) -> None:
    decision = classifier.classify(text)
    assert decision.danger
    assert (decision.outcome, decision.department) in {("admitted", "police"), ("triage", None)}, decision


def test_no_held_out_report_with_danger_signals_lands_outside_police_or_triage(classifier: Classifier) -> None:
    for example in all_heldout_examples():
        if danger_signals(example.text):
            decision = classifier.classify(example.text)
            assert decision.outcome == "triage" or decision.department == "police", (example.text, decision)


def test_metrics_count_danger_reports_sent_away_from_the_police(classifier: Classifier) -> None:
    reports = [Example("男的拿着菜刀在楼下吼，说要砍死楼上那家", "P05", danger=True)]
    metrics = evaluate(classifier, reports)
    assert (metrics.danger_reports, metrics.danger_away_from_police) == (1, 0)


def test_refusal_follows_the_cost_matrix() -> None:
    assert COSTS["forwarded_off_list"] > COSTS["refused_on_list"] > COSTS["triage"] > COSTS["right"]
    assert COSTS["danger_away_from_police"] == max(COSTS.values())
    assert refusal_threshold() == pytest.approx(1 - COSTS["triage"] / COSTS["refused_on_list"])


def test_each_decision_names_the_model_and_list_it_used(classifier: Classifier, tmp_path: Path) -> None:
    decision = classifier.classify("院子门口的路灯坏了")
    assert decision.model_version == classifier.model_version and decision.model_version.startswith("m-")
    assert decision.list_version == classifier.list_version
    reloaded = Classifier.load(classifier.save(tmp_path / "m.npz"))
    assert reloaded.model_version == classifier.model_version
    assert Classifier.from_bytes(classifier.to_bytes()).model_version == classifier.model_version


def test_reliability_bins_cover_every_decided_report(classifier: Classifier) -> None:
    examples = all_heldout_examples()[:200]
    bins = reliability(classifier, examples)
    decided = sum(d.outcome != "triage" for d in classifier.classify_many(e.text for e in examples))
    assert sum(b.n for b in bins) == decided
    assert all(0 <= b.accuracy <= 1 and b.low <= b.mean_confidence <= b.high for b in bins)
