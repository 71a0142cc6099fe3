"""Three (or N) KRaft brokers from the same jars: `gridloop stack up --brokers 3`, and the chaos test's broker kills.

Node i (1..N) is broker and controller, on the ports of the single broker plus 100 × (i − 1) (19092/19093,
19192/19193, 19292/19293), with its data under .gridloop/kafka/cluster-N/node-i. Internal topics get replication
factor N and min.insync.replicas N − 1, like the production settings (docs/delivery.md): with acks=all an
acknowledged write is on two brokers, and one broker may die (SIGKILL) without losing it."""

from __future__ import annotations

import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from string import Template

from aiokafka.admin import AIOKafkaAdminClient

from gridloop.stack import paths
from gridloop.stack.kafka import CLUSTER_ID, CONTROLLER_PORT, KAFKA, START_TIMEOUT, broker_answers, java_command
from gridloop.stack.procs import Managed, StackError, locked, pid_of, run_coroutine, spawn, step, stop, wait_until

PORT_STEP = 100


@dataclass(frozen=True)
class Node:
    node_id: int
    brokers: int

    @property
    def proc(self) -> Managed:
        return Managed(name=f"kafka-node{self.node_id}", port=self.port, marker="kafka.Kafka")

    @property
    def port(self) -> int:
        return KAFKA.port + PORT_STEP * (self.node_id - 1)

    @property
    def controller_port(self) -> int:
        return CONTROLLER_PORT + PORT_STEP * (self.node_id - 1)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def home(self) -> Path:
        return paths.home() / "kafka" / f"cluster-{self.brokers}" / f"node-{self.node_id}"


def nodes(brokers: int) -> list[Node]:
    return [Node(i, brokers) for i in range(1, brokers + 1)]


def cluster_bootstrap(brokers: int) -> str:
    return ",".join(node.bootstrap for node in nodes(brokers))


def node_properties(node: Node) -> str:
    """deploy/kafka/server.properties for one node of the cluster."""
    template = Template((paths.deploy_dir() / "kafka" / "server.properties").read_text())
    text = template.substitute(data_dir=node.home / "data", port=node.port, controller_port=node.controller_port)
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes(node.brokers))
    replicas, min_isr = node.brokers, max(node.brokers - 1, 1)
    overrides = {
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "offsets.topic.replication.factor": str(replicas),
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": str(min_isr),
        "share.coordinator.state.topic.replication.factor": str(replicas),
        "share.coordinator.state.topic.min.isr": str(min_isr),
        "default.replication.factor": str(replicas),
        "min.insync.replicas": str(min_isr),
        "unclean.leader.election.enable": "false",
    }
    for key, value in overrides.items():
        text, found = re.subn(rf"^{re.escape(key)}=.*$", f"{key}={value}", text, flags=re.MULTILINE)
        if not found:
            text += f"\n{key}={value}\n"
    return text


def start_cluster(brokers: int = 3) -> str:
    """Start every node that is not running (all at once: the controllers need a quorum); the bootstrap list."""
    with locked(f"kafka-cluster-{brokers}"):
        down = [node for node in nodes(brokers) if pid_of(node.proc) is None]
        for node in down:
            _format(node)
        with step(f"starting {len(down)} of {brokers} Kafka brokers ({cluster_bootstrap(brokers)})"):
            for node in down:
                spawn(node.proc, java_command("kafka.Kafka", str(node.home / "server.properties")))
            for node in down:
                wait_until(
                    lambda node=node: pid_of(node.proc) is not None and broker_answers(node.bootstrap),
                    timeout=START_TIMEOUT,
                    what=f"Kafka node {node.node_id} on {node.bootstrap}",
                    log_file=node.proc.log_file,
                )
            wait_until(
                lambda: _registered(brokers) == brokers,
                timeout=START_TIMEOUT,
                what=f"all {brokers} brokers to register",
            )
    return cluster_bootstrap(brokers)


def kill_node(brokers: int, node_id: int, sig: int = signal.SIGKILL) -> bool:
    """Stop one node (SIGKILL: a crash, no controlled shutdown). False if it was not running."""
    return stop(Node(node_id, brokers).proc, sig=sig, timeout=30)


def stop_cluster(brokers: int = 3) -> int:
    """Stop every node (SIGTERM, a controlled shutdown); how many were running."""
    return sum(stop(node.proc, timeout=60) for node in nodes(brokers))


def _format(node: Node) -> None:
    node.home.mkdir(parents=True, exist_ok=True)
    config = node.home / "server.properties"
    config.write_text(node_properties(node))
    if (node.home / "data" / "meta.properties").is_file():
        return
    argv = java_command("kafka.tools.StorageTool", "format", "--cluster-id", CLUSTER_ID, "--config", str(config))
    result = subprocess.run([*argv, "--ignore-formatted"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"formatting Kafka node {node.node_id} failed:\n{result.stdout}{result.stderr}")


def _registered(brokers: int) -> int:
    """How many brokers the cluster's metadata lists."""

    async def count() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=cluster_bootstrap(brokers), request_timeout_ms=5000)
        try:
            await admin.start()
            return len((await admin.describe_cluster())["brokers"])
        except Exception:
            return 0
        finally:
            await admin.close()

    return run_coroutine(count())
