"""Database engine, unit of work, and the outbox/inbox tables every service carries."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from opentelemetry.context import Context
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from gridloop.contracts.events import Event
from gridloop.delivery.kafka import Envelope
from gridloop.delivery.tracing import carrier_of

# Errors that mean "the database is not reachable right now", as opposed to a bug or bad data.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    sa.exc.TimeoutError,  # every pooled connection busy for the pool timeout: wait and retry, never dead-letter
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.DisconnectionError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)


# SQLSTATEs of a server that is restarting or refusing connections: class 08 (connection exception), 57P01-03
# (admin shutdown, crash shutdown, "the database system is starting up / shutting down"), 53300 (too many
# connections). asyncpg raises these at connect time as plain errors, which SQLAlchemy wraps as DBAPIError.
# Also the transient refusals of one attempt: 40001 (serialization failure) and 40P01 (deadlock victim) — the
# same work succeeds when retried, so a consumer retries it without counting towards the dead-letter limit and
# an HTTP caller gets 503 with Retry-After, never a 500.
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P01", "57P02", "57P03", "53300", "40001", "40P01")


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return True
    return any(code.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES) for code in _sqlstates(exc))


def _sqlstates(exc: BaseException) -> list[str]:
    """SQLSTATE codes anywhere in the chain (SQLAlchemy's .orig, the driver's __cause__)."""
    codes: list[str] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        for attr in ("sqlstate", "pgcode"):
            code = getattr(current, attr, None)
            if isinstance(code, str):
                codes.append(code)
        todo += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return codes


def add_delivery_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """Add the transactional outbox and the consumer inbox to a service's metadata."""
    outbox = sa.Table(
        "outbox",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        # W3C trace context of the span that wrote the event (`traceparent`, `tracestate`); NULL when untraced.
        # The relay sends the event in that trace, after an "outbox wait" span (gridloop/delivery/tracing.py).
        sa.Column("trace_context", JSONB(none_as_null=True)),
        sa.Index("ix_outbox_unpublished", "id", postgresql_where=sa.text("published_at IS NULL")),
        sa.Index("ix_outbox_published_at", "published_at"),
    )
    inbox = sa.Table(
        "inbox",
        metadata,
        sa.Column("consumer_group", sa.Text, primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    return outbox, inbox


class UnitOfWork:
    """One database transaction: effects plus the events they publish. Rolls back if the block raises.

    `publish` only collects the event; `flush` writes everything collected in one multi-row INSERT (in
    publication order, so the relay sends a case's events in that order). `Database.unit_of_work` flushes
    before it commits; code that builds a unit of work on its own connection calls `flush` itself."""

    def __init__(self, conn: AsyncConnection, outbox: sa.Table, source: str) -> None:
        self.conn = conn
        self._outbox = outbox
        self._source = source
        self._pending: list[tuple[str, Envelope, dict[str, str] | None]] = []
        self.published: list[Envelope] = []
        self.committed_callbacks: list[Callable[[], None]] = []
        # Where an event of a case (its key) continues a trace, when one transaction serves several traces (a
        # consumer's batch, a group commit); otherwise an event continues the current span's trace.
        self.trace_parents: dict[str, Context] = {}

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this unit of work has committed (not at all if it rolls back): say, wake a worker
        for the rows it wrote. A callback given twice runs once."""
        if callback not in self.committed_callbacks:
            self.committed_callbacks.append(callback)

    async def publish(self, event: Event, topic: str, *, event_id: uuid.UUID, time: datetime | None = None) -> None:
        """Add an event to the outbox when the unit of work is flushed; an id written before is skipped."""
        envelope = Envelope.wrap(event, event_id=event_id, source=self._source, time=time)
        self._pending.append((topic, envelope, carrier_of(self.trace_parents.get(event.key))))

    async def flush(self) -> list[Envelope]:
        """Write the collected events; returns (and adds to `published`) those not written before."""
        pending, self._pending = self._pending, []
        if not pending:
            return []
        rows = [
            {
                "event_id": envelope.event_id,
                "topic": topic,
                "key": envelope.key,
                "event_type": envelope.event_type,
                "source": envelope.source,
                "event_time": envelope.time,
                "payload": envelope.data,
                "trace_context": carrier,
            }
            for topic, envelope, carrier in pending
        ]
        # Rows as parameters, not `.values(rows)`: SQLAlchemy cannot cache a statement with a multi-row VALUES
        # clause and compiled it on every flush; this one is compiled once and sent as one multi-row INSERT
        # ("insertmanyvalues"), rows in the given order.
        stmt = (
            insert(self._outbox).on_conflict_do_nothing(index_elements=["event_id"]).returning(self._outbox.c.event_id)
        )
        written = set((await self.conn.execute(stmt, rows)).scalars())
        new = [envelope for _topic, envelope, _carrier in pending if envelope.event_id in written]
        self.published += new
        return new


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def loopback_without_tls(url: str) -> dict[str, object]:
    """No TLS to a PostgreSQL on this machine unless the URL asks for it (`?ssl=…` / `?sslmode=…`): on loopback it
    protects nothing and costs ~40 % of the client's CPU per statement (asyncio's TLS is pure Python)."""
    parsed = make_url(url)
    if parsed.host in LOOPBACK_HOSTS and not {"ssl", "sslmode"} & set(parsed.query):
        return {"ssl": False}
    return {}


class Database:
    """Engine plus unit-of-work factory for one service. Created in the lifespan, never at import."""

    def __init__(
        self, url: str, *, outbox: sa.Table, source: str, pool_size: int = 10, pool_timeout: float = 5.0
    ) -> None:
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            # No ping before every checkout (a round trip and ~0.2 ms of CPU per transaction). A connection the
            # server dropped fails on first use (503 / retried by consumers and the relay), and that failure
            # renews the whole pool (tests/integration/test_intake_errors.py).
            pool_pre_ping=False,
            pool_timeout=pool_timeout,
            connect_args={"timeout": 5, "command_timeout": 30, **loopback_without_tls(url)},
        )
        self.outbox = outbox
        self.source = source
        self._on_commit: list[Callable[[], None]] = []

    @classmethod
    def for_service(cls, settings: Any, *, outbox: sa.Table, source: str) -> Database:
        """A service's database from its settings (URL, pool size, pool timeout)."""
        return cls(
            settings.database_url,
            outbox=outbox,
            source=source,
            pool_size=settings.db_pool_size,
            pool_timeout=settings.db_pool_timeout_seconds,
        )

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Register a callback run after a unit of work that published events commits (wakes the relay)."""
        self._on_commit.append(callback)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """Yields a unit of work inside a transaction that commits when the block exits cleanly."""
        async with self.engine.begin() as conn:
            uow = UnitOfWork(conn, self.outbox, self.source)
            yield uow
            await uow.flush()
        for callback in uow.committed_callbacks:
            callback()
        if uow.published:
            for callback in self._on_commit:
                callback()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


async def claim_inbox(
    uow: UnitOfWork, inbox: sa.Table, *, group: str, events: list[tuple[uuid.UUID, str]]
) -> set[uuid.UUID]:
    """Record a batch of (event id, topic) as processed by this consumer group in one statement; returns the ids
    not processed before (an id twice in the batch is returned once)."""
    if not events:
        return set()
    stmt = (
        insert(inbox).on_conflict_do_nothing(index_elements=["consumer_group", "event_id"]).returning(inbox.c.event_id)
    )
    rows = [{"consumer_group": group, "event_id": event_id, "topic": topic} for event_id, topic in events]
    return set((await uow.conn.execute(stmt, rows)).scalars())  # rows as parameters: cached (see flush)
