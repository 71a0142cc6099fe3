"""`gridloop migrate`: create each service's database if missing and run its alembic migrations to head."""

from __future__ import annotations

import argparse
import asyncio
import importlib
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from gridloop.servicekit.settings import ServiceSettings

SERVICES = ("intake", "router", "departments", "notify")


def settings_for(service: str) -> ServiceSettings:
    settings: ServiceSettings = importlib.import_module(f"services.{service}.settings").get_settings()
    return settings


async def create_database_if_missing(url: str) -> bool:
    """Create the database named in url (connecting to the `postgres` database); True if created."""
    parsed = make_url(url)
    conn = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username, password=parsed.password, database="postgres"
    )
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", parsed.database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{parsed.database}"')
        return not exists
    finally:
        await conn.close()


def alembic_config(service: str, url: str) -> Config:
    package_dir = Path(importlib.import_module(f"services.{service}").__path__[0])
    cfg = Config()
    cfg.set_main_option("script_location", str(package_dir / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(service: str, url: str) -> None:
    asyncio.run(create_database_if_missing(url))
    command.upgrade(alembic_config(service, url), "head")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gridloop migrate", description=__doc__)
    parser.add_argument("services", nargs="*", metavar="SERVICE", help=f"default: all of {', '.join(SERVICES)}")
    args = parser.parse_args(argv)
    unknown = set(args.services) - set(SERVICES)
    if unknown:
        parser.error(f"unknown service(s) {', '.join(sorted(unknown))}; choose from {', '.join(SERVICES)}")
    for service in args.services or SERVICES:
        url = settings_for(service).database_url
        upgrade(service, url)
        print(f"migrated {service}: {make_url(url).database}")
    return 0
