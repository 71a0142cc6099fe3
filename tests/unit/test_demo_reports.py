"""A generated day of grid reports looks like what the worker app would post."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

import pytest

from gridloop.admission.admission_list import default_admission_list
from gridloop.demo.phrases import ITEM_PHRASES
from gridloop.demo.reports import CHINA_TZ, DEFAULT_DAY, ReportDraft, generate_day
from gridloop.registry import default_registry


@pytest.fixture(scope="module")
def day() -> list[ReportDraft]:
    return generate_day(3000)


def test_generation_is_deterministic() -> None:
    assert generate_day(200, seed=7) == generate_day(200, seed=7)
    assert generate_day(200, seed=7) != generate_day(200, seed=8)


def test_about_a_tenth_is_not_on_the_admission_list(day: list[ReportDraft]) -> None:
    share = sum(d.expected_item is None for d in day) / len(day)
    assert 0.08 <= share <= 0.12


def test_every_worker_reports_in_a_grid_they_are_assigned_to(day: list[ReportDraft]) -> None:
    registry = default_registry()
    assert all(registry.is_assigned(d.worker_id, d.grid_id) for d in day)


def test_descriptions_are_non_empty_bounded_and_fully_filled(day: list[ReportDraft]) -> None:
    for draft in day:
        assert 2 <= len(draft.description) <= 4000
        assert "{" not in draft.description and "}" not in draft.description
    assert len({d.description for d in day}) > 0.9 * len(day)


def test_item_codes_and_hints_are_on_the_admission_list(day: list[ReportDraft]) -> None:
    codes = set(default_admission_list().codes)
    assert set(ITEM_PHRASES) == codes
    assert {d.expected_item for d in day} - {None} <= codes
    assert {d.item_hint for d in day} - {None} <= codes


def test_items_spread_over_most_of_the_list_with_common_ones_first(day: list[ReportDraft]) -> None:
    counts = Counter(d.expected_item for d in day if d.expected_item)
    assert len(counts) >= 55
    assert counts["S03"] > counts["F15"]


def test_about_thirty_percent_carry_the_right_hint_and_a_few_a_wrong_one(day: list[ReportDraft]) -> None:
    right = sum(d.item_hint is not None and d.item_hint == d.expected_item for d in day) / len(day)
    wrong = sum(d.item_hint is not None and d.item_hint != d.expected_item for d in day) / len(day)
    assert 0.22 <= right <= 0.32
    assert 0.01 <= wrong <= 0.05


def test_timestamps_fall_within_the_day_mostly_in_working_hours(day: list[ReportDraft]) -> None:
    start = datetime(DEFAULT_DAY.year, DEFAULT_DAY.month, DEFAULT_DAY.day, tzinfo=CHINA_TZ)
    assert all(d.occurred_at.date() == DEFAULT_DAY and d.occurred_at >= start for d in day)
    working = sum(8 <= d.occurred_at.hour < 18 for d in day) / len(day)
    assert working > 0.6
    assert any(d.occurred_at.hour < 6 for d in day)
    assert [d.occurred_at for d in day] == sorted(d.occurred_at for d in day)


def test_residents_have_mobile_numbers_and_a_channel(day: list[ReportDraft]) -> None:
    for d in day:
        assert re.fullmatch(r"1[3-9]\d{9}", d.resident.phone)
        assert (d.resident.email is not None) == (d.resident.channel == "email")
    channels = Counter(d.resident.channel for d in day)
    assert channels["sms"] > channels["email"] > channels["none"] > 0
    assert 0.85 < sum(d.resident.notify_consent for d in day) / len(day) < 0.98


def test_api_body_omits_the_expected_item_and_uses_china_time(day: list[ReportDraft]) -> None:
    body = day[0].api_body()
    assert "expected_item" not in body
    assert body["occurred_at"].endswith("+08:00")
    assert body["location"]["address"].startswith("金牛区")


def test_drafts_validate_against_intakes_request_model(day: list[ReportDraft]) -> None:
    schemas = pytest.importorskip("services.intake.schemas")
    for draft in day[:500]:
        schemas.ReportIn.model_validate(draft.api_body())
