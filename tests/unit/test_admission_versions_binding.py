"""Decisions are restated against the admission list in force (no I/O)."""

from __future__ import annotations

from gridloop.admission.admission_list import DEFAULT_LIST_PATH, default_admission_list, parse_admission_list
from gridloop.admission.classifier import Decision
from services.router.admission_list import ActiveAdmissionList, ListBoundClassifier
from tests.support.scripted import TRIAGE_MARK, ScriptedClassifier

SHIPPED = DEFAULT_LIST_PATH.read_text(encoding="utf-8")


def _list_with(code: str, line: str):
    return parse_admission_list("\n".join(line if row.startswith(code + "\t") else row for row in SHIPPED.splitlines()))


def test_decision_takes_the_department_name_and_version_of_the_list_in_force() -> None:
    moved = _list_with("S03", "S03\tpolice\t垃圾乱倒\tDumping\t乱倒垃圾\t12\tpublic")
    active = ActiveAdmissionList(default_admission_list())
    active.use(moved)
    decision = ListBoundClassifier(ScriptedClassifier(), active).classify("垃圾桶满了", "S03")
    assert (decision.outcome, decision.department, decision.list_version) == ("admitted", "police", moved.version)
    assert "垃圾乱倒" in decision.reason and "辖区派出所" in decision.reason


def test_an_item_the_list_no_longer_has_goes_to_triage() -> None:
    renamed = _list_with("S03", "S99\tstreet_office\t垃圾清运\tGarbage\t垃圾桶满溢\t24\tpublic")
    active = ActiveAdmissionList(default_admission_list())
    active.use(renamed)
    decision = ListBoundClassifier(ScriptedClassifier(), active).classify("垃圾桶满了", "S03")
    assert (decision.outcome, decision.item_code, decision.runner_up) == ("triage", None, "S03")
    assert decision.list_version == renamed.version


def test_other_outcomes_only_change_the_version() -> None:
    active = ActiveAdmissionList(default_admission_list())
    active.use(_list_with("P01", "P01\tpolice\t流动人口登记\tFloating\t未登记\t48\tpersonal"))
    decision = ListBoundClassifier(ScriptedClassifier(), active).classify(TRIAGE_MARK + "说不清楚")
    assert isinstance(decision, Decision) and decision.outcome == "triage"
    assert decision.list_version == active.version != default_admission_list().version
