"""The departments' pure rules: deadlines and the escalation ladder, duplicate matching, rates, returns."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gridloop.admission.admission_list import default_admission_list
from services.departments.duplicates import Sighting, distance_metres, is_duplicate, match, may_be_linked
from services.departments.rates import RateCounts, ratio
from services.departments.sla import DeadlineState, due_steps, moved, next_fire_at, sign_for_window
from services.router.returns import ARBITRATION_REASON, redecide

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
TWO_HOURS = DeadlineState(rung=0, rung_started_at=T0, deadline=T0 + timedelta(hours=2), window=timedelta(hours=2))


def kinds(steps) -> list[tuple[str, int]]:
    return [(s.kind, s.rung) for s in steps]


def test_urgent_items_must_be_signed_for_within_two_hours_others_within_a_day() -> None:
    assert sign_for_window(6) == sign_for_window(12) == timedelta(hours=2)
    assert sign_for_window(24) == sign_for_window(168) == timedelta(hours=24)


def test_nothing_fires_before_three_quarters_of_the_window() -> None:
    steps, state = due_steps(TWO_HOURS, T0 + timedelta(minutes=89))
    assert steps == [] and state == TWO_HOURS
    assert next_fire_at(TWO_HOURS) == T0 + timedelta(minutes=90)


def test_warning_at_75_percent_then_breach_escalates_with_half_the_window() -> None:
    steps, warned = due_steps(TWO_HOURS, T0 + timedelta(minutes=90))
    assert kinds(steps) == [("sla_warning", 0)]
    assert next_fire_at(warned) == T0 + timedelta(hours=2)
    steps, escalated = due_steps(warned, T0 + timedelta(hours=2))
    assert kinds(steps) == [("sla_breached", 0), ("escalated", 1)]
    assert escalated.deadline == T0 + timedelta(hours=3) and escalated.rung_started_at == T0 + timedelta(hours=2)
    assert next_fire_at(escalated) == T0 + timedelta(hours=2, minutes=45), "75 % of the department head's hour"


def test_a_long_jump_climbs_every_rung_and_the_top_rung_fires_its_breach_once() -> None:
    steps, state = due_steps(TWO_HOURS, T0 + timedelta(days=1))
    assert kinds(steps) == [
        ("sla_warning", 0), ("sla_breached", 0), ("escalated", 1),
        ("sla_warning", 1), ("sla_breached", 1), ("escalated", 2),
        ("sla_warning", 2), ("sla_breached", 2),
    ]  # fmt: skip
    assert state.spent and next_fire_at(state) is None
    assert due_steps(state, T0 + timedelta(days=9)) == ([], state)


def test_an_extension_moves_the_deadline_and_warns_again_only_if_its_new_75_percent_is_ahead() -> None:
    _, warned = due_steps(TWO_HOURS, T0 + timedelta(minutes=100))
    later = moved(warned, timedelta(hours=2), T0 + timedelta(minutes=100))
    assert later.deadline == T0 + timedelta(hours=4) and not later.warned
    assert next_fire_at(later) == T0 + timedelta(hours=3)
    already = moved(warned, timedelta(minutes=10), T0 + timedelta(minutes=100))
    assert already.warned, "its new 75 % has passed: no second warning for the same deadline"


def test_distance_needs_coordinates_on_both_sides() -> None:
    here = {"lat": 30.71, "lon": 104.05}
    assert distance_metres(here, {"lat": 30.7109, "lon": 104.05}) == pytest.approx(100, abs=1)
    assert distance_metres(here, None) is None
    assert distance_metres(here, {"address": "12栋"}) is None


def test_the_same_problem_within_100_metres_and_a_day_is_a_duplicate_and_the_grid_alone_only_a_suspicion() -> None:
    text = "马鞍北路雨水口堵了，一下雨就积水"
    first = Sighting("S08", "G1", T0, {"lat": 30.71, "lon": 104.05}, text)
    near = {"lat": 30.7108, "lon": 104.05}  # about 90 m north
    assert is_duplicate(
        Sighting("S08", "G2", T0 + timedelta(hours=23), near, "马鞍北路下雨积水很深，下水口堵住了"), first
    )
    assert match(Sighting("S08", "G1", T0 + timedelta(hours=1), None, text), first)[0] == "suspected", "grid only"
    assert match(Sighting("S08", "G2", T0 + timedelta(hours=1), None, text), first)[0] is None, "other grid"
    far = {"lat": 30.712, "lon": 104.05}
    assert match(Sighting("S08", "G1", T0 + timedelta(hours=1), far, text), first)[0] is None, "more than 100 m"
    assert match(Sighting("S15", "G1", T0 + timedelta(hours=1), near, text), first)[0] is None, "another item"
    assert match(Sighting("S08", "G1", T0 + timedelta(hours=25), near, text), first)[0] is None, "a day later"
    other = Sighting("S08", "G1", T0 + timedelta(hours=1), near, "一环路北三段12号楼下化粪池冒水")
    assert match(other, first)[0] != "linked", "another problem of the same item next door: a clerk decides"


def test_cases_about_a_person_are_never_linked() -> None:
    for item in ("P06", "P09", "P08", "S20", "F01", "S30"):
        a = Sighting(item, "G1", T0, {"lat": 30.71, "lon": 104.05}, "同一户人家又打起来了")
        assert match(replace(a, dispatched_at=T0 + timedelta(hours=1)), a) == (None, 0.0), item


@pytest.mark.parametrize("item_code", ["P06", "P09", "P10", "P05", "P07", "P08", "S20", "S18", "S19", "S30", "F01"])
def test_a_personal_matter_is_never_linked_however_close(item_code: str) -> None:
    """Two families' domestic-violence reports in one building are two cases (issue #16, finding 3)."""
    here = {"lat": 30.71, "lon": 104.05}
    assert not may_be_linked(item_code)
    assert not is_duplicate(
        Sighting(item_code, "G1", T0 + timedelta(minutes=5), here), Sighting(item_code, "G1", T0, here)
    )


