"""A test session's own corner of the real Kafka and PostgreSQL: prefixed topics and its own databases."""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
from sqlalchemy.engine import make_url

from gridloop.delivery.db import Database
from gridloop.delivery.kafka import KafkaSettings
from gridloop.ops.migrate import SERVICES, upgrade
from gridloop.stack import ADMIN_DSN, delete_topics, ensure_topics, gridloop_topics

# The stack's PostgreSQL (5432, or GRIDLOOP_PG_PORT when a session runs against its own cluster).
PG_BASE = ADMIN_DSN.replace("postgresql://", "postgresql+asyncpg://").removesuffix("/postgres")


@dataclass(frozen=True)
class Namespace:
    name: str
    bootstrap: str
    database_urls: dict[str, str] = field(default_factory=dict)

    @property
    def topic_prefix(self) -> str:
        return f"{self.name}."

    def kafka(self, **overrides: object) -> KafkaSettings:
        values = {"bootstrap_servers": self.bootstrap, "topic_prefix": self.topic_prefix, **overrides}
        return KafkaSettings(**values)

    @asynccontextmanager
    async def database(self, service: str, source: str) -> AsyncIterator[Database]:
        """A service's `Database` in this namespace (its own outbox table), disposed of afterwards."""
        outbox = importlib.import_module(f"services.{service}.tables").outbox
        database = Database(self.database_urls[service], outbox=outbox, source=source)
        try:
            yield database
        finally:
            await database.dispose()

    def env(self) -> dict[str, str]:
        """Environment for services started as processes in this namespace."""
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_TOPIC_PREFIX": self.topic_prefix,
            "GRIDLOOP_ENV": "test",
        }
        for service, url in self.database_urls.items():
            env[f"GRIDLOOP_{service.upper()}_DATABASE_URL"] = url
        return env


async def create_namespace(bootstrap: str, partitions: int = 3) -> Namespace:
    name = f"t{uuid.uuid4().hex[:8]}"
    urls = {service: f"{PG_BASE}/gl_{name}_{service}" for service in SERVICES}
    await ensure_topics(bootstrap, gridloop_topics(prefix=f"{name}.", partitions=partitions))
    for service, url in urls.items():
        await asyncio.to_thread(upgrade, service, url)
    return Namespace(name=name, bootstrap=bootstrap, database_urls=urls)


async def drop_namespace(ns: Namespace) -> None:
    await delete_topics(ns.bootstrap, prefix=ns.topic_prefix)
    for url in ns.database_urls.values():
        await drop_database(url)


async def drop_database(url: str, *, timeout: float = 30) -> None:
    """Drop a test database, ending its sessions. An autovacuum worker on it is PostgreSQL's own process, which
    our role may not end (InsufficientPrivilegeError): wait for it to finish, as it does within seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        while True:
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
                return
            except asyncpg.InsufficientPrivilegeError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.2)
    finally:
        await conn.close()
