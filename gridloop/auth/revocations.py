"""Revoked credentials, held in memory and kept current by PostgreSQL LISTEN/NOTIFY.

Checking `revoked_tokens` with a query on every request cost each authenticated request a pooled connection
and two or three round trips. Instead every service loads the revoked ids once and listens on
`gridloop_revoked_tokens`: `revoke()` (the API and `gridloop token revoke`) sends the id with `pg_notify` in the
transaction that inserts it, and PostgreSQL delivers it when that transaction commits, so the revocation is in
every listening service's set before the revoking call returns to its caller.

While the listening connection is down (PostgreSQL restarting, the service starting), the cache is not trusted
and every request queries the table as before; when it reconnects it listens first and then reloads the whole
set, so a revocation made in between is not missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import sqlalchemy as sa

from gridloop.auth.tables import revoked_tokens
from gridloop.delivery.db import Database

log = logging.getLogger(__name__)

CHANNEL = "gridloop_revoked_tokens"


class RevocationCache:
    def __init__(self, db: Database, *, probe_seconds: float = 5.0) -> None:
        self._db = db
        self._probe_seconds = probe_seconds
        self._revoked: set[str] = set()
        self._listening = False

    @property
    def listening(self) -> bool:
        return self._listening

    async def is_revoked(self, token_id: str) -> bool:
        if self._listening:
            return token_id in self._revoked
        async with self._db.engine.connect() as conn:
            return bool(await conn.scalar(sa.select(sa.literal(1)).where(revoked_tokens.c.token_id == token_id)))

    def add(self, token_id: str) -> None:
        self._revoked.add(token_id)

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self._revoked.add(payload)

    def _lost(self, _connection: Any) -> None:
        self._listening = False

    async def follow(self) -> None:
        """Listen for revocations for as long as the service runs (a Runtime task); reconnect when needed."""
        delay = 0.5
        while True:
            try:
                async with self._db.engine.connect() as conn:
                    raw = (await conn.get_raw_connection()).driver_connection
                    if raw is None:  # the pool handed out a connection already closed: retry below
                        raise ConnectionError("database connection closed")
                    await raw.add_listener(CHANNEL, self._notified)
                    raw.add_termination_listener(self._lost)
                    try:
                        # Listening before loading: a revocation committed in between is in one or the other.
                        rows = await raw.fetch("SELECT token_id FROM revoked_tokens")
                        self._revoked = {row["token_id"] for row in rows}
                        self._listening = True
                        delay = 0.5
                        while True:  # a silently dead connection must not leave a stale set in charge
                            await asyncio.sleep(self._probe_seconds)
                            await asyncio.wait_for(raw.fetchval("SELECT 1"), self._probe_seconds)
                    finally:
                        self._listening = False
                        with contextlib.suppress(Exception):
                            await raw.remove_listener(CHANNEL, self._notified)
                        raw.remove_termination_listener(self._lost)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("revocation listener lost (%s); checking the table per request; retry in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
