"""A classifier that decides by what the test wrote, so routing tests do not hang on the trained model."""

from __future__ import annotations

from gridloop.admission.admission_list import AdmissionList, default_admission_list
from gridloop.admission.classifier import Decision

TRIAGE_MARK = "【待研判】"


class ScriptedClassifier:
    """Triage when the text carries TRIAGE_MARK; otherwise the worker's item hint (S03 without one)."""

    threshold = 0.5

    def __init__(self, admission_list: AdmissionList | None = None) -> None:
        self.admission_list = admission_list or default_admission_list()

    @property
    def list_version(self) -> str:
        return self.admission_list.version

    def classify(self, description: str, item_hint: str | None = None) -> Decision:
        if TRIAGE_MARK in description:
            return Decision(
                outcome="triage",
                item_code=None,
                department=None,
                confidence=0.31,
                reason="置信度不足，转人工研判",
                runner_up="S03",
                features=["垃圾", "清运"],
                list_version=self.list_version,
            )
        item = self.admission_list.items[item_hint or "S03"]
        return Decision(
            outcome="admitted",
            item_code=item.code,
            department=item.department,
            confidence=0.97,
            reason=f"属于社区工作准入事项 {item.code}",
            runner_up=None,
            features=[],
            list_version=self.list_version,
        )

    def probabilities(self, text: str) -> dict[str, float]:
        return {"S03": 1.0}