def test_public_items_may_be_linked_and_unknown_items_may_not() -> None:
    assert may_be_linked("S02") and may_be_linked("S08")
    assert not may_be_linked("X99"), "an item the shipped list does not know counts as personal"


def test_no_cases_is_no_rate_not_zero() -> None:
    assert ratio(0, 0) is None
    assert ratio(2, 3) == 0.6667
    counts = RateCounts(
        "police", dispatched=5, response_due=5, signed_on_time=3, due=6, resolved_on_time=3, rated=4, satisfied=3
    )
    assert (counts.response_rate, counts.resolution_rate, counts.satisfaction_rate) == (0.6, 0.5, 0.75)


LIST = default_admission_list()


def test_a_returned_case_goes_to_the_best_item_of_another_department() -> None:
    probabilities = {"S06": 0.55, "S09": 0.05, "P05": 0.30, "NA:OUT_OF_SCOPE": 0.10}
    decision = redecide(probabilities, excluded={"street_office"}, admission_list=LIST, threshold=0.3, list_version="v")
    assert (decision.outcome, decision.item_code, decision.department) == ("admitted", "P05", "police")
    assert decision.confidence == 0.75


def test_a_returned_case_with_no_plausible_other_department_goes_to_triage() -> None:
    tail = {"S03": 0.985, "P04": 0.01, "NA:OUT_OF_SCOPE": 0.005}
    decision = redecide(tail, excluded={"street_office"}, admission_list=LIST, threshold=0.3, list_version="v")
    assert decision.outcome == "triage", "1 % for P04 is not evidence, however it renormalises"
    assert decision.runner_up == "P04"
    everything = redecide(tail, excluded={"street_office", "police", "finance"}, admission_list=LIST, threshold=0.3,
                          list_version="v")  # fmt: skip
    assert everything.outcome == "triage" and everything.item_code is None
    assert ARBITRATION_REASON == "二次退单，待仲裁"


async def test_steps_recorded_together_must_change_the_same_columns() -> None:
    """`record_steps` writes all its steps with one UPDATE, so a step that would change other columns is refused
    before anything is written (the unit of work is never touched here)."""
    import uuid
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from services.departments.steps import Step, record_steps

    row = SimpleNamespace(case_id=uuid.uuid4(), department="police", item_code="P04")
    now = datetime.now(UTC)
    signed = Step(row, "signed", "x", "签收", now, uuid.uuid4(), "signed", {"signed_at": now})
    linked = Step(row, "duplicate_linked", "x", "合并", now, uuid.uuid4(), "linked", {"primary_case_id": None})
    with pytest.raises(ValueError, match="same columns"):
        await record_steps(None, [signed, linked])  # type: ignore[arg-type]
