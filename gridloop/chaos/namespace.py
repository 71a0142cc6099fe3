"""The chaos run's own corner of Kafka and PostgreSQL: prefixed topics and one database per service."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import make_url

from gridloop.delivery.kafka import KafkaSettings
from gridloop.ops.migrate import SERVICES, upgrade
from gridloop.stack import delete_topics, ensure_topics, gridloop_topics


@dataclass(frozen=True)
class ChaosNamespace:
    name: str
    bootstrap: str
    admin_dsn: str  # postgresql://user:password@host:port/postgres

    @property
    def prefix(self) -> str:
        return f"{self.name}."

    def kafka(self) -> KafkaSettings:
        return KafkaSettings(bootstrap_servers=self.bootstrap, topic_prefix=self.prefix)

    def dsn(self, service: str) -> str:
        """asyncpg DSN of a service's database."""
        return self.admin_dsn.rsplit("/", 1)[0] + f"/gl_{self.name}_{service}"

    def database_url(self, service: str) -> str:
        return self.dsn(service).replace("postgresql://", "postgresql+asyncpg://", 1)

    def env(self) -> dict[str, str]:
        """What the services need to run in this namespace."""
        env = {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "KAFKA_TOPIC_PREFIX": self.prefix}
        for service in SERVICES:
            env[f"GRIDLOOP_{service.upper()}_DATABASE_URL"] = self.database_url(service)
        return env


async def create_namespace(bootstrap: str, admin_dsn: str, *, partitions: int, replicas: int = 1) -> ChaosNamespace:
    ns = ChaosNamespace(name=f"chaos{uuid.uuid4().hex[:6]}", bootstrap=bootstrap, admin_dsn=admin_dsn)
    await ensure_topics(bootstrap, gridloop_topics(prefix=ns.prefix, partitions=partitions), replicas=replicas)
    for service in SERVICES:
        await asyncio.to_thread(upgrade, service, ns.database_url(service))
    return ns


async def drop_namespace(ns: ChaosNamespace) -> None:
    await delete_topics(ns.bootstrap, prefix=ns.prefix)
    conn = await asyncpg.connect(ns.admin_dsn)
    try:
        for service in SERVICES:
            name = make_url(ns.database_url(service)).database
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
