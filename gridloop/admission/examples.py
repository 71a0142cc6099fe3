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
# The fourth blind split (issue #24), written by an author who never saw the training bank: near misses (off-list
# requests that look like a list item), on-list reports without the item's keywords, and violence-risk reports
# ("danger": true, labelled with the item that should handle them). Scored once; evaluation only.
HELDOUT4_NEARMISS_FILE = EXAMPLES_DIR / "heldout4-nearmiss.jsonl"
HELDOUT4_ONLIST_FILE = EXAMPLES_DIR / "heldout4-onlist.jsonl"
VIOLENCE_RISK_FILE = EXAMPLES_DIR / "violence-risk.jsonl"
# The fifth blind split (issue #24, eighth session), by another author who saw only the admission list and the issue:
# near misses of 15 off-list families, on-list reports without keywords, violence-risk reports. Scored once.
HELDOUT5_NEARMISS_FILE = EXAMPLES_DIR / "heldout5-nearmiss.jsonl"
HELDOUT5_ONLIST_FILE = EXAMPLES_DIR / "heldout5-onlist.jsonl"
HELDOUT5_VIOLENCE_FILE = EXAMPLES_DIR / "heldout5-violence.jsonl"

NOT_ADMITTED = "NOT_ADMITTED"

# Reason code -> what the worker and resident are told (after "不属于社区工作准入事项：").
NOT_ADMITTED_REASONS: dict[str, str] = {
    "CERT_ABOLISHED": "属于已取消的证明事项（如无犯罪记录证明、亲属关系证明、私人用途的居住证明），社区不再出具",
    "PRIVATE_SERVICE": "属于居民家庭内部的私人服务（如户内维修、开锁），请联系市场化服务机构",
    "CONSUMER_DISPUTE": "属于消费纠纷（如网购退货、商家纠纷），请拨打12315或向购物平台投诉",
    "PUSHED_DOWN_TASK": "属于向社区摊派的统计填报、考核评比、拉票等任务，社区不予承接",
    "COMMERCIAL": "属于商业经营活动，社区不为商业推广、招揽客户提供协助",
    "OUT_OF_SCOPE": "不在社区工作准入清单范围内",
    # Off-list families residents bring every day (issue #24): each says where to go instead.
    "UTILITY_BILLING": "属于水、电、气的缴费、账单、抄表或户内用能问题，"
    "请联系供电公司（国网95598）、水务公司或燃气公司客服",
    "TELECOM": "属于电话、宽带、有线电视等通信服务问题，请联系运营商客服（电信10000、移动10086、联通10010），"
    "仍未解决可向工信部电信用户申诉（12300）",
    "PUBLIC_TRANSPORT": "属于公交、地铁、出租车、网约车等交通运输服务问题，请拨打交通运输服务监督电话12328",
    "SCHOOL_ENROLMENT": "属于入学、转学、学位、学校管理等教育事项，请咨询区教育局或所在学校",
    "HOSPITAL_MEDICAL": "属于医院诊疗、医疗纠纷或医保报销问题，请联系医院医务科、卫生健康热线12320或医保经办部门",
    "BANKING": "属于银行账户、贷款、信用卡等金融业务问题，请联系银行客服，或拨打金融消费者投诉热线12378",
    "VEHICLE_ADMIN": "属于驾驶证、车辆登记、违章罚单等车驾管业务，请通过交管12123或到车管所、交警大队办理",
    "HOUSING_MARKET": "属于商品房买卖、交房、租赁中介、房产证等房地产市场事项，请向区住建局反映或拨打12345",
    "WAGE_DISPUTE": "属于劳动者个人的欠薪、劳动合同或工伤争议，请向劳动保障监察（12333）投诉或申请劳动仲裁",
    "EMPLOYEE_PENSION": "属于职工或机关事业单位的社保、退休金、养老待遇问题，请咨询社保经办机构（12333）",
    "BUSINESS_REGISTRATION": "属于企业或公司的登记、执照、年报、税务事项，请到市场监管局或政务服务中心办理，"
    "税务问题拨打12366",
    "CIVIL_LITIGATION": "属于需要通过诉讼解决的民事纠纷（借款、合同、继承等），请向人民法院起诉，"
    "或拨打法律援助热线12348",
    "POSTAL_DELIVERY": "属于快递、邮件的丢失、损坏或延误问题，请联系快递公司，或向邮政业申诉（12305）",
}


