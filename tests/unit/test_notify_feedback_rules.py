"""Feedback (回访) rules: what an SMS reply means, and what a rating does to the case."""

import pytest

from services.notify.feedback import SmsReply, decide_outcome, parse_sms_reply


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1", SmsReply("satisfied", "")),
        ("2", SmsReply("basically_satisfied", "")),
        ("3 垃圾还是没清完", SmsReply("dissatisfied", "垃圾还是没清完")),
        ("３，太慢了", SmsReply("dissatisfied", "太慢了")),  # full-width digit and comma from a phone keyboard
        ("不满意：路灯还是不亮", SmsReply("dissatisfied", "路灯还是不亮")),
        ("基本满意", SmsReply("basically_satisfied", "")),
        ("满意，谢谢", SmsReply("satisfied", "谢谢")),
    ],
)
def test_sms_replies_are_understood(text: str, expected: SmsReply) -> None:
    assert parse_sms_reply(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "你好", "4", "请问什么时候处理"])
def test_other_texts_are_not_ratings(text: str) -> None:
    assert parse_sms_reply(text) is None


def test_satisfied_and_basically_satisfied_close_the_case() -> None:
    assert decide_outcome("satisfied", reopens_so_far=0, reopen_limit=2) == "closed"
    assert decide_outcome("basically_satisfied", reopens_so_far=2, reopen_limit=2) == "closed"


def test_dissatisfied_reopens_until_the_limit_then_escalates() -> None:
    assert decide_outcome("dissatisfied", reopens_so_far=0, reopen_limit=2) == "reopened"
    assert decide_outcome("dissatisfied", reopens_so_far=1, reopen_limit=2) == "reopened"
    assert decide_outcome("dissatisfied", reopens_so_far=2, reopen_limit=2) == "escalated"
