"""Where a point lies: the point-in-polygon index of the grids' boundaries.

Boundaries are projected once onto a local plane in metres (equirectangular about the district's centre: within
a district of 10 km the error is far below GPS error), indexed in an STRtree and prepared, so a lookup is a tree
query plus a prepared point-in-polygon test (a few microseconds: `python -m bench.registry`), and distances
and areas come out in metres and square metres.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely import STRtree
from shapely.geometry.base import BaseGeometry

from gridloop.contracts.events import Place

if TYPE_CHECKING:
    from gridloop.registry.models import Grid, Registry

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180


class LocalPlane:
    """WGS84 degrees ↔ metres on a plane tangent at (lat0, lon0)."""

    def __init__(self, lat0: float, lon0: float) -> None:
        self.lat0, self.lon0 = lat0, lon0
        self._kx = METRES_PER_DEGREE * math.cos(math.radians(lat0))

    @classmethod
    def around(cls, geometries: Iterable[BaseGeometry]) -> LocalPlane:
        bounds = [g.bounds for g in geometries]
        if not bounds:
            return cls(0.0, 0.0)
        lon0 = (min(b[0] for b in bounds) + max(b[2] for b in bounds)) / 2
        lat0 = (min(b[1] for b in bounds) + max(b[3] for b in bounds)) / 2
        return cls(lat0, lon0)

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.lon0) * self._kx, (lat - self.lat0) * METRES_PER_DEGREE

    def degrees(self, x: float, y: float) -> tuple[float, float]:
        """(lat, lon) of a point on the plane."""
        return self.lat0 + y / METRES_PER_DEGREE, self.lon0 + x / self._kx

    def project(self, geometry: BaseGeometry) -> BaseGeometry:
        def to_metres(coords: NDArray[np.float64]) -> NDArray[np.float64]:
            x = (coords[:, 0] - self.lon0) * self._kx
            return np.column_stack((x, (coords[:, 1] - self.lat0) * METRES_PER_DEGREE))

        return shapely.transform(geometry, to_metres)


class GridLocator:
    """The active grids' boundaries, indexed: which grid holds a point, how far a point lies outside a grid."""

    def __init__(self, grids: Sequence[Grid]) -> None:
        placed = [g for g in grids if g.active and g.boundary is not None]
        self.plane = LocalPlane.around(g.boundary for g in placed if g.boundary is not None)
        self._ids = [g.grid_id for g in placed]
        self._shapes = [self.plane.project(g.boundary) for g in placed if g.boundary is not None]
        for projected in self._shapes:
            shapely.prepare(projected)
        self._index = {grid_id: i for i, grid_id in enumerate(self._ids)}
        self._tree = STRtree(self._shapes)

    def __len__(self) -> int:
        return len(self._ids)

    def grid_at(self, lat: float, lon: float) -> str | None:
        """The id of the grid holding the point (on a shared edge: the first in registry order), or None."""
        x, y = self.plane.xy(lat, lon)
        for i in sorted(int(j) for j in self._tree.query(shapely.points(x, y))):
            if shapely.intersects_xy(self._shapes[i], x, y):
                return self._ids[i]
        return None

    def metres_outside(self, grid_id: str, lat: float, lon: float) -> float | None:
        """0 inside the grid, else the distance to its boundary in metres; None if the grid has no boundary."""
        i = self._index.get(grid_id)
        if i is None:
            return None
        x, y = self.plane.xy(lat, lon)
        shape = self._shapes[i]
        return 0.0 if shapely.intersects_xy(shape, x, y) else float(shape.distance(shapely.points(x, y)))


@dataclass(frozen=True, slots=True)
class OutsideGrid:
    """A report located outside the grid it names: how far, and the grid that holds the location (if any)."""

    metres: float
    located_grid_id: str | None


def check_place(registry: Registry, grid_id: str, lat: float, lon: float, *, tolerance_m: float) -> OutsideGrid | None:
    """None when the location lies in the grid or within `tolerance_m` of it (GPS error), or the grid has no
    boundary; else how far outside it lies."""
    metres = registry.locator.metres_outside(grid_id, lat, lon)
    if metres is None or metres <= tolerance_m:
        return None
    located = registry.locator.grid_at(lat, lon)
    return OutsideGrid(round(metres, 1), located)


def place_of(registry: Registry, grid_id: str, lat: float | None, lon: float | None) -> Place:
    """Where a case is by the boundaries: the active grid whose polygon holds (lat, lon), its community and street;
    the grid the report names (`grid_id`) when there are no coordinates or no grid holds them (outside the
    district). Not the nearest grid centre, not the reported grid when the point lies in another."""
    grid = registry.grid_at(lat, lon) if lat is not None and lon is not None else None
    by: Literal["location", "reported_grid"] = "location"
    if grid is None:
        grid, by = registry.grid(grid_id), "reported_grid"
    community = registry.community(grid.community_id)
    return Place(grid_id=grid.grid_id, community_id=community.community_id, street=community.street, by=by)
