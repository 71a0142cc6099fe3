"""The SMS template table and the providers' limits, without I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.notify.sms_providers import PerNumberLimit, RequestRate
from services.notify.sms_templates import ParameterTooLong, SmsTemplateTable, message_values

TABLE_PATH = Path("services/notify/templates/sms-templates.json")


def test_every_visible_step_has_a_template_for_each_provider_and_links_are_constants() -> None:
    table = SmsTemplateTable.load(TABLE_PATH, public_base_url="https://grid.example.cn")
    resolved = table.template("aliyun", "resolved")
    assert "https://grid.example.cn/c/${token}?t=${feedback}" in resolved.text
    assert table.template("tencent", "forwarded").names == ("1", "2", "3")


def test_a_template_whose_text_and_parameters_disagree_is_refused(tmp_path: Path) -> None:
    raw = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    raw["steps"]["signed"]["aliyun"]["params"]["extra"] = "case_no"
    broken = tmp_path / "sms.json"
    broken.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match="aliyun signed"):
        SmsTemplateTable.load(broken)


def test_a_step_without_a_template_is_refused(tmp_path: Path) -> None:
    raw = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    del raw["steps"]["closed"]["tencent"]
    broken = tmp_path / "sms.json"
    broken.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match=r"no tencent template for steps \['closed'\]"):
        SmsTemplateTable.load(broken)


def test_text_is_shortened_with_an_ellipsis_and_numbers_are_never_cut() -> None:
    table = SmsTemplateTable.load(TABLE_PATH)
    assert table.fit("tencent", "department_name", "金牛区城市管理局") == "金牛区城市…"
    assert table.fit("aliyun", "reason", "换\n行") == "换 行"
    with pytest.raises(ParameterTooLong):
        table.fit("tencent", "case_no", "1" * 33)


def test_the_link_gives_the_tracking_and_feedback_tokens() -> None:
    values = message_values({"case_no": "AB"}, "https://x.cn/c/TRACK?t=FEED")
    assert values["tracking_token"] == "TRACK" and values["feedback_token"] == "FEED"


def test_per_number_windows_say_when_the_next_message_may_go() -> None:
    limit = PerNumberLimit(((30, 1), (3600, 2)))
    t0 = datetime(2026, 12, 8, 10, tzinfo=UTC)
    assert limit.retry_at("139", t0) is None
    limit.record("139", t0)
    assert limit.retry_at("139", t0 + timedelta(seconds=10)) == t0 + timedelta(seconds=30)
    assert limit.retry_at("139", t0 + timedelta(seconds=30)) is None
    limit.record("139", t0 + timedelta(seconds=30))
    assert limit.retry_at("139", t0 + timedelta(seconds=60)) == t0 + timedelta(seconds=3600)
    assert limit.retry_at("138", t0) is None


async def test_the_request_rate_lets_a_burst_through_then_paces_to_the_limit() -> None:
    now = [0.0]
    waited: list[float] = []

    async def sleep(seconds: float) -> None:  # a clock the test moves: no real waiting
        waited.append(seconds)
        now[0] += seconds

    rate = RequestRate(5, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(5):
        await rate.acquire()
    assert waited == []  # one second's worth goes at once
    for _ in range(10):
        await rate.acquire()
    assert now[0] == pytest.approx(2.0)  # ten more at 5 a second take two seconds
