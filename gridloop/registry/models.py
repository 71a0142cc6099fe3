"""Communities, grids and grid workers: the registry every report is checked against.

A grid has a boundary (a GeoJSON Polygon or MultiPolygon in WGS84, held as a shapely geometry) and a
representative point (`lat`, `lon`, inside the boundary). Grids and workers are deactivated, never deleted:
cases keep naming the grid and worker they were reported with.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

if TYPE_CHECKING:
    from gridloop.registry.places import GridLocator

T = TypeVar("T")


class NotInRegistry(KeyError):
    """An id that names no community, grid or worker."""


@dataclass(frozen=True, slots=True)
class Community:
    community_id: str
    name: str
    street: str
    boundary: BaseGeometry | None = None  # imported, or the union of its grids; None only before boundaries


@dataclass(frozen=True, slots=True)
class Street:
    """A street (街道) and its boundary: imported, or the union of its communities."""

    name: str
    boundary: BaseGeometry | None = None


@dataclass(frozen=True, slots=True)
class Grid:
    grid_id: str
    community_id: str
    name: str
    households: int
    lat: float
    lon: float
    boundary: BaseGeometry | None = None  # None only for grids added by hand without one
    active: bool = True


@dataclass(frozen=True, slots=True)
class Worker:
    worker_id: str
    name: str
    phone: str
    grid_ids: tuple[str, ...]
    active: bool = True


@dataclass(frozen=True)
class Registry:
    communities: tuple[Community, ...]
    grids: tuple[Grid, ...]
    workers: tuple[Worker, ...]
    streets: tuple[Street, ...] = ()  # the streets with boundaries; communities name their street
    _communities: dict[str, Community] = field(init=False, repr=False, compare=False)
    _grids: dict[str, Grid] = field(init=False, repr=False, compare=False)
    _workers: dict[str, Worker] = field(init=False, repr=False, compare=False)
    _workers_by_grid: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen, so the lookup indexes are set once here.
        object.__setattr__(self, "_communities", {c.community_id: c for c in self.communities})
        object.__setattr__(self, "_grids", {g.grid_id: g for g in self.grids})
        object.__setattr__(self, "_workers", {w.worker_id: w for w in self.workers})
        by_grid: dict[str, list[str]] = {}
        for w in self.workers:
            for grid_id in w.grid_ids:
                by_grid.setdefault(grid_id, []).append(w.worker_id)
        object.__setattr__(self, "_workers_by_grid", {g: tuple(ws) for g, ws in by_grid.items()})

    def community(self, community_id: str) -> Community:
        return _lookup(self._communities, community_id, "community")

    def grid(self, grid_id: str) -> Grid:
        return _lookup(self._grids, grid_id, "grid")

    def worker(self, worker_id: str) -> Worker:
        return _lookup(self._workers, worker_id, "worker")

    def is_assigned(self, worker_id: str, grid_id: str) -> bool:
        """True when the worker walks this grid; unknown ids are simply not assigned."""
        worker = self._workers.get(worker_id)
        return worker is not None and grid_id in worker.grid_ids

    def grids_of(self, worker_id: str) -> tuple[Grid, ...]:
        return tuple(self.grid(g) for g in self.worker(worker_id).grid_ids)

    def workers_of(self, grid_id: str) -> tuple[Worker, ...]:
        self.grid(grid_id)
        return tuple(self._workers[w] for w in self._workers_by_grid.get(grid_id, ()))

    def grids_in(self, community_id: str) -> tuple[Grid, ...]:
        self.community(community_id)
        return tuple(g for g in self.grids if g.community_id == community_id)

    @property
    def is_empty(self) -> bool:
        return not self.grids

    @functools.cached_property
    def locator(self) -> GridLocator:
        """The point-in-polygon index of the active grids' boundaries (built on first use)."""
        from gridloop.registry.places import GridLocator

        return GridLocator(self.grids)

    def grid_at(self, lat: float, lon: float) -> Grid | None:
        """The active grid whose boundary holds this WGS84 point, or None (outside the district, or a gap)."""
        grid_id = self.locator.grid_at(lat, lon)
        return self._grids[grid_id] if grid_id else None

    def community_at(self, lat: float, lon: float) -> Community | None:
        """The community of the grid holding this point: the boundaries duplicates and rates by community use."""
        grid = self.grid_at(lat, lon)
        return self._communities.get(grid.community_id) if grid else None

    @property
    def street_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*(s.name for s in self.streets), *(c.street for c in self.communities)]))

    @property
    def counts(self) -> dict[str, int]:
        return {
            "streets": len(self.street_names),
            "communities": len(self.communities),
            "grids": sum(g.active for g in self.grids),
            "workers": sum(w.active for w in self.workers),
            "households": sum(g.households for g in self.grids if g.active),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "streets": [{"name": s.name, "boundary": geojson_geometry(s.boundary)} for s in self.streets],
            "communities": [community_dict(c) for c in self.communities],
            "grids": [grid_dict(g) for g in self.grids],
            "workers": [worker_dict(w) for w in self.workers],
        }

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Registry:
        return cls(
            streets=tuple(Street(s["name"], _shape(s.get("boundary"))) for s in data.get("streets", [])),
            communities=tuple(Community(**{**c, "boundary": _shape(c.get("boundary"))}) for c in data["communities"]),
            grids=tuple(grid_from_dict(g) for g in data["grids"]),
            workers=tuple(Worker(**{**w, "grid_ids": tuple(w["grid_ids"])}) for w in data["workers"]),
        )


def community_dict(community: Community) -> dict[str, Any]:
    """A community as plain data (a stored row); the boundary as a GeoJSON geometry."""
    return {
        "community_id": community.community_id,
        "name": community.name,
        "street": community.street,
        "boundary": geojson_geometry(community.boundary),
    }


def geojson_geometry(geometry: BaseGeometry | None) -> dict[str, Any] | None:
    """A boundary as a GeoJSON geometry, or None."""
    return mapping(geometry) if geometry is not None else None


def _shape(data: dict[str, Any] | None) -> BaseGeometry | None:
    return shape(data) if data else None


def dissolved(boundaries: Iterable[BaseGeometry | None]) -> BaseGeometry | None:
    """The union of the boundaries given (a community from its grids, a street from its communities), or None."""
    parts = [b for b in boundaries if b is not None]
    return shapely.unary_union(parts) if parts else None


def grid_dict(grid: Grid) -> dict[str, Any]:
    """A grid as plain data; the boundary as a GeoJSON geometry."""
    return {
        "grid_id": grid.grid_id,
        "community_id": grid.community_id,
        "name": grid.name,
        "households": grid.households,
        "lat": grid.lat,
        "lon": grid.lon,
        "boundary": mapping(grid.boundary) if grid.boundary is not None else None,
        "active": grid.active,
    }


def grid_from_dict(data: dict[str, Any]) -> Grid:
    boundary = data.get("boundary")
    return Grid(**{**data, "boundary": shape(boundary) if boundary else None})


def worker_dict(worker: Worker) -> dict[str, Any]:
    return {
        "worker_id": worker.worker_id,
        "name": worker.name,
        "phone": worker.phone,
        "grid_ids": list(worker.grid_ids),
        "active": worker.active,
    }


def _lookup(index: dict[str, T], key: str, kind: str) -> T:
    try:
        return index[key]
    except KeyError:
        raise NotInRegistry(f"no {kind} {key!r} in the registry") from None
