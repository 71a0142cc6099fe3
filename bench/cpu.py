"""Where the CPU goes: CPU seconds used by each part of the local stack, read from /proc.

Between two snapshots taken around a phase of the benchmark, the difference divided by the reports accepted in it
is the CPU each part spends per report (its idle background work included). On a machine with N cores the whole
pipeline cannot sustain more than N / (sum of the parts) reports per second, whatever the latencies.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

PARTS = ("intake", "router", "departments", "notify", "kafka", "postgresql")
_SERVICE = re.compile(r"gridloop (intake|router|departments|notify)$")
_TICKS = os.sysconf("SC_CLK_TCK")


def _part(pid: str) -> str | None:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    if match := _SERVICE.search(cmdline):
        return match.group(1)
    if comm == "java" and "kafka.Kafka" in cmdline:
        return "kafka"
    if comm in ("postgres", "postmaster"):
        return "postgresql"
    return None


def _cpu_seconds(pid: str) -> float:
    """User + system time of the process and of its reaped children (PostgreSQL's finished backends)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime + cutime + cstime) / _TICKS


def snapshot() -> dict[str, float]:
    """CPU seconds so far, per part of the stack (processes that are not part of it are left out)."""
    totals = dict.fromkeys(PARTS, 0.0)
    for pid in os.listdir("/proc"):
        if pid.isdigit() and (part := _part(pid)) is not None:
            totals[part] += _cpu_seconds(pid)
    return totals


def per_report(before: dict[str, float], after: dict[str, float], reports: int) -> dict[str, float]:
    """Milliseconds of CPU per report for each part, and their sum under "total"."""
    if reports <= 0:
        return {}
    spent = {part: max(after.get(part, 0.0) - before.get(part, 0.0), 0.0) * 1000 / reports for part in PARTS}
    return {**spent, "total": sum(spent.values())}
