"""`make soak`: the stack at a steady 50 reports/s for an hour or more, with the retention jobs running.

    python -m bench.soak [--rate 50] [--minutes 60] [--retention-every 10]

Every minute (one window of open-loop load) it records: intake's accepted share and p99, report -> department
p50/p99 (a consumer on the department topics), each service's resident memory (RSS, from its pid file), and the
size of the tables that grow (inbox, outbox, cases, work items, messages) in each database. `gridloop retention`
runs every `--retention-every` minutes (with GRIDLOOP_RETENTION_* as set). At the end it compares the first and
last quarter of the run: latency, memory per service and table sizes should be flat (inbox bounded by retention
only after its horizon; within an hour the inbox grows by design). Results: bench/results/soak-<time>.jsonl
(a line per window) and a summary on stdout. Not in CI: it takes the hour it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.http_load import Load
from bench.run import RESULTS, DepartmentArrivals, ensure_stack, report_bodies
from bench.stats import percentiles
from gridloop.ops.migrate import settings_for
from gridloop.ops.retention import RetentionPolicy, run_all
from gridloop.stack import PORTS
from gridloop.stack.procs import pid_of
from gridloop.stack.services import service

TABLES = {
    "intake": ("cases", "inbox", "outbox"),
    "router": ("decisions", "inbox", "outbox"),
    "departments": ("work_items", "inbox", "outbox"),
    "notify": ("messages", "inbox", "outbox"),
}


def rss_mb(name: str) -> float | None:
    pid = pid_of(service(name))
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


async def table_sizes() -> dict[str, dict[str, int]]:
    sizes: dict[str, dict[str, int]] = {}
    for name, tables in TABLES.items():
        url = settings_for(name).database_url.replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(url)
        try:
            sizes[name] = {t: await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", t) for t in tables}
        finally:
            await conn.close()
    return sizes


async def window(bodies, rate: float, collector: DepartmentArrivals) -> dict[str, Any]:
    load = Load("127.0.0.1", PORTS["intake"], "/v1/reports", bodies, connections=64)
    started = time.perf_counter()
    results = await load.open_loop(rate, 60)
    elapsed = time.perf_counter() - started
    accepted = [r for r in results if r.status == 202]
    cases = [json.loads(r.body)["case_id"] for r in accepted]
    await asyncio.sleep(2)  # the last second's reports reach the departments
    return {
        "at": datetime.now(UTC).isoformat(),
        "accepted_per_second": len(accepted) / elapsed,
        "accepted_share": len(accepted) / max(len(results), 1),
        "intake": percentiles([r.latency for r in accepted]),
        "report_to_department": percentiles([collector.arrived[c] for c in cases if c in collector.arrived]),
        "rss_mb": {name: rss_mb(name) for name in PORTS},
        "table_bytes": await table_sizes(),
    }


def summary(windows: list[dict[str, Any]]) -> list[str]:
    """First quarter against last quarter of the run, per measure."""
    quarter = max(len(windows) // 4, 1)
    measures: list[tuple[str, list[float | None]]] = [
        ("report -> department p99 (s)", [w["report_to_department"].get("p99") for w in windows])
    ]
    measures += [(f"{name} RSS (MB)", [w["rss_mb"][name] for w in windows]) for name in PORTS]
    measures += [
        (f"{name}.{table} (MB)", [w["table_bytes"][name][table] / 1e6 for w in windows])
        for name, tables in TABLES.items()
        for table in tables
    ]
    lines = [f"{'':<34} {'first quarter':>14} {'last quarter':>14}"]
    for label, values in measures:
        lines.append(f"{label:<34} {_mean(values[:quarter]):>14.3f} {_mean(values[-quarter:]):>14.3f}")
    return lines


def _mean(values: list[float | None]) -> float:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else float("nan")


async def soak(args: argparse.Namespace) -> int:
    ensure_stack()
    print(f"soak: generating {int(args.rate * 60 * args.minutes):,} reports ...", flush=True)
    bodies = iter(report_bodies(int(args.rate * 60 * args.minutes * 1.02)))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"soak-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.jsonl"
    urls = {name: settings_for(name).database_url for name in PORTS}
    collector = DepartmentArrivals()
    await collector.start()
    windows: list[dict[str, Any]] = []
    try:
        for minute in range(args.minutes):
            if args.retention_every and minute % args.retention_every == args.retention_every - 1:
                retention = await run_all(urls, RetentionPolicy())
                print("soak: retention " + ", ".join(f"{r.service}.{r.job} {r.rows}" for r in retention), flush=True)
            windows.append(await window(bodies, args.rate, collector))
            with out.open("a") as handle:
                handle.write(json.dumps(windows[-1]) + "\n")
            w = windows[-1]
            print(
                f"soak: minute {minute + 1}/{args.minutes}: {w['accepted_per_second']:.1f}/s accepted, "
                f"report->department p99 {w['report_to_department'].get('p99', float('nan')):.3f}s, "
                f"RSS {', '.join(f'{k} {v:.0f}' for k, v in w['rss_mb'].items() if v)} MB",
                flush=True,
            )
    finally:
        await collector.stop()
    print("\n".join(["", *summary(windows), f"\nsoak: every window in {out}"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="reports per second (default 50)")
    parser.add_argument("--minutes", type=int, default=60, help="how long (default 60)")
    parser.add_argument("--retention-every", type=int, default=10, help="run retention every N minutes (0: never)")
    return asyncio.run(soak(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
