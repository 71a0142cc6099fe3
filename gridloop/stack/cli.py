"""`gridloop stack up | down | status`: the local stack from the command line."""

from __future__ import annotations

import argparse
import signal
import time
from collections.abc import Callable

from gridloop.stack import paths
from gridloop.stack.alertmanager import ALERTMANAGER, start_alertmanager, stop_alertmanager
from gridloop.stack.infra import ensure_cluster_infra, ensure_infra
from gridloop.stack.kafka import KAFKA, kafka_version, stop_kafka
from gridloop.stack.kafka_cluster import kill_node, nodes
from gridloop.stack.postgres import ADMIN_DSN, PORT, postgres_pid, postgres_up, stop_postgres
from gridloop.stack.procs import Managed, StackError, is_up, pid_of, port_open, step
from gridloop.stack.prometheus import PROMETHEUS, start_prometheus, stop_prometheus
from gridloop.stack.services import PORTS, run_migrations, service, service_ready, start_service, stop_service


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gridloop stack", description="Run the local GridLoop stack.")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start whatever is not running (idempotent)")
    up.add_argument("--infra-only", action="store_true", help="only Kafka, PostgreSQL and topics")
    up.add_argument("--no-prometheus", action="store_true", help="do not start Prometheus and Alertmanager")
    up.add_argument(
        "--brokers", type=int, default=1, choices=(1, 3), help="3: a KRaft cluster, topics with RF 3, min ISR 2"
    )
    down = commands.add_parser("down", help="stop services, Prometheus and Kafka")
    down.add_argument("--all", action="store_true", help="stop the PostgreSQL cluster too")
    commands.add_parser("status", help="show what runs where")
    args = parser.parse_args(argv)

    started = time.monotonic()
    try:
        if args.command == "up":
            stack_up(infra_only=args.infra_only, prometheus=not args.no_prometheus, brokers=args.brokers)
        elif args.command == "down":
            stack_down(postgres=args.all)
        print_status()
    except StackError as error:
        print(f"\ngridloop stack {args.command} failed: {error}")
        return 1
    if args.command != "status":
        print(f"\ngridloop stack {args.command}: done in {time.monotonic() - started:.1f}s")
    return 0


def stack_up(*, infra_only: bool = False, prometheus: bool = True, brokers: int = 1) -> None:
    print(f"GridLoop local stack, files under {paths.home()}")
    env: dict[str, str] = {}
    if brokers == 1:
        ensure_infra()
    else:
        env["KAFKA_BOOTSTRAP_SERVERS"] = ensure_cluster_infra(brokers)
    if infra_only:
        return
    if prometheus:
        start_alertmanager()
        start_prometheus()
    with step("running database migrations (gridloop migrate)"):
        run_migrations()
    for name in PORTS:
        with step(f"starting {name} on 127.0.0.1:{PORTS[name]}"):
            start_service(name, env)


def stack_down(*, postgres: bool = False) -> None:
    for name in reversed(PORTS):
        _stop(name, lambda name=name: stop_service(name, signal.SIGTERM))
    _stop("prometheus", stop_prometheus)
    _stop("alertmanager", stop_alertmanager)
    _stop("kafka", stop_kafka)
    for node in nodes(3):
        _stop(node.proc.name, lambda node=node: kill_node(3, node.node_id, signal.SIGTERM))
    if postgres:
        with step("stopping PostgreSQL"):
            stop_postgres()


def print_status() -> None:
    rows = [("postgresql", postgres_pid(), f"127.0.0.1:{PORT}", _state(postgres_up(), PORT), ADMIN_DSN)]
    rows.append(_row(KAFKA, f"Kafka {kafka_version()}, bootstrap {KAFKA.address}"))
    rows.append(_row(PROMETHEUS, f"http://{PROMETHEUS.address}"))
    rows.append(_row(ALERTMANAGER, f"http://{ALERTMANAGER.address} (webhook: gridloop alerts listen)"))
    rows += [_row(node.proc, f"Kafka node {node.node_id} of 3") for node in nodes(3) if pid_of(node.proc)]
    rows += [_service_row(name) for name in PORTS]
    print(f"\n{'component':<12} {'pid':>8}  {'address':<16} {'state':<7}  details")
    for component, pid, address, state, details in rows:
        print(f"{component:<12} {pid or '-':>8}  {address:<16} {state:<7}  {details}")
    print(f"\nlogs: {paths.logs_dir()}")
    if any(row[3] == "other" for row in rows):
        print("state 'other': something answers on that port, but it was not started from here")


def _row(proc: Managed, details: str) -> tuple[str, int | None, str, str, str]:
    return (proc.name, pid_of(proc), proc.address, _state(is_up(proc), proc.port), details)


def _service_row(name: str) -> tuple[str, int | None, str, str, str]:
    row = _row(service(name), f"http://{service(name).address}/readyz")
    if row[3] == "up" and not service_ready(name):
        return (*row[:3], "unready", row[4])  # running and listening, but /readyz is not 200
    return row


def _state(up: bool, port: int) -> str:
    if up:
        return "up"
    return "other" if port_open(port) else "down"


def _stop(name: str, stopper: Callable[[], bool]) -> None:
    started = time.monotonic()
    if stopper():
        print(f"   stopped {name} in {time.monotonic() - started:.1f}s")
    else:
        print(f"   {name}: not running")
