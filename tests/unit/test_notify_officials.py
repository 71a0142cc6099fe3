"""What an official reads when a case reaches their rung, without I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from gridloop.contracts.events import CaseStatusChanged
from services.notify.officials import how_late, official_body, official_context


def escalated(**detail: object) -> CaseStatusChanged:
    return CaseStatusChanged(
        case_id=uuid.UUID("3f2a9c01-be00-4000-8000-000000000000"),
        status="escalated",
        at=datetime.now(UTC),
        actor="sla",
        department="finance",
        item_code="F03",
        detail=detail,
    )


def test_how_late_reads_in_days_hours_and_minutes() -> None:
    assert how_late(3 * 3600 + 20 * 60 + 59) == "3小时20分钟"
    assert how_late(26 * 3600) == "1天2小时"
    assert how_late(20) == "不到1分钟"


def test_an_sla_escalation_names_the_case_the_department_how_late_and_the_rung() -> None:
    context = official_context(
        escalated(clock="sign", level="department_head"), late_seconds=7200, link="https://x/v1/work-items/1"
    )
    body = official_body(context)
    assert (
        body
        == "【金牛网格督办】案件3F2A9C01BE（F03，街道财政所）签收超时2小时，已升级至分管领导，请督促办理：https://x/v1/work-items/1"
    )


def test_repeated_dissatisfaction_says_so_and_goes_to_the_district() -> None:
    context = official_context(
        escalated(level="district_supervisor", reason="resident_dissatisfied"), late_seconds=None, link=""
    )
    assert context["what"] == "居民多次评价不满意" and context["level_name"] == "区督办办"
