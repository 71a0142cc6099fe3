"""Where the pipeline's capacity goes: three phases on the running local stack, CPU per report for each.

    make capacity                       # CAPACITY_ARGS="--reports 3000 --connections 16" to vary

1. **live**: all four services run; N reports are posted back to back by C connections, then drained.
2. **intake alone**: router, departments and notify are stopped; N reports are posted. Intake's own ceiling, with
   nothing else competing for the cores.
3. **catch-up**: the three are started again on the backlog phase 2 left and drain it in large polls (up to
   `KAFKA_POLL_MAX_RECORDS` records): the cost of the same work in big batches.

Each phase prints reports/s and the CPU milliseconds each part of the stack spent per report (`bench/cpu.py`,
from /proc). If catch-up costs about what live costs, batching does not make a report cheaper, and the CPU per
report divided into the machine's cores bounds what the pipeline can sustain. Results: a table and
`bench/results/capacity-<time>.json`. docs/benchmarks.md has the figures and what they mean.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import cpu
from bench.run import ensure_stack, post_reports, report_bodies, wait_drained
from gridloop.stack import start_service, stop_service

DOWNSTREAM = ("router", "departments", "notify")
RESULTS = Path(__file__).parent / "results"


def phase(name: str, reports: int, seconds: float, before: dict[str, float], after: dict[str, float]) -> dict:
    """One phase's figures: reports per second over `seconds`, and CPU ms per report by part."""
    return {
        "phase": name,
        "reports": reports,
        "seconds": round(seconds, 2),
        "per_second": reports / seconds if seconds > 0 else 0.0,
        "cpu_ms_per_report": cpu.per_report(before, after, reports),
    }


def table(phases: list[dict]) -> list[str]:
    head = f"{'phase':<14}{'reports':>8}{'per s':>8}  " + "".join(f"{p[:11]:>12}" for p in (*cpu.PARTS, "total"))
    lines = [head, "-" * len(head)]
    for p in phases:
        spent = p["cpu_ms_per_report"]
        cells = "".join(f"{spent.get(part, 0.0):>12.2f}" for part in (*cpu.PARTS, "total"))
        lines.append(f"{p['phase']:<14}{p['reports']:>8}{p['per_second']:>8.0f}  {cells}")
    return lines


async def post(reports: int, connections: int, what: str) -> tuple[int, float]:
    """Post `reports` fresh reports back to back; (accepted, seconds)."""
    results, elapsed = await post_reports(
        iter(report_bodies(reports)), connections=connections, seconds=3600, desc=what, total=reports
    )
    return sum(r.status == 202 for r in results), elapsed


async def run(args: argparse.Namespace) -> list[dict]:
    phases = []
    print(f"capacity: 1/3 live — {args.reports:,} reports, all four services", flush=True)
    before, started = cpu.snapshot(), time.perf_counter()
    accepted, _ = await post(args.reports, args.connections, "live")
    await wait_drained(args.drain_timeout)
    # From the first post to drained, less the two calm seconds `wait_drained` waits for.
    phases.append(phase("live", accepted, time.perf_counter() - started - 2, before, cpu.snapshot()))

    print("capacity: 2/3 intake alone — router, departments and notify stopped", flush=True)
    for name in DOWNSTREAM:
        await asyncio.to_thread(stop_service, name)
    try:
        before = cpu.snapshot()
        accepted, elapsed = await post(args.reports, args.connections, "intake alone")
        await asyncio.sleep(2)  # intake's relay sends the last events
        phases.append(phase("intake alone", accepted, elapsed, before, cpu.snapshot()))
    finally:
        print("capacity: 3/3 catch-up — starting them on the backlog", flush=True)
        before, started = cpu.snapshot(), time.perf_counter()
        for name in DOWNSTREAM:
            await asyncio.to_thread(start_service, name)
    await wait_drained(args.drain_timeout)
    phases.append(phase("catch-up", accepted, time.perf_counter() - started - 2, before, cpu.snapshot()))
    return phases


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make capacity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=6000, help="reports posted in each of phases 1 and 2")
    parser.add_argument("--connections", type=int, default=16, help="simulated workers posting at once")
    parser.add_argument("--drain-timeout", type=float, default=1200.0, help="seconds to wait for a drain")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_stack()
    phases = asyncio.run(run(args))
    print()
    print(f"capacity on {os.cpu_count()} cores, CPU ms per report by part (catch-up includes the services' start-up)")
    print("\n".join(table(phases)))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"capacity-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps({"args": vars(args), "cores": os.cpu_count(), "phases": phases}, indent=2))
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
