"""`make bench`: GridLoop's speed on this machine, against the machine's own ceilings.

    python -m bench.run [--rates 100,200,400,700,1000] [--step-seconds 15] [--quick]

1. Ceilings: a trivial FastAPI endpoint (same uvicorn settings), Kafka ProducerPerformance (same jars, acks=all),
   PostgreSQL single-row commits (10 connections, like one service's pool).
2. Intake saturated (closed loop, many simulated workers posting a realistic day): accepted reports/s, latency.
3. Open-loop steps at fixed rates: intake latency; report -> department topic (a consumer on the department
   topics: arrival - reported_at); report -> resident's 已受理 message (notify's sent_at - post time).
   A rate is sustained when intake accepts >= 99 % with p99 < 1 s and both end-to-end p99 stay < 1 s / 2 s
   (no queue builds up during the step).
Results: a table on stdout, bench/results/<time>.json and bench/results/latency-vs-load.png.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import random
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families
from tqdm import tqdm

from bench import ceilings, cpu
from bench.http_load import Load, Result
from bench.stats import percentiles
from gridloop.auth.credentials import Credentials
from gridloop.contracts.topics import DEPARTMENT_TOPICS
from gridloop.demo.reports import generate_day
from gridloop.stack import BOOTSTRAP, PORTS

RESULTS = Path(__file__).resolve().parent / "results"
NOTIFY_DB = "postgresql://gridloop:gridloop@127.0.0.1:5432/gridloop_notify"
TARGETS = {"intake_ratio": 0.5, "e2e_p99_ms_at_200": 100.0, "sustained_per_second": 1000.0}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_stack()
    report = asyncio.run(bench(args))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    plot(report, RESULTS / "latency-vs-load.png")
    print(format_report(report))
    print(f"\nresults: {RESULTS / f'{stamp}.json'}, plot: {RESULTS / 'latency-vs-load.png'}")
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="50,100,200,400,700,1000", help="open-loop steps, reports/s")
    parser.add_argument("--step-seconds", type=float, default=15.0)
    parser.add_argument("--saturation-seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=64, help="simulated workers posting at once")
    parser.add_argument("--quick", action="store_true", help="short steps, for trying the tool")
    args = parser.parse_args(argv)
    args.rates = [float(r) for r in args.rates.split(",")]
    if args.quick:
        args.step_seconds, args.saturation_seconds = 5.0, 5.0
    return args


def ensure_stack() -> None:
    if all(_status(f"http://127.0.0.1:{port}/readyz") == 200 for port in PORTS.values()):
        return
    print("bench: the stack is not up; running `gridloop stack up` (per-worker rate limit raised for load)", flush=True)
    env = {
        **os.environ,
        "GRIDLOOP_AUTH_WORKER_REPORTS_PER_MINUTE": "100000",
        "GRIDLOOP_AUTH_WORKER_REPORT_BURST": "100000",
    }
    subprocess.run([str(Path(sys.executable).with_name("gridloop")), "stack", "up"], check=True, env=env)


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except Exception:
        return None


def report_bodies(n: int) -> list[tuple[bytes, bytes]]:
    """A realistic day of reports (fresh ids each run, so none is a repeat of an earlier run), each signed with
    its worker's bearer token as the worker app would send it."""
    drafts = generate_day(n, seed=random.randrange(2**31))
    credentials = Credentials()
    return [
        (
            json.dumps(d.api_body(), ensure_ascii=False).encode(),
            f"Authorization: {credentials.worker(d.worker_id)['Authorization']}\r\n".encode(),
        )
        for d in drafts
    ]


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    needed = int(args.saturation_seconds * 1500 + sum(r * args.step_seconds for r in args.rates) * 1.05)
    print(f"bench: generating {needed:,} realistic reports ...", flush=True)
    all_bodies = report_bodies(needed)
    sample = itertools.cycle(all_bodies[:5000])  # the trivial endpoint stores nothing: repeats do not matter
    bodies = iter(all_bodies)
    report: dict[str, Any] = {"machine": machine(), "args": {k: v for k, v in vars(args).items()}}

    print("bench: ceilings (trivial endpoint, Kafka produce, PostgreSQL commits) ...", flush=True)
    report["ceiling_trivial"] = await ceilings.trivial_endpoint(
        sample, seconds=args.saturation_seconds, connections=args.connections
    )
    report["ceiling_kafka"] = await asyncio.to_thread(ceilings.kafka_producer_perf)
    report["ceiling_postgres"] = await ceilings.postgres_inserts(seconds=min(args.saturation_seconds, 10))

    print("bench: intake saturated ...", flush=True)
    cpu_before = cpu.snapshot()
    report["intake_saturated"] = await saturate_intake(bodies, args)
    await wait_drained(seconds=600)  # the CPU of carrying the accepted reports through all four services counts
    report["cpu_ms_per_report"] = cpu.per_report(cpu_before, cpu.snapshot(), report["intake_saturated"]["accepted"])

    collector = DepartmentArrivals()
    await collector.start()
    try:
        steps = []
        for rate in args.rates:
            steps.append(await step(bodies, rate, args, collector))
            await wait_drained(seconds=300)
            if steps[-1]["accepted_per_second"] < 0.5 * rate:  # far past saturation: higher steps only queue
                print(f"bench: intake accepted under half of {rate:.0f}/s; skipping higher rates", flush=True)
                break
        await asyncio.sleep(2)
    finally:
        await collector.stop()
    await add_notification_latency(steps)
    for s in steps:
        s["sustained"] = is_sustained(s)
    report["steps"] = steps
    report["summary"] = summarise(report)
    return report


