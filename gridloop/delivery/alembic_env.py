"""Shared body of every service's alembic env.py (online migrations over asyncpg)."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine


def run_migrations(metadata: sa.MetaData) -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic needs sqlalchemy.url (gridloop migrate sets it)")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, metadata))


async def _run_online(url: str, metadata: sa.MetaData) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        await conn.run_sync(_migrate, metadata)
        await conn.commit()
    await engine.dispose()


def _migrate(sync_conn: sa.Connection, metadata: sa.MetaData) -> None:
    context.configure(connection=sync_conn, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
