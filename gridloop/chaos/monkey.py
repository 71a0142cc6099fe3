"""The faults: SIGKILL each service at random moments and restart it; restart the broker and PostgreSQL once; on a
three-broker cluster, SIGKILL one broker instead of restarting the broker."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from dataclasses import dataclass, field

from gridloop.chaos.services import SERVICES, ChaosServices
from gridloop.stack import restart_kafka, restart_postgres
from gridloop.stack.kafka_cluster import kill_node, start_cluster


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the start of the run
    kind: str  # kill | kafka | postgres | broker
    target: str

    def describe(self) -> str:
        return {
            "kill": f"SIGKILL {self.target}",
            "kafka": "restart Kafka",
            "postgres": "restart PostgreSQL",
            "broker": f"SIGKILL broker {self.target}",
        }[self.kind]


@dataclass
class FaultLog:
    done: list[tuple[Fault, float, float]] = field(default_factory=list)  # fault, at, seconds until recovered
    current: set[str] = field(default_factory=set)  # faults in progress


def plan_faults(
    window: float, *, kills_per_service: int, kafka: bool, postgres: bool, rng: random.Random, brokers: int = 1
) -> list[Fault]:
    """Random moments inside the posting window; the broker and database restarts in its middle. With a cluster
    (brokers > 1) the Kafka fault is a SIGKILL of one broker, chosen at random, started again after a while."""
    faults = [
        Fault(rng.uniform(0.05, 0.85) * window, "kill", name) for name in SERVICES for _ in range(kills_per_service)
    ]
    if kafka and brokers > 1:
        faults.append(Fault(rng.uniform(0.3, 0.45) * window, "broker", str(rng.randint(1, brokers))))
    elif kafka:
        faults.append(Fault(rng.uniform(0.3, 0.45) * window, "kafka", "kafka"))
    if postgres:
        faults.append(Fault(rng.uniform(0.55, 0.7) * window, "postgres", "postgresql"))
    return sorted(faults, key=lambda f: f.at)


async def inflict(
    faults: list[Fault],
    services: ChaosServices,
    log: FaultLog,
    started: float,
    *,
    pg_mode: str = "fast",
    brokers: int = 1,
) -> None:
    """Carry out the faults at their moments; faults on different targets overlap, one target's wait in line."""
    by_target: dict[str, list[Fault]] = {}
    for fault in faults:
        by_target.setdefault(fault.target, []).append(fault)
    await asyncio.gather(*(_inflict_in_turn(f, services, log, started, pg_mode, brokers) for f in by_target.values()))


async def _inflict_in_turn(
    faults: list[Fault], services: ChaosServices, log: FaultLog, started: float, pg_mode: str, brokers: int
) -> None:
    for fault in faults:
        delay = started + fault.at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        log.current.add(fault.describe())
        began = time.monotonic()
        if fault.kind == "kill":
            await services.kill(fault.target)
            await asyncio.sleep(random.uniform(0, 1.5))  # down for a moment, as a crash-looping pod would be
            await services.start(fault.target)
        elif fault.kind == "kafka":
            await asyncio.to_thread(restart_kafka, signal.SIGTERM)
        elif fault.kind == "broker":  # a crash: no controlled shutdown, the partitions it led move
            await asyncio.to_thread(kill_node, brokers, int(fault.target), signal.SIGKILL)
            await asyncio.sleep(10)  # the other two carry on (min.insync.replicas=2) while it is gone
            await asyncio.to_thread(start_cluster, brokers)
        else:
            await asyncio.to_thread(restart_postgres, pg_mode)
        log.done.append((fault, began - started, time.monotonic() - began))
        log.current.discard(fault.describe())
