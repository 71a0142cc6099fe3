"""The relay's send waves: a case's next event waits for the previous one's acknowledgement."""

from __future__ import annotations

from dataclasses import dataclass

from gridloop.delivery.outbox import waves_by_key


@dataclass(frozen=True)
class Row:
    id: int
    key: str


def test_each_wave_holds_at_most_one_row_per_case_in_outbox_order() -> None:
    rows = [Row(1, "a"), Row(2, "a"), Row(3, "b"), Row(4, "a"), Row(5, "b"), Row(6, "c")]
    waves = waves_by_key(rows)
    assert [[r.id for r in wave] for wave in waves] == [[1, 3, 6], [2, 5], [4]]


def test_rows_of_different_cases_go_out_together() -> None:
    rows = [Row(i, f"case-{i}") for i in range(5)]
    assert waves_by_key(rows) == [rows]


def test_no_rows_no_waves() -> None:
    assert waves_by_key([]) == []
