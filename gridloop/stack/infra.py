"""Kafka + PostgreSQL + topics: what the test suite and `stack up --infra-only` need."""

from __future__ import annotations

from dataclasses import dataclass

from gridloop.stack.kafka import KAFKA, start_kafka
from gridloop.stack.kafka_admin import ensure_topics, gridloop_topics
from gridloop.stack.kafka_cluster import start_cluster
from gridloop.stack.postgres import ensure_postgres
from gridloop.stack.procs import StackError, is_up, run_coroutine, step


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    pg_admin_dsn: str  # the gridloop role on the `postgres` database; it may CREATE DATABASE


def ensure_infra(*, create_topics: bool = True) -> Infra:
    """Bring up PostgreSQL and Kafka if they are down (idempotent), then the unprefixed GridLoop topics."""
    pg_admin_dsn = ensure_postgres()
    bootstrap = start_kafka()
    if create_topics:
        with step("ensuring GridLoop topics"):
            created = run_coroutine(ensure_topics(bootstrap, gridloop_topics()))
        if created:
            print(f"   created {len(created)} topics")
    return Infra(kafka_bootstrap=bootstrap, pg_admin_dsn=pg_admin_dsn)


def ensure_cluster_infra(brokers: int) -> str:
    """PostgreSQL, a KRaft cluster of `brokers` nodes and the topics with that many replicas; the bootstrap list."""
    if is_up(KAFKA):
        raise StackError(f"the single broker runs on {KAFKA.address}, where node 1 goes: `gridloop stack down` first")
    ensure_postgres()
    bootstrap = start_cluster(brokers)
    with step(f"ensuring GridLoop topics (replication factor {brokers}, min.insync.replicas {brokers - 1})"):
        created = run_coroutine(ensure_topics(bootstrap, gridloop_topics(), replicas=brokers))
    if created:
        print(f"   created {len(created)} topics")
    return bootstrap
