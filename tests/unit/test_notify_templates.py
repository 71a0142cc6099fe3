"""Message templates are data: one per visible step, rendered with the case's details."""

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gridloop.contracts.events import RESIDENT_VISIBLE, CaseStatusChanged
from services.notify.handlers import case_link, message_context
from services.notify.settings import NotifySettings
from services.notify.templates import Templates

TEMPLATES = Templates.load(NotifySettings().templates_path)


def _event(status: str, **fields) -> CaseStatusChanged:
    return CaseStatusChanged(
        case_id=uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
        status=status,
        at=datetime.now(UTC),
        actor="t",
        **fields,
    )


def test_every_step_the_resident_sees_has_a_template() -> None:
    assert RESIDENT_VISIBLE <= TEMPLATES.by_step.keys()


def test_forwarded_message_names_the_department_and_the_deadline() -> None:
    event = _event("forwarded", department="street_office", detail={"item_name_zh": "垃圾清运", "resolve_hours": 24})
    context = message_context(event, tracking_token="tok", public_base_url="https://gl.example")
    body = TEMPLATES.render("forwarded", context)
    assert "垃圾清运" in body and "街道办事处" in body and "24小时" in body
    assert "https://gl.example/c/tok" in body


def test_resolved_message_asks_for_a_rating_with_the_one_time_link() -> None:
    event = _event("resolved", department="police", note="已调解", detail={"result": "已调解"})
    context = message_context(event, tracking_token="tok", public_base_url="https://gl.example", feedback_token="ft1")
    body = TEMPLATES.render("resolved", context)
    assert "已调解" in body
    assert "回复1满意，2基本满意，3不满意" in body
    assert "https://gl.example/c/tok?t=ft1" in body
    assert body.startswith("【金牛网格】")


def test_a_missing_value_renders_blank_rather_than_failing() -> None:
    assert "{" not in TEMPLATES.render("signed", {"case_no": "ABC"})


def test_the_case_link_is_empty_until_the_tracking_token_is_known() -> None:
    assert case_link("https://gl.example", None, "ft1") == ""


def test_a_template_file_missing_a_visible_step_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "messages.json"
    path.write_text(json.dumps({"received": "已受理"}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match="no template for steps"):
        Templates.load(path)


def test_a_resident_whose_case_was_merged_is_told_and_hears_the_primarys_progress() -> None:
    event = CaseStatusChanged(
        case_id=uuid.uuid4(),
        status="duplicate_linked",
        at=datetime.now(UTC),
        actor="departments",
        department="street_office",
        detail={"primary_case_id": str(uuid.uuid4()), "primary_progress": "部门已签收，正在办理"},
    )
    context = message_context(event, tracking_token="t", public_base_url="https://x.example")
    text = TEMPLATES.render("duplicate_linked", context)
    assert "已并案" in text and "部门已签收，正在办理" in text and "街道办事处" in text
