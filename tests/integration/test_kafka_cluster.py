"""Three KRaft brokers (`gridloop stack up --brokers 3`), replication factor 3 and min.insync.replicas 2: the
leader of a partition is SIGKILLed while an idempotent producer writes with acks=all; nothing is lost, nothing
is written twice."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from gridloop.delivery.kafka import KafkaSettings, make_producer
from gridloop.delivery.topic_reader import read_to_end
from gridloop.stack import ensure_topics
from gridloop.stack.kafka import kafka_version, resolve_jars
from gridloop.stack.procs import port_open
from tests.support.polling import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.chaos]

BROKERS, RECORDS, TOPIC = 3, 3000, "cluster.kill"


def stack_call(env: dict[str, str], code: str) -> None:
    """gridloop.stack.kafka_cluster in a process of its own: the ports and home are read at import."""
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_base_port() -> int:
    """A broker port p with p, p+1, p+100, p+101, p+200, p+201 all free (the cluster's port layout). Below Linux's
    ephemeral range (32768-60999): a port there can be taken at any moment by an outgoing connection's local end,
    which a listening check does not see (a broker once failed with "Address already in use" on 32960). Each port
    is checked by binding it, not by connecting to it."""
    low, high = 21_000, int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]) - 202
    rng = random.Random(os.getpid())
    for _ in range(100):
        base = rng.randrange(low, min(high, 32_000), 2)
        if all(bindable(base + step + c) and not port_open(base + step + c) for step in (0, 100, 200) for c in (0, 1)):
            return base
    raise AssertionError("no free ports for three brokers")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[tuple[str, dict[str, str]]]:
    home = tmp_path_factory.mktemp("kafka-cluster")
    libs = home / "kafka" / kafka_version() / "libs"
    libs.parent.mkdir(parents=True)
    libs.symlink_to(resolve_jars())
    base = free_base_port()
    env = {
        **os.environ,
        "GRIDLOOP_HOME": str(home),
        "GRIDLOOP_KAFKA_PORT": str(base),
        "GRIDLOOP_KAFKA_CONTROLLER_PORT": str(base + 1),
        "KAFKA_HEAP_OPTS": "-Xms128m -Xmx384m",  # three JVMs on a small machine
    }
    stack_call(env, f"from gridloop.stack.kafka_cluster import start_cluster; start_cluster({BROKERS})")
    try:
        yield ",".join(f"127.0.0.1:{base + 100 * i}" for i in range(BROKERS)), env
    finally:
        stack_call(env, f"from gridloop.stack.kafka_cluster import stop_cluster; stop_cluster({BROKERS})")


async def leader_of_partition_0(bootstrap: str) -> int | None:
    """Partition 0's leader once it has all its replicas in sync (None before: a new topic's metadata spreads)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([TOPIC])
        partition = next((p for p in described[0]["partitions"] if p["partition"] == 0), None)
        if partition is None or len(partition["isr"]) < BROKERS:
            return None
        assert len(partition["replicas"]) == BROKERS
        return int(partition["leader"])
    finally:
        await admin.close()


async def test_a_sigkilled_leader_loses_and_doubles_nothing_written_with_acks_all(cluster) -> None:
    bootstrap, env = cluster
    await ensure_topics(bootstrap, {TOPIC: 3}, replicas=BROKERS)
    leader = await wait_for(lambda: leader_of_partition_0(bootstrap), timeout=60, what="partition 0 fully in sync")
    producer = make_producer(KafkaSettings(bootstrap_servers=bootstrap, request_timeout_ms=30_000), "cluster-test")
    await producer.start()
    acknowledged: set[int] = set()
    resent = 0
    try:
        for start in range(0, RECORDS, 100):
            if start == RECORDS // 3:  # a third written: the leader of partition 0 crashes, no controlled shutdown
                kill = f"from gridloop.stack.kafka_cluster import kill_node; assert kill_node({BROKERS}, {leader})"
                await asyncio.to_thread(stack_call, env, kill)
            if start == 2 * RECORDS // 3:  # and comes back on its data
                restart = f"from gridloop.stack.kafka_cluster import start_cluster; start_cluster({BROKERS})"
                await asyncio.to_thread(stack_call, env, restart)
            batch = range(start, start + 100)
            while pending := [n for n in batch if n not in acknowledged]:
                sends = [producer.send_and_wait(TOPIC, str(n).encode(), key=f"k{n}".encode()) for n in pending]
                for n, outcome in zip(pending, await asyncio.gather(*sends, return_exceptions=True), strict=True):
                    if isinstance(outcome, BaseException):
                        resent += 1  # not acknowledged: sent again, as the outbox relay would
                    else:
                        acknowledged.add(n)
    finally:
        await producer.stop()

    records = await read_to_end(bootstrap, [TOPIC])
    values = [int(r.value) for r in records]
    assert acknowledged == set(range(RECORDS))
    assert set(values) == acknowledged, f"lost: {sorted(acknowledged - set(values))[:20]}"
    assert len(values) == len(set(values)), f"duplicated: {len(values) - len(set(values))} (resent {resent})"
    print(f"{RECORDS} acknowledged, {len(values)} on the topic, {resent} sends retried by the test")
