"""Deterministic generation of Jinniu district's grid registry (108 communities, 998 grids, 1,438 workers).

Grids are polygons: the Voronoi tessellation of the grids' points (clustered by community, communities by
street) clipped to the district's bounding box, so the grids cover the district without gaps or overlaps and
each grid's point lies inside its own boundary. Development, the demo and tests import it as GeoJSON through the
same path as a real district's files (gridloop/registry/geojson.py). A community's boundary is the union of its
grids, a street's the union of its communities (a few communities come out in two pieces, as real ones sometimes do).
"""

from __future__ import annotations

import functools
import random
from dataclasses import replace

import shapely
from shapely.geometry import MultiPoint, box

from gridloop.registry.models import Community, Grid, Registry, Street, Worker, dissolved
from gridloop.registry.names import COMMUNITY_STEMS, STREETS, mobile, person_name

REGISTRY_SEED = 510106  # Jinniu's administrative division code
COMMUNITY_COUNT = 108
GRID_COUNT = 998
WORKER_COUNT = 1438
MEAN_HOUSEHOLDS = 535
LAT_RANGE = (30.681, 30.759)
LON_RANGE = (103.991, 104.099)


@functools.cache
def default_registry() -> Registry:
    """The registry every service and the demo share; generated once per process."""
    return generate_registry(REGISTRY_SEED)


def generate_registry(seed: int = REGISTRY_SEED) -> Registry:
    rng = random.Random(seed)
    communities, centres = _communities(rng)
    grids = _with_boundaries(_grids(rng, communities, centres))
    workers = _workers(rng, grids)
    communities = [
        replace(c, boundary=dissolved(g.boundary for g in grids if g.community_id == c.community_id))
        for c in communities
    ]
    streets = [Street(name, dissolved(c.boundary for c in communities if c.street == name)) for name, *_ in STREETS]
    return Registry(communities=tuple(communities), grids=tuple(grids), workers=tuple(workers), streets=tuple(streets))


COORDINATE_PRECISION = 1e-7  # degrees (~1 cm): shared vertices round alike, so neighbours still share edges


def _with_boundaries(grids: list[Grid]) -> list[Grid]:
    """Each grid's Voronoi cell (of all grids' points) within the district's bounding box."""
    district = box(LON_RANGE[0], LAT_RANGE[0], LON_RANGE[1], LAT_RANGE[1])
    points = MultiPoint([(g.lon, g.lat) for g in grids])
    cells = shapely.voronoi_polygons(points, extend_to=district, ordered=True).geoms
    return [
        replace(grid, boundary=shapely.set_precision(cell.intersection(district), COORDINATE_PRECISION))
        for grid, cell in zip(grids, cells, strict=True)
    ]


def _communities(rng: random.Random) -> tuple[list[Community], list[tuple[float, float]]]:
    stems = rng.sample(COMMUNITY_STEMS, COMMUNITY_COUNT)
    communities: list[Community] = []
    centres: list[tuple[float, float]] = []
    for street, lat, lon, size in STREETS:
        for _ in range(size):
            number = len(communities) + 1
            name = f"{stems[number - 1]}社区"
            communities.append(Community(community_id=f"JN-C{number:03d}", name=name, street=street))
            centres.append((lat + rng.uniform(-0.008, 0.008), lon + rng.uniform(-0.009, 0.009)))
    return communities, centres


def _grid_counts(rng: random.Random, n_communities: int) -> list[int]:
    """Grids per community: about nine each, varying 7-12, summing to GRID_COUNT."""
    counts = [GRID_COUNT // n_communities] * n_communities
    for _ in range(n_communities):  # shuffle some grids between communities
        src, dst = rng.randrange(n_communities), rng.randrange(n_communities)
        if counts[src] > 7 and counts[dst] < 11:
            counts[src] -= 1
            counts[dst] += 1
    for i in rng.sample(range(n_communities), GRID_COUNT - sum(counts)):
        counts[i] += 1
    return counts


def _households(rng: random.Random, n: int) -> list[int]:
    """Households per grid around MEAN_HOUSEHOLDS, nudged so the mean is exact."""
    sizes = [min(720, max(360, round(rng.gauss(MEAN_HOUSEHOLDS, 55)))) for _ in range(n)]
    diff = MEAN_HOUSEHOLDS * n - sum(sizes)
    step = 1 if diff > 0 else -1
    for i in range(abs(diff)):
        sizes[i % n] += step
    return sizes


def _grids(rng: random.Random, communities: list[Community], centres: list[tuple[float, float]]) -> list[Grid]:
    counts = _grid_counts(rng, len(communities))
    households = _households(rng, GRID_COUNT)
    grids: list[Grid] = []
    for community, (lat, lon), count in zip(communities, centres, counts, strict=True):
        for k in range(1, count + 1):
            grids.append(
                Grid(
                    grid_id=f"JN-G{len(grids) + 1:04d}",
                    community_id=community.community_id,
                    name=f"{community.name}第{k}网格",
                    households=households[len(grids)],
                    lat=round(_clamp(lat + rng.uniform(-0.003, 0.003), LAT_RANGE), 6),
                    lon=round(_clamp(lon + rng.uniform(-0.003, 0.003), LON_RANGE), 6),
                )
            )
    return grids


def _workers(rng: random.Random, grids: list[Grid]) -> list[Worker]:
    """One worker per grid, a second on the busier grids; a few also cover the next grid as backup."""
    doubled = set(rng.sample(range(len(grids)), WORKER_COUNT - len(grids)))
    assignments: list[tuple[str, ...]] = []
    for i, grid in enumerate(grids):
        assignments.append((grid.grid_id,))
        if i in doubled:
            assignments.append((grid.grid_id,))
    workers: list[Worker] = []
    for number, grid_ids in enumerate(assignments, start=1):
        grid_ids = _maybe_backup(rng, grids, grid_ids)
        workers.append(
            Worker(worker_id=f"JN-W{number:04d}", name=person_name(rng), phone=mobile(rng), grid_ids=grid_ids)
        )
    return workers


def _maybe_backup(rng: random.Random, grids: list[Grid], grid_ids: tuple[str, ...]) -> tuple[str, ...]:
    if rng.random() >= 0.06:
        return grid_ids
    index = int(grid_ids[0][4:])  # JN-G0001 -> 1, which is also the next grid's list index
    if index < len(grids) and grids[index].community_id == grids[index - 1].community_id:
        return (*grid_ids, grids[index].grid_id)
    return grid_ids


def _clamp(value: float, bounds: tuple[float, float]) -> float:
    return min(bounds[1], max(bounds[0], value))
