"""Labelled grid reports: the fixed training and held-out splits, and the not-admitted categories."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

EXAMPLES_DIR = Path(__file__).parent / "data" / "examples"
TRAIN_FILE = EXAMPLES_DIR / "train.jsonl"
HELDOUT_FILE = EXAMPLES_DIR / "heldout.jsonl"
# The training situations re-told with a second training-only set of openings, closings, addresses and names:
# the test folds of cross-validation (never trained on). See compose_examples.py.
CV_FILE = EXAMPLES_DIR / "cv.jsonl"
# A second, fresh held-out split (third session): situations written blind by an author who never saw the
# training phrases or the model, in a fourth set of pools. Evaluation only. See docs/classifier.md.
HELDOUT2_FILE = EXAMPLES_DIR / "heldout2.jsonl"
# A third held-out split, written blind by another author in several voices (also evaluation only).
HELDOUT3_FILE = EXAMPLES_DIR / "heldout3.jsonl"

NOT_ADMITTED = "NOT_ADMITTED"

# Reason code -> what the worker and resident are told (after "不属于社区工作准入事项：").
NOT_ADMITTED_REASONS: dict[str, str] = {
    "CERT_ABOLISHED": "属于已取消的证明事项（如无犯罪记录证明、亲属关系证明、私人用途的居住证明），社区不再出具",
    "PRIVATE_SERVICE": "属于居民家庭内部的私人服务（如户内维修、开锁），请联系市场化服务机构",
    "CONSUMER_DISPUTE": "属于消费纠纷（如网购退货、商家纠纷），请拨打12315或向购物平台投诉",
    "PUSHED_DOWN_TASK": "属于向社区摊派的统计填报、考核评比、拉票等任务，社区不予承接",
    "COMMERCIAL": "属于商业经营活动，社区不为商业推广、招揽客户提供协助",
    "OUT_OF_SCOPE": "不在社区工作准入清单范围内",
}


class ExampleError(ValueError):
    """A labelled example is malformed."""


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: str  # an item code, or NOT_ADMITTED
    reason: str | None = None  # reason code, only for NOT_ADMITTED
    group: str | None = None  # the situation it was written from (for grouped cross-validation)

    @property
    def admitted(self) -> bool:
        return self.label != NOT_ADMITTED

    def to_dict(self) -> dict[str, str]:
        row = {"text": self.text, "label": self.label}
        if self.reason:
            row["reason"] = self.reason
        if self.group:
            row["group"] = self.group
        return row


def example_from_dict(row: Mapping[str, object], known_codes: Iterable[str] | None = None) -> Example:
    """Validate one JSON object in the examples format."""
    text, label, reason = row.get("text"), row.get("label"), row.get("reason")
    group = row.get("group")
    group = str(group) if group is not None else None
    if not isinstance(text, str) or not text.strip():
        raise ExampleError("'text' must be a non-empty string")
    if not isinstance(label, str) or not label:
        raise ExampleError("'label' must be an item code or NOT_ADMITTED")
    if label == NOT_ADMITTED:
        reason = reason or "OUT_OF_SCOPE"
        if reason not in NOT_ADMITTED_REASONS:
            raise ExampleError(f"unknown reason {reason!r} (expected one of {', '.join(NOT_ADMITTED_REASONS)})")
        return Example(text.strip(), label, str(reason), group)
    if known_codes is not None and label not in set(known_codes):
        raise ExampleError(f"unknown item code {label!r}")
    return Example(text.strip(), label, None, group)


def load_examples(path: str | Path, known_codes: Iterable[str] | None = None) -> list[Example]:
    """Read a JSON Lines file of examples; errors name the line."""
    codes = set(known_codes) if known_codes is not None else None
    examples: list[Example] = []
    for line_no, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ExampleError("each line must be a JSON object")
            examples.append(example_from_dict(row, codes))
        except (json.JSONDecodeError, ExampleError) as exc:
            raise ExampleError(f"{path} line {line_no}: {exc}") from None
    return examples


def train_examples() -> list[Example]:
    return load_examples(TRAIN_FILE)


def cv_examples() -> list[Example]:
    """Test-fold texts for cross-validation: training situations in wording training never saw."""
    return load_examples(CV_FILE)


def heldout_examples() -> list[Example]:
    """The held-out split: for evaluation only, never for training or tuning."""
    return load_examples(HELDOUT_FILE)


def heldout2_examples() -> list[Example]:
    """The fresh held-out split (written blind): for evaluation only, never for training or tuning."""
    return load_examples(HELDOUT2_FILE)


def heldout3_examples() -> list[Example]:
    """The third held-out split (written blind): for evaluation only, never for training or tuning."""
    return load_examples(HELDOUT3_FILE)


def all_heldout_examples() -> list[Example]:
    """Every held-out split together: texts that may never be trained on."""
    return heldout_examples() + heldout2_examples() + heldout3_examples()
