"""The consoles' pure logic: deadlines and time left, the API's refusals in Chinese, photos, signed photo links,
the rate board's period and overdue count, what the worker is told about a case."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gridloop.auth.settings import DEV_SIGNING_KEY
from gridloop.auth.tokens import TokenIssuer
from gridloop.consoles.media import photo_id_of, photo_link_valid, signed_photo_url
from services.departments.clerk_console import escalation_zh, refusal_zh, suspects_by_primary, time_left, worklist
from services.departments.schemas import WorkItemView
from services.intake.schemas import WorkerReportView, WorkerUpdateView
from services.intake.worker_app import PhotoRefused, photo_id_for, photo_type, report_card
from services.router.operator_console import RateRow, period

NOW = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
ISSUER = TokenIssuer(DEV_SIGNING_KEY)


def work_item(status: str = "dispatched", *, hours_left: float = 5, **fields: object) -> WorkItemView:
    deadline = NOW + timedelta(hours=hours_left)
    base = {
        "case_id": uuid.uuid4(),
        "department": "street_office",
        "item_code": "S11",
        "item_name_zh": "楼道消防隐患",
        "status": status,
        "description": "楼道堆物",
        "grid_id": "JN-G0001",
        "community_id": "JN-C001",
        "resident_name_masked": "王*",
        "resident_phone_masked": "139****1818",
        "dispatch_no": 1,
        "dispatched_at": deadline - timedelta(hours=24),
        "sign_deadline": deadline,
        "resolve_deadline": deadline + timedelta(hours=48),
        "signed_at": None,
        "signed_by": None,
        "resolved_at": None,
        "result": None,
    }
    return WorkItemView.model_validate(base | fields)


def test_time_left_reads_in_days_hours_and_minutes_and_says_when_breached() -> None:
    assert time_left(NOW + timedelta(hours=3, minutes=20), NOW) == ("剩 3小时20分", False)
    assert time_left(NOW + timedelta(minutes=7), NOW) == ("剩 7分", False)
    assert time_left(NOW - timedelta(days=1, hours=2), NOW) == ("超时 1天2小时", True)


def test_the_worklist_is_filtered_and_sorted_by_deadline_with_breached_ones_first() -> None:
    later, breached, sooner = work_item(hours_left=10), work_item(hours_left=-1), work_item(hours_left=2)
    other_item = work_item(hours_left=1, item_code="S03")
    other_community = work_item(hours_left=1, community_id="JN-C002")
    rows = worklist([later, breached, sooner, other_item, other_community], NOW, item_code="S11", community="JN-C001")
    assert [r.item.case_id for r in rows] == [breached.case_id, sooner.case_id, later.case_id]
    assert rows[0].breached and rows[0].time_left.startswith("超时")
    assert rows[1].soon and not rows[2].soon  # under a quarter of the 24-hour window left


def test_suspected_duplicates_are_listed_under_their_primary_while_open_earliest_first() -> None:
    primary = work_item("signed")
    later = work_item(suspected_duplicate_of=primary.case_id, duplicate_score=0.15)
    earlier = work_item(suspected_duplicate_of=primary.case_id, dispatched_at=later.dispatched_at - timedelta(hours=1))
    closed = work_item("resolved", suspected_duplicate_of=primary.case_id)
    unrelated = work_item()
    grouped = suspects_by_primary([primary, later, closed, earlier, unrelated])
    assert grouped == {primary.case_id: [earlier, later]}


def test_a_signed_case_counts_down_to_its_resolution_deadline_and_a_resolved_one_says_how_it_ended() -> None:
    signed = worklist([work_item("signed", hours_left=1)], NOW)[0]
    assert (signed.deadline_label, signed.time_left) == ("办结时限", "剩 2天1小时")
    resolved = worklist([work_item("resolved", hours_left=1, resolved_at=NOW)], NOW)[0]
    assert (resolved.time_left, resolved.breached) == ("按时办结", False)


def test_only_escalation_past_the_assignee_is_shown() -> None:
    item = work_item(escalation={"sign": "handler", "resolve": "department_head"})
    assert escalation_zh(item) == ["办结：部门负责人"]


@pytest.mark.parametrize(
    ("status", "detail", "expected"),
    [
        (409, "cannot sign a case that is resolved", "该事项当前为「已办结」，不能签收（可能已被同事签收）。"),
        (409, "cannot resolve a case that is dispatched", "该事项当前为「待签收」，请先签收后再办理。"),
        (409, "case is linked as a duplicate of 1234; act on that case", "该事项是重复件，请在主事项上办理。"),
        (409, "extension 42 is still waiting for a decision", "已有一个延期申请在等待审批，请等待区级值班员决定。"),
        (404, "work item x not found", "未找到该事项，或该事项不属于本部门。"),
        (409, "something new", "当前状态下不能进行此操作。"),
    ],
)
def test_the_apis_refusals_read_in_chinese(status: int, detail: str, expected: str) -> None:
    assert refusal_zh(status, detail) == expected


def test_only_jpeg_and_png_photos_within_the_size_are_accepted() -> None:
    assert photo_type(b"\xff\xd8\xff\xe0rest", max_bytes=100) == "image/jpeg"
    assert photo_type(b"\x89PNG\r\n\x1a\nrest", max_bytes=100) == "image/png"
    for data, limit in [(b"GIF89a....", 100), (b"<svg onload=alert(1)>", 100), (b"", 100), (b"\xff\xd8\xff" * 50, 100)]:
        with pytest.raises(PhotoRefused):
            photo_type(data, max_bytes=limit)


def test_a_retried_upload_names_the_same_photo() -> None:
    report = uuid.uuid4()
    assert photo_id_for("W1", report, 0) == photo_id_for("W1", report, 0) != photo_id_for("W1", report, 1)
    assert photo_id_for("W1", report, 0) != photo_id_for("W2", report, 0), "reports are idempotent per worker"


def test_a_signed_photo_link_opens_its_photo_only_until_it_expires() -> None:
    url = f"http://intake.example/media/{uuid.uuid4()}"
    signed = signed_photo_url(ISSUER, url, now=1000.0, ttl=60)
    query = dict(part.split("=") for part in signed.split("?", 1)[1].split("&"))
    photo = photo_id_of(url)
    assert photo_link_valid(ISSUER, photo, expires=int(query["exp"]), signature=query["sig"], now=1059.0)
    assert not photo_link_valid(ISSUER, photo, expires=int(query["exp"]), signature=query["sig"], now=1060.0)
    assert not photo_link_valid(ISSUER, photo, expires=int(query["exp"]) + 3600, signature=query["sig"], now=1000.0)
    assert not photo_link_valid(ISSUER, str(uuid.uuid4()), expires=int(query["exp"]), signature=query["sig"], now=1)


def test_the_rate_board_period_is_whole_days_in_shanghai_and_overdue_is_due_minus_on_time() -> None:
    start, end = period(date(2026, 12, 1), date(2026, 12, 7), date(2026, 12, 8))
    assert start == datetime(2026, 12, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert end == datetime(2026, 12, 8, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert period(None, None, date(2026, 12, 8))[0].date() == date(2026, 11, 9)  # the last 30 days
    counts = {"dispatched": 9, "signed_on_time": 8, "due": 5, "resolved_on_time": 3, "rated": 2, "satisfied": 2}
    row = RateRow(group="police", **counts, response_rate=0.8889, resolution_rate=0.6, satisfaction_rate=1.0)
    assert row.overdue == 2


def test_a_case_not_admitted_tells_the_worker_the_reason_and_what_to_say_to_the_resident() -> None:
    reason = "不属于社区工作准入事项：属于消费纠纷（如网购退货、商家纠纷）"
    refer_to = "请告知居民拨打12315或登录全国12315平台投诉，网购纠纷可先向购物平台投诉"
    update = WorkerUpdateView(
        id=7,
        case_id=uuid.uuid4(),
        status="not_admitted",
        at=NOW,
        text=f"不予受理：{reason}。请告知居民：{refer_to}",
        action_needed=True,
        detail={"department": None, "reason": reason, "refer_to": refer_to},
    )
    report = WorkerReportView(
        case_id=update.case_id,
        status="not_admitted",
        reported_at=NOW,
        updated_at=NOW,
        description="网购退货商家不理，想让社区帮忙协调一下",
        latest=update,
    )
    card = report_card(report)
    assert (card["label"], card["note"]) == ("不属于准入事项", f"不予受理：{reason}")
    assert card["tell_resident"] == refer_to and card["action_needed"] is True


def test_a_forwarded_case_shows_the_latest_outcome_and_nothing_to_tell() -> None:
    update = WorkerUpdateView(
        id=8,
        case_id=uuid.uuid4(),
        status="forwarded",
        at=NOW,
        text="已转派：楼道消防隐患，交街道办事处办理，办理时限24小时",
        action_needed=False,
        detail={"department": "street_office"},
    )
    report = WorkerReportView(
        case_id=update.case_id,
        status="forwarded",
        reported_at=NOW,
        updated_at=NOW,
        description="楼道堆物",
        latest=update,
    )
    card = report_card(report)
    assert (card["label"], card["note"], card["tell_resident"]) == ("已转派", update.text, None)


def test_a_duplicate_decision_refused_by_the_api_reads_in_chinese() -> None:
    assert refusal_zh(409, "case is not a suspected duplicate") == "该事项已不是疑似重复件（可能已有同事处理）。"
    gone = refusal_zh(409, f"the suspected primary {uuid.uuid4()} is no longer open")
    assert gone == "疑似的主事项已办结或已退单，不能并案，请单独办理。"