# The off-list families added by issue #24 (the first six reasons are older; the first three held-out splits
# have none of these).
OFF_LIST_FAMILIES: tuple[str, ...] = tuple(list(NOT_ADMITTED_REASONS)[6:])


class ExampleError(ValueError):
    """A labelled example is malformed."""


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: str  # an item code, or NOT_ADMITTED
    reason: str | None = None  # reason code, only for NOT_ADMITTED
    group: str | None = None  # the situation it was written from (for grouped cross-validation)
    danger: bool = False  # a violence-risk report: must never land outside the police or triage

    @property
    def admitted(self) -> bool:
        return self.label != NOT_ADMITTED

    def to_dict(self) -> dict[str, str]:
        row = {"text": self.text, "label": self.label}
        if self.reason:
            row["reason"] = self.reason
        if self.group:
            row["group"] = self.group
        return row  # "danger" is an evaluation label only: never written to the training files


def example_from_dict(row: Mapping[str, object], known_codes: Iterable[str] | None = None) -> Example:
    """Validate one JSON object in the examples format."""
    text, label, reason = row.get("text"), row.get("label"), row.get("reason")
    group = row.get("group")
    group = str(group) if group is not None else None
    danger = row.get("danger", False)
    if not isinstance(danger, bool):
        raise ExampleError("'danger' must be true or false")
    if not isinstance(text, str) or not text.strip():
        raise ExampleError("'text' must be a non-empty string")
    if not isinstance(label, str) or not label:
        raise ExampleError("'label' must be an item code or NOT_ADMITTED")
    if label == NOT_ADMITTED:
        reason = reason or "OUT_OF_SCOPE"
        if reason not in NOT_ADMITTED_REASONS:
            raise ExampleError(f"unknown reason {reason!r} (expected one of {', '.join(NOT_ADMITTED_REASONS)})")
        return Example(text.strip(), label, str(reason), group, danger)
    if known_codes is not None and label not in set(known_codes):
        raise ExampleError(f"unknown item code {label!r}")
    return Example(text.strip(), label, None, group, danger)


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


def _optional(path: Path) -> list[Example]:
    return load_examples(path) if path.exists() else []


def heldout4_nearmiss_examples() -> list[Example]:
    """The fourth blind split's near misses (off-list requests sharing a list item's words); evaluation only."""
    return _optional(HELDOUT4_NEARMISS_FILE)


def heldout4_onlist_examples() -> list[Example]:
    """The fourth blind split's on-list reports told without the item's keywords; evaluation only."""
    return _optional(HELDOUT4_ONLIST_FILE)


def violence_risk_examples() -> list[Example]:
    """Violence-risk reports (danger signals), labelled with the item that should handle them; evaluation only."""
    return _optional(VIOLENCE_RISK_FILE)


def heldout5_nearmiss_examples() -> list[Example]:
    """The fifth blind split's near misses; evaluation only."""
    return _optional(HELDOUT5_NEARMISS_FILE)


def heldout5_onlist_examples() -> list[Example]:
    """The fifth blind split's on-list reports told without the item's keywords; evaluation only."""
    return _optional(HELDOUT5_ONLIST_FILE)


def heldout5_violence_examples() -> list[Example]:
    """The fifth blind split's violence-risk reports; evaluation only."""
    return _optional(HELDOUT5_VIOLENCE_FILE)


def all_heldout_examples() -> list[Example]:
    """Every held-out split together: texts that may never be trained on."""
    return (
        heldout_examples()
        + heldout2_examples()
        + heldout3_examples()
        + heldout4_nearmiss_examples()
        + heldout4_onlist_examples()
        + violence_risk_examples()
        + heldout5_nearmiss_examples()
        + heldout5_onlist_examples()
        + heldout5_violence_examples()
    )
