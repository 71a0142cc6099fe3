"""`gridloop chaos`: push N reports through the pipeline while crashing it, then check nothing was lost or doubled.

Runs against the stack's Kafka and PostgreSQL (set GRIDLOOP_HOME, GRIDLOOP_KAFKA_PORT, GRIDLOOP_PG_CLUSTER and
GRIDLOOP_PG_PORT to give it its own: it restarts both), in a namespace of its own (topic prefix and databases),
with the four services as processes on free ports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from dataclasses import dataclass, field

from gridloop.chaos.check import Snapshot, Verdict, snapshot, verify
from gridloop.chaos.department import DeskStats, work_cases
from gridloop.chaos.monkey import FaultLog, inflict, plan_faults
from gridloop.chaos.namespace import ChaosNamespace, create_namespace, drop_namespace
from gridloop.chaos.services import ChaosServices, classifier_model
from gridloop.chaos.workers import Ledger, post_reports
from gridloop.demo.reports import generate_day
from gridloop.stack import ADMIN_DSN, ensure_infra, paths
from gridloop.stack.infra import ensure_cluster_infra


@dataclass(frozen=True)
class ChaosConfig:
    reports: int = 1000
    workers: int = 32
    rate: float = 25.0  # reports per second
    kills_per_service: int = 2
    kafka_restart: bool = True
    postgres_restart: bool = True
    pg_mode: str = "fast"
    partitions: int = 3
    drain_timeout: float = 600.0
    seed: int | None = None
    keep: bool = False
    brokers: int = 1  # 3: a KRaft cluster (RF 3, min ISR 2) and the Kafka fault is a broker SIGKILL


@dataclass
class ChaosResult:
    verdict: Verdict
    faults: FaultLog
    ledger: Ledger
    seconds: float
    namespace: str
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.verdict.ok and not self.ledger.unconfirmed


async def run_chaos(config: ChaosConfig, out=print) -> ChaosResult:
    started = time.monotonic()
    seed = config.seed if config.seed is not None else random.randrange(2**31)
    rng = random.Random(seed)
    if config.brokers > 1:
        bootstrap = await asyncio.to_thread(ensure_cluster_infra, config.brokers)
        pg_admin_dsn = ADMIN_DSN
    else:
        infra = await asyncio.to_thread(ensure_infra, create_topics=False)
        bootstrap, pg_admin_dsn = infra.kafka_bootstrap, infra.pg_admin_dsn
    model = await asyncio.to_thread(classifier_model)
    ns = await create_namespace(bootstrap, pg_admin_dsn, partitions=config.partitions, replicas=config.brokers)
    run_dir = paths.home() / "chaos" / ns.name
    run_dir.mkdir(parents=True, exist_ok=True)
    services = ChaosServices(ns, messages_log=run_dir / "messages.jsonl", model=model)
    out(f"chaos run {ns.name}: {config.reports} reports, seed {seed}, files in {run_dir}")
    timings: dict[str, float] = {}
    try:
        t = time.monotonic()
        await services.start_all()
        timings["start"] = time.monotonic() - t
        out(f"services up in {timings['start']:.0f}s: " + ", ".join(f"{n} :{p}" for n, p in services.ports.items()))
        result = await _exercise(config, ns, services, rng, seed, out, timings)
    finally:
        await services.stop_all()
        if not config.keep:
            with contextlib.suppress(Exception):
                await drop_namespace(ns)
    result.seconds = time.monotonic() - started
    return result


async def _exercise(
    config: ChaosConfig,
    ns: ChaosNamespace,
    services: ChaosServices,
    rng: random.Random,
    seed: int,
    out,
    timings: dict[str, float],
) -> ChaosResult:
    drafts = generate_day(config.reports, seed=seed)
    window = config.reports / config.rate
    faults = plan_faults(
        window,
        kills_per_service=config.kills_per_service,
        kafka=config.kafka_restart,
        postgres=config.postgres_restart,
        rng=rng,
        brokers=config.brokers,
    )
    ledger, desk, log, stop_desk = Ledger(), DeskStats(), FaultLog(), asyncio.Event()
    began = time.monotonic()
    desk_task = asyncio.create_task(work_cases(services.url("departments"), desk, stop_desk))
    progress = asyncio.create_task(_progress(ns, ledger, log, len(faults), config.reports, began, out))
    try:
        await asyncio.gather(
            post_reports(drafts, services.url("intake"), ledger, concurrency=config.workers, rate=config.rate),
            inflict(faults, services, log, began, pg_mode=config.pg_mode, brokers=config.brokers),
        )
        timings["load"] = time.monotonic() - began
        out(f"all reports posted and all {len(faults)} faults done after {timings['load']:.0f}s; draining ...")
        t = time.monotonic()
        drained = await _drain(ns, desk, config.drain_timeout)
        timings["drain"] = time.monotonic() - t
        if not drained:
            out(f"the pipeline did not drain within {config.drain_timeout:.0f}s; checking what is there")
    finally:
        stop_desk.set()
        progress.cancel()
        await asyncio.gather(desk_task, progress, return_exceptions=True)
    verdict = await verify(ns, ledger.accepted, services.messages_log)
    return ChaosResult(verdict, log, ledger, 0.0, ns.name, timings)


async def _drain(ns: ChaosNamespace, desk: DeskStats, within: float) -> bool:
    """Wait until every stored case is decided, worked and told, and the counts have settled."""
    deadline = time.monotonic() + within
    previous: Snapshot | None = None
    while time.monotonic() < deadline:
        try:
            now = await snapshot(ns)
        except Exception:
            now = None
        if now is not None and now.drained() and desk.idle and now == previous:
            return True
        previous = now
        await asyncio.sleep(3)
    return False


async def _progress(
    ns: ChaosNamespace, ledger: Ledger, log: FaultLog, faults: int, total: int, began: float, out
) -> None:
    while True:
        await asyncio.sleep(5)
        try:
            s = await snapshot(ns)
            db = (
                f"stored {s.cases} routed {s.decided} items {s.work_items} resolved {s.resolved} "
                f"notified {s.messages} backlog {s.unpublished}"
            )
        except Exception as exc:
            db = f"(databases unreachable: {type(exc).__name__})"
        doing = f" | now: {', '.join(sorted(log.current))}" if log.current else ""
        out(
            f"[{time.monotonic() - began:5.0f}s] accepted {len(ledger.accepted)}/{total} retries {ledger.retries} | "
            f"{db} | faults {len(log.done)}/{faults}{doing}"
        )


def report(result: ChaosResult, out=print) -> None:
    out("\nfaults:")
    for fault, at, recovery in sorted(result.faults.done, key=lambda done: done[1]):
        out(f"  {at:6.1f}s  {fault.describe():<22} recovered in {recovery:5.1f}s")
    out("\ncounts:")
    counts = {**result.verdict.counts, "unconfirmed reports": len(result.ledger.unconfirmed)}
    counts |= {"rejected reports": len(result.ledger.rejected), "worker retries": result.ledger.retries}
    for name, value in counts.items():
        out(f"  {name:<22} {value}")
    out("  " + ", ".join(f"{k} {v:.0f}s" for k, v in result.timings.items()) + f", total {result.seconds:.0f}s")
    for title, problems in (
        ("lost", result.verdict.lost),
        ("duplicated", result.verdict.duplicated),
        ("other", result.verdict.other),
    ):
        for problem in problems[:20]:
            out(f"  {title}: {problem}")
    out(f"\nchaos {result.namespace}: {'PASSED' if result.ok else 'FAILED'}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gridloop chaos", description=__doc__)
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=32, help="concurrent simulated grid workers")
    parser.add_argument("--rate", type=float, default=25.0, help="reports per second (sets the run's length)")
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs per service")
    parser.add_argument("--no-kafka-restart", action="store_true")
    parser.add_argument("--no-postgres-restart", action="store_true")
    parser.add_argument("--pg-mode", choices=("smart", "fast", "immediate"), default="immediate")
    parser.add_argument("--drain-timeout", type=float, default=900.0)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--keep", action="store_true", help="keep the namespace's topics and databases")
    parser.add_argument(
        "--brokers", type=int, choices=(1, 3), default=1, help="3: a cluster; SIGKILL one broker (acks=all)"
    )
    args = parser.parse_args(argv)
    config = ChaosConfig(
        reports=args.reports,
        workers=args.workers,
        rate=args.rate,
        kills_per_service=args.kills,
        kafka_restart=not args.no_kafka_restart,
        postgres_restart=not args.no_postgres_restart,
        pg_mode=args.pg_mode,
        drain_timeout=args.drain_timeout,
        seed=args.seed,
        keep=args.keep,
        brokers=args.brokers,
    )
    result = asyncio.run(run_chaos(config, out=lambda line: print(line, flush=True)))
    report(result, out=lambda line: print(line, flush=True))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