async def post_reports(
    bodies, *, connections: int, seconds: float, desc: str, total: int | None = None
) -> tuple[list[Any], float]:
    """Post reports to intake back to back over `connections` connections, for `seconds` or until `bodies` runs
    out, with a progress bar; (the answers, seconds taken)."""
    with tqdm(total=total, desc=desc, unit="report") as bar:
        load = Load(
            "127.0.0.1",
            PORTS["intake"],
            "/v1/reports",
            bodies,
            connections=connections,
            on_result=lambda _r: bar.update(),
        )
        started = time.perf_counter()
        results = await load.closed_loop(seconds)
        return results, time.perf_counter() - started


async def saturate_intake(bodies, args: argparse.Namespace) -> dict[str, Any]:
    results, elapsed = await post_reports(
        bodies, connections=args.connections, seconds=args.saturation_seconds, desc="intake saturated"
    )
    accepted = [r for r in results if r.status == 202]
    return {
        "per_second": len(accepted) / elapsed,
        "answered": len(results),
        "accepted": len(accepted),
        **percentiles([r.latency for r in accepted]),
    }


class DepartmentArrivals:
    """Reads the department topics as a department system would, noting when each case arrives."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}  # case id -> seconds from reported_at to arrival
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            *DEPARTMENT_TOPICS.values(),
            bootstrap_servers=BOOTSTRAP,
            auto_offset_reset="latest",
            enable_auto_commit=False,
        )
        await self._consumer.start()
        await self._consumer.seek_to_end()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            now = time.time()
            for records in batches.values():
                for record in records:
                    event = json.loads(record.value)
                    if event.get("dispatch_no", 1) == 1:
                        reported = datetime.fromisoformat(event["reported_at"]).timestamp()
                        self.arrived[event["case_id"]] = now - reported

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self._consumer.stop()


async def step(bodies, rate: float, args: argparse.Namespace, collector: DepartmentArrivals) -> dict[str, Any]:
    with tqdm(total=int(rate * args.step_seconds), desc=f"{rate:>6.0f} reports/s", unit="report") as bar:
        load = Load(
            "127.0.0.1",
            PORTS["intake"],
            "/v1/reports",
            bodies,
            connections=max(args.connections, 128),
            on_result=lambda _r: bar.update(),
        )
        started = time.perf_counter()
        results = await load.open_loop(rate, args.step_seconds)
        elapsed = time.perf_counter() - started
    accepted = [r for r in results if r.status == 202]
    cases = {json.loads(r.body)["case_id"]: r for r in accepted}
    await _settle(collector, cases, seconds=30)
    to_department = [collector.arrived[c] for c in cases if c in collector.arrived]
    return {
        "offered_per_second": rate,
        "accepted_per_second": len(accepted) / elapsed,
        "accepted_share": len(accepted) / max(len(results), 1),
        "intake": percentiles([r.latency for r in accepted]),
        "report_to_department": percentiles(to_department),
        "cases": {case: r.sent_wall for case, r in cases.items()},
    }


async def _settle(collector: DepartmentArrivals, cases: dict[str, Result], seconds: float) -> None:
    """Wait until department arrivals for this step stop coming (not-admitted cases never arrive)."""
    deadline, last, quiet = time.monotonic() + seconds, -1, 0
    while time.monotonic() < deadline and quiet < 3:
        seen = sum(1 for c in cases if c in collector.arrived)
        quiet = quiet + 1 if seen == last else 0
        last = seen
        await asyncio.sleep(0.5)


async def add_notification_latency(steps: list[dict[str, Any]]) -> None:
    """Report -> the resident's 已受理 message sent, from notify's own records (sent_at - post time)."""
    conn = await asyncpg.connect(NOTIFY_DB)
    try:
        for s in steps:
            cases = s.pop("cases")
            rows = await conn.fetch(
                "SELECT case_id::text, extract(epoch FROM sent_at) AS sent FROM messages "
                "WHERE step = 'received' AND state = 'sent' AND case_id = ANY($1::uuid[])",
                list(cases),
            )
            s["report_to_notification"] = percentiles([float(r["sent"]) - cases[r["case_id"]] for r in rows])
    finally:
        await conn.close()


def is_sustained(s: dict[str, Any]) -> bool:
    def under(part: str, ms: float) -> bool:
        return s[part]["p99_ms"] is not None and s[part]["p99_ms"] < ms

    return (
        s["accepted_share"] >= 0.99
        and s["accepted_per_second"] >= 0.97 * s["offered_per_second"]
        and under("intake", 1000)
        and under("report_to_department", 1000)
        and under("report_to_notification", 2000)
    )


async def wait_drained(seconds: float) -> None:
    """Until no consumer lags and no outbox holds events, on all four services."""
    deadline, calm = time.monotonic() + seconds, 0
    with tqdm(desc="draining", unit="event") as bar:
        while time.monotonic() < deadline:
            pending = sum([await asyncio.to_thread(_pending, port) for port in PORTS.values()])
            bar.set_postfix(pending=pending)
            calm = calm + 1 if pending == 0 else 0
            if calm >= 2:
                return
            await asyncio.sleep(1)


def _pending(port: int) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError:  # too busy to answer a scrape: certainly not drained
        return float("inf")
    total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name in ("gridloop_consumer_lag_messages", "gridloop_outbox_backlog_events"):
            total += sum(sample.value for sample in family.samples)
    return total


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = int(
        next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    )
    import os

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
        "when": datetime.now(UTC).isoformat(),
    }


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    steps = report["steps"]
    sustained = max((s["offered_per_second"] for s in steps if s["sustained"]), default=0.0)
    at_200 = next((s for s in steps if s["offered_per_second"] == 200), None)
    intake = report["intake_saturated"]["per_second"]
    return {
        "intake_per_second": intake,
        "intake_ratio_to_trivial": intake / report["ceiling_trivial"]["per_second"],
        "e2e_p99_ms_at_200": at_200["report_to_department"]["p99_ms"] if at_200 else None,
        "sustained_per_second": sustained,
        "sustained_ratio_to_kafka": sustained / report["ceiling_kafka"]["per_second"],
        "sustained_ratio_to_postgres": sustained / report["ceiling_postgres"]["per_second"],
        "intake_ratio_to_postgres": intake / report["ceiling_postgres"]["per_second"],
    }


def format_report(report: dict[str, Any]) -> str:
    m, s = report["machine"], report["summary"]
    t, k, p, i = (report[x] for x in ("ceiling_trivial", "ceiling_kafka", "ceiling_postgres", "intake_saturated"))

    def ms(d: dict) -> str:
        return "/".join("-" if d[q] is None else f"{d[q]:.0f}" for q in ("p50_ms", "p95_ms", "p99_ms"))

    lines = [
        f"\nGridLoop benchmark on {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB ({m['when'][:19]})",
        "",
        f"{'measure':<44} {'per second':>11}  {'p50/p95/p99 ms':>16}",
        f"{'ceiling: trivial FastAPI endpoint':<44} {t['per_second']:>11,.0f}  {ms(t):>16}",
        f"{'ceiling: Kafka produce (acks=all, 800 B)':<44} {k['per_second']:>11,.0f}  {'':>16}",
        f"{'ceiling: PostgreSQL 1-row commits (10 conn)':<44} {p['per_second']:>11,.0f}  {ms(p):>16}",
        f"{'intake saturated: accepted reports':<44} {i['per_second']:>11,.0f}  {ms(i):>16}",
        "",
        *format_cpu(report.get("cpu_ms_per_report") or {}, m["cores"]),
        f"{'offered/s':>9} {'accepted/s':>10} {'intake ms':>16} {'→department ms':>16} {'→notified ms':>16}  sustained",
    ]
    for st in report["steps"]:
        lines.append(
            f"{st['offered_per_second']:>9.0f} {st['accepted_per_second']:>10.0f} {ms(st['intake']):>16} "
            f"{ms(st['report_to_department']):>16} {ms(st['report_to_notification']):>16}  "
            f"{'yes' if st['sustained'] else 'no'}"
        )
    e2e = s["e2e_p99_ms_at_200"]
    lines += [
        "",
        f"intake / trivial ceiling: {s['intake_ratio_to_trivial']:.0%} (target ≥ 50 %) "
        f"{'MET' if s['intake_ratio_to_trivial'] >= TARGETS['intake_ratio'] else 'MISSED'}",
        f"e2e p99 report → department at 200/s: {e2e if e2e is not None else '-'} ms (target ≤ 100 ms) "
        f"{'MET' if e2e is not None and e2e <= TARGETS['e2e_p99_ms_at_200'] else 'MISSED'}",
        f"sustained through all four services: {s['sustained_per_second']:.0f} reports/s (target ≥ 1,000) "
        f"{'MET' if s['sustained_per_second'] >= TARGETS['sustained_per_second'] else 'MISSED'}; "
        f"{s['sustained_ratio_to_kafka']:.1%} of Kafka's produce ceiling, "
        f"{s['sustained_ratio_to_postgres']:.0%} of PostgreSQL's commit ceiling",
    ]
    return "\n".join(lines)


def format_cpu(spent: dict[str, float], cores: int) -> list[str]:
    """CPU per report by part of the stack, and the rate that CPU alone allows on this machine."""
    if not spent:
        return []
    parts = "  ".join(f"{part} {spent[part]:.1f}" for part in cpu.PARTS)
    return [
        f"CPU ms per report (saturation run, drained): {parts}  = {spent['total']:.1f}",
        f"  → {cores} cores allow at most {cores * 1000 / spent['total']:,.0f} reports/s through the whole pipeline",
        "",
    ]


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = report["steps"]
    rates = [s["offered_per_second"] for s in steps]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharex=True)
    for ax, part, title in zip(
        axes,
        ("intake", "report_to_department", "report_to_notification"),
        ("intake POST /v1/reports", "report → department topic", "report → resident notified"),
        strict=True,
    ):
        for q, style in (("p50_ms", "o-"), ("p95_ms", "s--"), ("p99_ms", "^:")):
            ax.plot(
                rates,
                [s[part][q] if s[part][q] is not None else float("nan") for s in steps],
                style,
                label=q.split("_")[0],
            )
        ax.set_title(title)
        ax.set_xlabel("offered load, reports/s")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("latency, ms (log)")
    axes[1].axhline(100, color="red", lw=0.8, label="target p99 at 200/s")
    axes[0].legend()
    axes[1].legend()
    m = report["machine"]
    fig.suptitle(f"GridLoop latency against load — {m['cores']} cores, {m['cpu']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
