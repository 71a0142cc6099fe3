"""The benchmark's CPU-per-report table: arithmetic and the bound it implies."""

from __future__ import annotations

import pytest

from bench import cpu
from bench.run import format_cpu


def test_cpu_per_report_is_the_difference_per_report_in_milliseconds() -> None:
    before = dict.fromkeys(cpu.PARTS, 10.0)
    after = {**before, "intake": 12.0, "postgresql": 11.0}  # 2 s and 1 s over 500 reports
    spent = cpu.per_report(before, after, 500)
    assert spent["intake"] == pytest.approx(4.0)
    assert spent["postgresql"] == pytest.approx(2.0)
    assert spent["router"] == 0.0
    assert spent["total"] == pytest.approx(6.0)
    assert cpu.per_report(before, after, 0) == {}


def test_a_restarted_process_never_counts_negative() -> None:
    assert cpu.per_report({"kafka": 50.0}, {"kafka": 3.0}, 10)["kafka"] == 0.0


def test_the_table_states_the_rate_the_cpu_allows() -> None:
    spent = {**dict.fromkeys(cpu.PARTS, 0.0), "intake": 10.0, "total": 10.0}
    lines = format_cpu(spent, cores=2)
    assert "intake 10.0" in lines[0] and "= 10.0" in lines[0]
    assert "at most 200 reports/s" in lines[1]
    assert format_cpu({}, cores=2) == []


def test_a_capacity_phase_gives_its_rate_and_the_cpu_each_part_spent_per_report() -> None:
    from bench.capacity import phase, table

    before = dict.fromkeys(cpu.PARTS, 0.0)
    after = {**before, "router": 3.0, "postgresql": 1.5}  # 3 s and 1.5 s over 1,500 reports
    drained = phase("catch-up", 1500, 5.0, before, after)
    assert drained["per_second"] == pytest.approx(300.0)
    assert drained["cpu_ms_per_report"]["router"] == pytest.approx(2.0)
    assert drained["cpu_ms_per_report"]["total"] == pytest.approx(3.0)
    header, _rule, row = table([drained])
    assert header.split()[:3] == ["phase", "reports", "per"]
    assert row.split() == ["catch-up", "1500", "300", "0.00", "2.00", "0.00", "0.00", "0.00", "1.00", "3.00"]
