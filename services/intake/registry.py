"""The managed grid registry: communities → grids → workers in intake's database, changed by operators (each
change audited and bumping a version), cached in memory per replica.

A district's registry arrives as files (`import_district`: GeoJSON grids, CSV/XLSX workers) and is applied as
one versioned change. Development and test databases start from the generated district, imported through the
same path; production never seeds it: an empty registry is reported at start and reports are refused until the
district is imported. Reports are checked against the cached copy; a replica reloads it after its own changes at
once and notices other replicas' changes within `registry_check_seconds`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from shapely import unary_union
from shapely.geometry import shape
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.auth.audit import record_audit
from gridloop.auth.tokens import Principal
from gridloop.delivery.db import Database, is_unavailable
from gridloop.registry import Community, Grid, Registry, Street, Worker, default_registry
from gridloop.registry.changes import RegistryChange, plan_import
from gridloop.registry.geojson import DistrictFiles, district_files
from gridloop.registry.importer import GAP_TOLERANCE_M2, Datum, read_district
from gridloop.registry.models import community_dict, geojson_geometry, grid_dict
from gridloop.registry.places import LocalPlane
from services.intake.tables import communities, grids, registry_state, streets, worker_grids, workers

log = logging.getLogger(__name__)
REGISTRY_LOCK = 7_510_106  # advisory lock: one seeding or import at a time
EMPTY = Registry(communities=(), grids=(), workers=())
SEEDER = Principal("operator", "gridloop:seed")
EMPTY_REGISTRY_MESSAGE = (
    "the grid registry is empty: import the district with `gridloop registry import` or "
    "POST /v1/registry/imports (docs/registry.md); reports are refused until then"
)


# An operator's edit of the managed registry, applied on the caller's connection (with its audit entry).
Edit = Callable[[AsyncConnection], Awaitable[object]]


class RegistryConflict(Exception):
    """The change names something that exists already, or refers to something that does not."""


class RegistryNotLoaded(Exception):
    """The database was unreachable since start: there is no registry to check reports against yet."""


class ManagedRegistry:
    """The registry in force on this replica (`current`), reloaded when the stored version moves.

    `seed`: store the generated district when the database holds no registry (development and tests only)."""

    def __init__(self, *, seed: bool = True) -> None:
        self._current: Registry | None = None
        self.version: int | None = None
        self.seed = seed

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
        async with db.engine.connect() as conn:
            version = await conn.scalar(sa.select(registry_state.c.version).where(registry_state.c.id == 1))
        if version is None and self.seed:
            files = await asyncio.to_thread(district_files, default_registry())
            async with db.engine.begin() as conn:
                await seed_if_empty(conn, files)
        async with db.engine.connect() as conn:
            version = await conn.scalar(sa.select(registry_state.c.version).where(registry_state.c.id == 1))
            registry = await read_registry(conn)
        await asyncio.to_thread(lambda: registry.locator)  # the point-in-polygon index, built before it is needed
        self._current, self.version = registry, version
        if registry.is_empty:
            log.error(EMPTY_REGISTRY_MESSAGE)
        else:
            log.info("grid registry version %s: %s", version, registry.counts)

    async def check(self, db: Database) -> None:
        """Reload if another replica changed the registry (or it is not loaded yet); run periodically."""
        async with db.engine.connect() as conn:
            version = await conn.scalar(sa.select(registry_state.c.version).where(registry_state.c.id == 1))
        if version != self.version or self._current is None:
            await self.load(db)


async def seed_if_empty(conn: AsyncConnection, files: DistrictFiles) -> bool:
    """Import the generated district's files if no registry is stored; True if this call seeded it."""
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(REGISTRY_LOCK)))
    if await conn.scalar(sa.select(registry_state.c.version).where(registry_state.c.id == 1)) is not None:
        return False
    imported = await asyncio.to_thread(read_district, files)
    change = plan_import(EMPTY, imported)
    await apply_change(conn, change)
    await record_audit(
        conn, SEEDER, "import_registry", target="generated district", status=200, detail=change.summary()
    )
    return True


