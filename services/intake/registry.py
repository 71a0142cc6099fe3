"""The managed grid registry: communities → grids → workers in intake's database, seeded from the generated
registry, changed by operators (each change audited and bumping a version), cached in memory per replica.

Reports are checked against the cached copy; a replica reloads it after its own changes at once and notices
other replicas' changes within `registry_check_seconds`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.delivery.db import Database, is_unavailable
from gridloop.registry import Community, Grid, Registry, Worker, default_registry
from services.intake.tables import communities, grids, registry_state, worker_grids, workers

log = logging.getLogger(__name__)
SEED_LOCK = 7_510_106  # advisory lock: one replica seeds an empty registry


class RegistryConflict(Exception):
    """The change names something that exists already, or refers to something that does not."""


class RegistryNotLoaded(Exception):
    """The database was unreachable since start: there is no registry to check reports against yet."""


class ManagedRegistry:
    """The registry in force on this replica (`current`), reloaded when the stored version moves."""

    def __init__(self) -> None:
        self._current: Registry | None = None
        self.version: int | None = None

    @property
    def current(self) -> Registry:
        if self._current is None:
            raise RegistryNotLoaded("the grid registry is not loaded yet (database unreachable)")
        return self._current

    async def try_load(self, db: Database) -> None:
        """At start: load if the database answers; otherwise `check` keeps trying."""
        try:
            await self.load(db)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("grid registry not loaded at start (%s); retrying in the background", exc)

    async def load(self, db: Database) -> None:
        async with db.engine.begin() as conn:
            await seed_if_empty(conn, default_registry())
        async with db.engine.connect() as conn:
            version = await conn.scalar(sa.select(registry_state.c.version).where(registry_state.c.id == 1))
            self._current = await read_registry(conn)
        self.version = version
        log.info("grid registry version %s: %s", version, self._current.counts)

    async def check(self, db: Database) -> None:
        """Reload if another replica changed the registry (or it is not loaded yet); run periodically."""
        async with db.engine.connect() as conn:
            version = await conn.scalar(sa.select(registry_state.c.version).where(registry_state.c.id == 1))
        if version != self.version or self._current is None:
            await self.load(db)


async def seed_if_empty(conn: AsyncConnection, registry: Registry) -> bool:
    """Store the generated registry if the tables are empty; True if this call seeded them."""
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(SEED_LOCK)))
    if await conn.scalar(sa.select(registry_state.c.version).where(registry_state.c.id == 1)) is not None:
        return False
    await conn.execute(insert(communities), [asdict(c) for c in registry.communities])
    await conn.execute(insert(grids), [asdict(g) for g in registry.grids])
    await conn.execute(
        insert(workers), [{"worker_id": w.worker_id, "name": w.name, "phone": w.phone} for w in registry.workers]
    )
    await conn.execute(
        insert(worker_grids),
        [
            {"worker_id": w.worker_id, "grid_id": g, "position": i}
            for w in registry.workers
            for i, g in enumerate(w.grid_ids)
        ],
    )
    await conn.execute(insert(registry_state).values(id=1, version=1, changed_at=datetime.now(UTC)))
    return True


async def read_registry(conn: AsyncConnection) -> Registry:
    assigned: dict[str, list[str]] = {}
    for worker_id, grid_id in await conn.execute(
        sa.select(worker_grids.c.worker_id, worker_grids.c.grid_id).order_by(
            worker_grids.c.worker_id, worker_grids.c.position, worker_grids.c.grid_id
        )
    ):
        assigned.setdefault(worker_id, []).append(grid_id)
    return Registry(
        communities=tuple(
            Community(**r._asdict()) for r in await conn.execute(sa.select(communities).order_by("community_id"))
        ),
        grids=tuple(Grid(**r._asdict()) for r in await conn.execute(sa.select(grids).order_by("grid_id"))),
        workers=tuple(
            Worker(r.worker_id, r.name, r.phone, tuple(assigned.get(r.worker_id, ())))
            for r in await conn.execute(sa.select(workers).order_by("worker_id"))
        ),
    )


async def _bump(conn: AsyncConnection) -> None:
    await conn.execute(
        sa.update(registry_state)
        .where(registry_state.c.id == 1)
        .values(version=registry_state.c.version + 1, changed_at=datetime.now(UTC))
    )


async def _exists(conn: AsyncConnection, table: sa.Table, key: str) -> bool:
    column = next(iter(table.primary_key.columns))
    return await conn.scalar(sa.select(sa.literal(1)).where(column == key)) is not None


async def add_community(conn: AsyncConnection, community: Community) -> None:
    if await _exists(conn, communities, community.community_id):
        raise RegistryConflict(f"community {community.community_id} exists already")
    await conn.execute(sa.insert(communities).values(**asdict(community)))
    await _bump(conn)


async def add_grid(conn: AsyncConnection, grid: Grid) -> None:
    if not await _exists(conn, communities, grid.community_id):
        raise RegistryConflict(f"no community {grid.community_id}")
    if await _exists(conn, grids, grid.grid_id):
        raise RegistryConflict(f"grid {grid.grid_id} exists already")
    await conn.execute(sa.insert(grids).values(**asdict(grid)))
    await _bump(conn)


async def add_worker(conn: AsyncConnection, worker: Worker) -> None:
    if await _exists(conn, workers, worker.worker_id):
        raise RegistryConflict(f"worker {worker.worker_id} exists already")
    await conn.execute(sa.insert(workers).values(worker_id=worker.worker_id, name=worker.name, phone=worker.phone))
    await assign_worker(conn, worker.worker_id, worker.grid_ids)


async def assign_worker(conn: AsyncConnection, worker_id: str, grid_ids: tuple[str, ...]) -> tuple[str, ...]:
    """Set the grids a worker walks (assign, move, or take off all grids); returns the grids before."""
    if not await _exists(conn, workers, worker_id):
        raise RegistryConflict(f"no worker {worker_id}")
    known = set(await conn.scalars(sa.select(grids.c.grid_id).where(grids.c.grid_id.in_(grid_ids))))
    if missing := [g for g in grid_ids if g not in known]:
        raise RegistryConflict(f"no grid {', '.join(missing)}")
    before = tuple(
        await conn.scalars(
            sa.select(worker_grids.c.grid_id)
            .where(worker_grids.c.worker_id == worker_id)
            .order_by(worker_grids.c.position)
            .with_for_update()
        )
    )
    await conn.execute(sa.delete(worker_grids).where(worker_grids.c.worker_id == worker_id))
    if grid_ids:
        await conn.execute(
            insert(worker_grids),
            [{"worker_id": worker_id, "grid_id": g, "position": i} for i, g in enumerate(grid_ids)],
        )
    await _bump(conn)
    return before
