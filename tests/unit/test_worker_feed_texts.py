"""What a grid worker reads for each outcome of a case they reported (Chinese), without I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from gridloop.admission.examples import NOT_ADMITTED_REASONS
from gridloop.admission.referrals import REFERRALS_ZH, referral_for
from gridloop.contracts.events import CaseStatusChanged
from services.intake.worker_feed import ACTION_NEEDED, update_for


def step(status: str, **fields: object) -> CaseStatusChanged:
    return CaseStatusChanged(case_id=uuid.uuid4(), status=status, at=datetime.now(UTC), actor="test", **fields)


def test_forwarded_names_the_item_the_department_and_the_deadline() -> None:
    text, detail = update_for(
        step(
            "forwarded",
            department="police",
            item_code="P02",
            detail={"item_name_zh": "出租房屋登记", "resolve_hours": 72},
        )
    )
    assert text == "已转派：出租房屋登记，交辖区派出所办理，办理时限72小时"
    assert detail["department"] == "police" and detail["resolve_hours"] == 72


def test_not_admitted_says_where_to_send_the_resident_for_each_reason() -> None:
    for code, reason in NOT_ADMITTED_REASONS.items():
        text, detail = update_for(step("not_admitted", note=f"不属于社区工作准入事项：{reason}"))
        assert detail["refer_to"] == REFERRALS_ZH[code] and REFERRALS_ZH[code] in text
    assert referral_for("运营人员判定：不属于准入事项") == REFERRALS_ZH["OUT_OF_SCOPE"]  # a note in other words


def test_returned_and_escalated_need_the_worker_to_act_signed_does_not() -> None:
    assert {"not_admitted", "returned", "escalated"} == ACTION_NEEDED
    text, _ = update_for(step("returned", department="finance", note="不属于本部门职责"))
    assert text.startswith("街道财政所退单：不属于本部门职责")