async def import_district(
    conn: AsyncConnection,
    files: DistrictFiles,
    *,
    operator: Principal,
    datum: Datum = "wgs84",
    dry_run: bool = False,
    request: Request | None = None,
    action: str = "import_registry",
) -> RegistryChange:
    """Read and check the files (ImportRejected with every problem), compare them with the registry in force and,
    unless `dry_run` or nothing differs, apply the difference as one version with one audit entry."""
    imported = await asyncio.to_thread(read_district, files, datum=datum)
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(REGISTRY_LOCK)))
    change = await asyncio.to_thread(plan_import, await read_registry(conn), imported)
    if dry_run or change.is_empty:
        return change
    await apply_change(conn, change)
    detail = {"datum": datum, **change.summary()}
    await record_audit(
        conn,
        operator,
        action,
        target=f"{len(imported.grids)} grids",
        status=200,
        detail=detail,
        request=request,
    )
    return change


async def apply_change(conn: AsyncConnection, change: RegistryChange) -> None:
    """Write what the change adds, alters, deactivates or reactivates; bump the version once."""
    if rows := [{"name": street.name, "boundary": geojson_geometry(street.boundary)} for street in change.streets]:
        statement = insert(streets)
        await conn.execute(
            statement.on_conflict_do_update(index_elements=["name"], set_={"boundary": statement.excluded.boundary}),
            rows,
        )
    if rows := [community_dict(c) for c in change.communities]:
        statement = insert(communities)
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=["community_id"],
                set_={c: statement.excluded[c] for c in ("name", "street", "boundary")},
            ),
            rows,
        )
    if rows := [grid_dict(g) for g in change.grids]:
        statement = insert(grids)
        columns = ("community_id", "name", "households", "lat", "lon", "boundary", "active")
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=["grid_id"], set_={c: statement.excluded[c] for c in columns}
            ),
            rows,
        )
    changed_workers = change.workers
    if changed_workers:
        statement = insert(workers)
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=["worker_id"], set_={c: statement.excluded[c] for c in ("name", "phone", "active")}
            ),
            [{"worker_id": w.worker_id, "name": w.name, "phone": w.phone, "active": w.active} for w in changed_workers],
        )
        ids = [w.worker_id for w in changed_workers]
        await conn.execute(sa.delete(worker_grids).where(worker_grids.c.worker_id.in_(ids)))
        if rows := _assignment_rows(changed_workers):
            await conn.execute(insert(worker_grids), rows)
    await _bump(conn)


def _assignment_rows(changed: list[Worker]) -> list[dict[str, Any]]:
    return [{"worker_id": w.worker_id, "grid_id": g, "position": i} for w in changed for i, g in enumerate(w.grid_ids)]


async def read_registry(conn: AsyncConnection) -> Registry:
    assigned: dict[str, list[str]] = {}
    for worker_id, grid_id in await conn.execute(
        sa.select(worker_grids.c.worker_id, worker_grids.c.grid_id).order_by(
            worker_grids.c.worker_id, worker_grids.c.position, worker_grids.c.grid_id
        )
    ):
        assigned.setdefault(worker_id, []).append(grid_id)
    return Registry(
        streets=tuple(
            Street(r.name, shape(r.boundary) if r.boundary else None)
            for r in await conn.execute(sa.select(streets).order_by("name"))
        ),
        communities=tuple(
            Community(**{**r._asdict(), "boundary": shape(r.boundary) if r.boundary else None})
            for r in await conn.execute(sa.select(communities).order_by("community_id"))
        ),
        grids=tuple(
            Grid(**{**r._asdict(), "boundary": shape(r.boundary) if r.boundary else None})
            for r in await conn.execute(sa.select(grids).order_by("grid_id"))
        ),
        workers=tuple(
            Worker(r.worker_id, r.name, r.phone, tuple(assigned.get(r.worker_id, ())), active=r.active)
            for r in await conn.execute(sa.select(workers).order_by("worker_id"))
        ),
    )


async def _bump(conn: AsyncConnection) -> None:
    bumped = await conn.execute(
        sa.update(registry_state)
        .where(registry_state.c.id == 1)
        .values(version=registry_state.c.version + 1, changed_at=datetime.now(UTC))
    )
    if bumped.rowcount == 0:  # the first change to an empty registry
        await conn.execute(insert(registry_state).values(id=1, version=1, changed_at=datetime.now(UTC)))


async def _exists(conn: AsyncConnection, table: sa.Table, key: str) -> bool:
    column = next(iter(table.primary_key.columns))
    return await conn.scalar(sa.select(sa.literal(1)).where(column == key)) is not None


async def add_community(conn: AsyncConnection, community: Community) -> None:
    if await _exists(conn, communities, community.community_id):
        raise RegistryConflict(f"community {community.community_id} exists already")
    await conn.execute(sa.insert(communities).values(**community_dict(community)))
    await _bump(conn)


