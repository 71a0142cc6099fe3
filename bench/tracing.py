"""`make bench-tracing`: what tracing costs — the services' CPU per report with tracing off, sampled at 100 % and
sampled at 1 %.

    python -m bench.tracing [--reports 400] [--rounds 2] [--modes off,100,1] [--connections 8]

Each run starts the four services as processes on ports of their own (18401-18404) in a namespace of their own
(prefixed topics, fresh databases), with the mode's OTEL_* variables; posts N reports, waits until every outbox and
consumer has drained, and reads the four services' CPU from /proc (also less their idle rate, measured for 5 s
before each run) (their pids only, so other processes on a shared
machine are not counted; Kafka's and PostgreSQL's share is left out for the same reason). Traced runs export over
OTLP/HTTP to a sink in this process that accepts and discards the spans: the exporter's cost is counted, a
collector's is not. Modes alternate (off, 100, 1, off, 100, 1, …) so a change in the machine's load hits each
alike; the spread between rounds of one mode says how far to trust a difference. Results: a table and
`bench/results/tracing-<time>.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg

from bench import cpu
from bench.http_load import Load
from bench.run import _pending, report_bodies
from gridloop.ops.migrate import SERVICES, upgrade
from gridloop.stack import ADMIN_DSN, BOOTSTRAP, delete_topics, ensure_topics, gridloop_topics
from gridloop.stack.procs import pid_of
from gridloop.stack.services import service, start_service, stop_service

RESULTS = Path(__file__).parent / "results"
PORTS = {"intake": 18401, "router": 18402, "departments": 18403, "notify": 18404}
SINK_PORT = 18409
IDLE_SECONDS = 5.0  # measured before each run: the services' CPU per second with nothing to do
MODES: dict[str, dict[str, str]] = {
    "off": {"OTEL_TRACES_EXPORTER": "none"},
    "100": {"OTEL_TRACES_SAMPLER": "parentbased_always_on"},
    "1": {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01"},
}


class Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that answers 200 and keeps only a count of the bytes it was sent."""

    received = 0

    def do_POST(self) -> None:
        Sink.received += len(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def mode_env(mode: str, prefix: str, urls: dict[str, str]) -> dict[str, str]:
    env = {
        "KAFKA_TOPIC_PREFIX": prefix,
        "GRIDLOOP_INTAKE_ROUTER_URL": f"http://127.0.0.1:{PORTS['router']}",
        "GRIDLOOP_AUTH_WORKER_REPORTS_PER_MINUTE": "100000",
        "GRIDLOOP_AUTH_WORKER_REPORT_BURST": "100000",
        **{f"GRIDLOOP_{name.upper()}_DATABASE_URL": url for name, url in urls.items()},
    }
    if mode != "off":
        env |= {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{SINK_PORT}",
        }
    return env | MODES[mode]


def services_cpu() -> float:
    """CPU seconds so far of the four services this benchmark started."""
    total = 0.0
    for name, port in PORTS.items():
        pid = pid_of(service(name, port))
        if pid is not None:
            total += cpu._cpu_seconds(str(pid))
    return total


async def drained(seconds: float) -> None:
    deadline, calm = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        pending = sum([await asyncio.to_thread(_pending, port) for port in PORTS.values()])
        calm = calm + 1 if pending == 0 else 0
        if calm >= 2:
            return
        await asyncio.sleep(1)
    raise RuntimeError(f"not drained after {seconds}s")


async def one_run(mode: str, reports: int, connections: int) -> dict[str, Any]:
    name = f"bt{uuid.uuid4().hex[:6]}"
    prefix = f"{name}."
    urls = {s: f"postgresql+asyncpg://gridloop:gridloop@127.0.0.1:5432/gl_{name}_{s}" for s in SERVICES}
    await ensure_topics(BOOTSTRAP, gridloop_topics(prefix=prefix, partitions=3))
    for s, url in urls.items():
        await asyncio.to_thread(upgrade, s, url)
    env = mode_env(mode, prefix, urls)
    try:
        for s in SERVICES:  # the router first answers the admission list intake asks for; order as the stack's
            await asyncio.to_thread(start_service, s, env, PORTS[s])
        bodies = report_bodies(reports)
        await asyncio.sleep(3)  # let start-up work (first scrapes, list checks) pass before the measured window
        idle_from, idle_started = services_cpu(), time.perf_counter()
        await asyncio.sleep(IDLE_SECONDS)
        idle_rate = (services_cpu() - idle_from) / (time.perf_counter() - idle_started)
        sent_before, before, started = Sink.received, services_cpu(), time.perf_counter()
        load = Load("127.0.0.1", PORTS["intake"], "/v1/reports", iter(bodies), connections=connections)
        results = await load.closed_loop(3600)
        await drained(300)
        elapsed, spent = time.perf_counter() - started, services_cpu() - before
    finally:
        for s in reversed(SERVICES):
            await asyncio.to_thread(stop_service, s, port=PORTS[s])
        await delete_topics(BOOTSTRAP, prefix=prefix)
        conn = await asyncpg.connect(ADMIN_DSN)
        try:
            for url in urls.values():
                await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        finally:
            await conn.close()
    accepted = sum(1 for r in results if r.status == 202)
    return {
        "mode": mode,
        "accepted": accepted,
        "seconds": round(elapsed, 2),
        "cpu_ms_per_report": round(spent * 1000 / accepted, 3) if accepted else None,
        # Less what the services spend idle (relay polls, periodic tasks) over as long: the reports' own cost.
        "work_cpu_ms_per_report": round((spent - idle_rate * elapsed) * 1000 / accepted, 3) if accepted else None,
        "otlp_kib_per_report": round((Sink.received - sent_before) / 1024 / accepted, 3) if accepted else None,
    }


async def bench(args: argparse.Namespace) -> list[dict[str, Any]]:
    runs = []
    for round_ in range(args.rounds):
        for mode in args.modes:
            run = await one_run(mode, args.reports, args.connections)
            print(f"round {round_ + 1} mode {mode:>3}: {json.dumps(run)}", flush=True)
            runs.append(run)
    return runs


def summary(runs: list[dict[str, Any]], modes: list[str]) -> list[str]:
    """Medians per mode of CPU per report (all of it, and less the idle rate), each run's, and the OTLP volume."""
    head = f"{'mode':<6}{'runs':>5}{'CPU ms/report':>15}{'less idle':>11}{'vs off':>9}{'OTLP KiB':>10}"
    head += "  each run (less idle)"
    lines, base = [head], None
    for mode in modes:
        mine = [r for r in runs if r["mode"] == mode and r["cpu_ms_per_report"] is not None]
        if not mine:
            continue
        total = statistics.median(r["cpu_ms_per_report"] for r in mine)
        work = statistics.median(r["work_cpu_ms_per_report"] for r in mine)
        base = work if mode == "off" else base
        versus = f"{(work / base - 1) * 100:+.0f} %" if base and mode != "off" else ""
        kib = statistics.median(r["otlp_kib_per_report"] for r in mine)
        each = ", ".join(f"{r['work_cpu_ms_per_report']:.2f}" for r in mine)
        lines.append(f"{mode:<6}{len(mine):>5}{total:>15.2f}{work:>11.2f}{versus:>9}{kib:>10.2f}  {each}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench-tracing", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=400, help="reports posted in each run")
    parser.add_argument("--rounds", type=int, default=2, help="how often each mode runs (alternating)")
    parser.add_argument("--modes", default="off,100,1", help="off, 100 (sampled 100 %%), 1 (sampled 1 %%)")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args(argv)
    args.modes = args.modes.split(",")
    if unknown := set(args.modes) - set(MODES):
        parser.error(f"unknown modes {sorted(unknown)}; choose from {sorted(MODES)}")
    server = ThreadingHTTPServer(("127.0.0.1", SINK_PORT), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        runs = asyncio.run(bench(args))
    finally:
        server.shutdown()
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"tracing-{stamp}.json"
    path.write_text(json.dumps({"args": vars(args), "runs": runs}, indent=2) + "\n")
    print("\n".join(summary(runs, args.modes)))
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