async def add_grid(conn: AsyncConnection, grid: Grid) -> None:
    if not await _exists(conn, communities, grid.community_id):
        raise RegistryConflict(f"no community {grid.community_id}")
    if await _exists(conn, grids, grid.grid_id):
        raise RegistryConflict(f"grid {grid.grid_id} exists already")
    await conn.execute(sa.insert(grids).values(**grid_dict(grid)))
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
    found = {
        row.grid_id: row.active
        for row in await conn.execute(sa.select(grids.c.grid_id, grids.c.active).where(grids.c.grid_id.in_(grid_ids)))
    }
    if missing := [g for g in grid_ids if g not in found]:
        raise RegistryConflict(f"no grid {', '.join(missing)}")
    if retired := [g for g in grid_ids if not found[g]]:
        raise RegistryConflict(f"grid {', '.join(retired)} is deactivated")
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


async def set_worker_active(conn: AsyncConnection, worker_id: str, active: bool) -> bool:
    """Deactivate a departed worker (their credentials stop working; their cases stay theirs) or reactivate one;
    returns whether anything changed."""
    if not await _exists(conn, workers, worker_id):
        raise RegistryConflict(f"no worker {worker_id}")
    updated = await conn.execute(
        sa.update(workers).where(workers.c.worker_id == worker_id, workers.c.active != active).values(active=active)
    )
    if updated.rowcount:
        await _bump(conn)
    return bool(updated.rowcount)


async def set_grid_active(conn: AsyncConnection, grid_id: str, active: bool) -> bool:
    """Deactivate a grid no longer in use (its cases keep it; no new reports) or reactivate it. A grid that
    active workers still walk is not deactivated: reassign them first."""
    if not await _exists(conn, grids, grid_id):
        raise RegistryConflict(f"no grid {grid_id}")
    if not active:
        walkers = list(
            await conn.scalars(
                sa.select(worker_grids.c.worker_id)
                .join(workers, workers.c.worker_id == worker_grids.c.worker_id)
                .where(worker_grids.c.grid_id == grid_id, workers.c.active)
                .order_by(worker_grids.c.worker_id)
            )
        )
        if walkers:
            raise RegistryConflict(f"grid {grid_id} is walked by {', '.join(walkers)}: reassign them first")
    updated = await conn.execute(
        sa.update(grids).where(grids.c.grid_id == grid_id, grids.c.active != active).values(active=active)
    )
    if updated.rowcount:
        await _bump(conn)
    return bool(updated.rowcount)


def redrawn(current: Registry, *, retire: set[str], drawn: list[Grid], moves: dict[str, tuple[str, ...]]) -> Registry:
    """The registry with grids merged or split: `retire` replaced by the grids `drawn`, workers moved by `moves`
    (worker -> grids). The drawn grids must cover what the retired ones covered; RegistryConflict otherwise."""
    active = {g.grid_id: g for g in current.grids if g.active}
    if unknown := sorted(retire - set(active)):
        raise RegistryConflict(f"no active grid {', '.join(unknown)}")
    if taken := sorted(g.grid_id for g in drawn if g.grid_id in {x.grid_id for x in current.grids}):
        raise RegistryConflict(f"grid {', '.join(taken)} exists already (retired ids are not reused)")
    if missing := [g.grid_id for g in drawn if g.boundary is None]:
        raise RegistryConflict(f"grid {', '.join(missing)} has no boundary")
    workers = {w.worker_id: w for w in current.workers if w.active}
    if unknown := sorted(set(moves) - set(workers)):
        raise RegistryConflict(f"no active worker {', '.join(unknown)}")
    _check_covered(current, retire, drawn)
    return Registry(
        streets=current.streets,
        communities=current.communities,
        grids=(*(g for g in active.values() if g.grid_id not in retire), *drawn),
        workers=tuple(replace(w, grid_ids=moves.get(w.worker_id, w.grid_ids)) for w in workers.values()),
    )


def _check_covered(current: Registry, retire: set[str], drawn: list[Grid]) -> None:
    old = [current.grid(g).boundary for g in sorted(retire)]
    new = [g.boundary for g in drawn]
    shapes = [s for s in (*old, *new) if s is not None]
    plane = LocalPlane.around(shapes)
    before = unary_union([plane.project(s) for s in old if s is not None])
    after = unary_union([plane.project(s) for s in new if s is not None])
    if (uncovered := before.difference(after).area) > GAP_TOLERANCE_M2:
        raise RegistryConflict(f"the drawn grids leave {uncovered:,.0f} m² of the retired grids uncovered")
