"""Grid boundaries: the generated district tessellates its box, points are found in their grid, reports are
measured against the grid they name, GCJ-02 coordinates are converted to WGS84."""

from __future__ import annotations

import pytest
import shapely
from shapely import STRtree, unary_union

from gridloop.registry import Registry, default_registry
from gridloop.registry.generate import LAT_RANGE, LON_RANGE
from gridloop.registry.importer import gcj02_to_wgs84
from gridloop.registry.places import LocalPlane, check_place


@pytest.fixture(scope="module")
def registry() -> Registry:
    return default_registry()


def test_generated_grids_cover_the_district_box_without_overlaps(registry: Registry) -> None:
    shapes = [g.boundary for g in registry.grids]
    assert all(s is not None and s.is_valid and s.geom_type == "Polygon" for s in shapes)
    tree = STRtree(shapes)
    left, right = tree.query(shapes, predicate="intersects")
    overlap = sum(shapes[i].intersection(shapes[j]).area for i, j in zip(left, right, strict=True) if i < j)
    assert overlap == 0
    box_area = (LON_RANGE[1] - LON_RANGE[0]) * (LAT_RANGE[1] - LAT_RANGE[0])
    covered = unary_union(shapes)
    assert covered.geom_type == "Polygon" and not covered.interiors
    assert covered.area == pytest.approx(box_area, rel=1e-9)


def test_every_grid_point_is_found_in_its_own_grid(registry: Registry) -> None:
    assert all(registry.grid_at(g.lat, g.lon) == g for g in registry.grids)


def test_communities_are_found_by_the_same_boundaries(registry: Registry) -> None:
    grid = registry.grids[100]
    assert registry.community_at(grid.lat, grid.lon) == registry.community(grid.community_id)
    assert registry.community_at(31.5, 104.0) is None


def test_a_point_outside_the_district_is_in_no_grid(registry: Registry) -> None:
    assert registry.grid_at(LAT_RANGE[1] + 0.01, LON_RANGE[0] + 0.02) is None
    assert registry.grid_at(30.0, 103.0) is None


def test_a_report_is_measured_against_the_grid_it_names(registry: Registry) -> None:
    grid = registry.grids[500]
    assert check_place(registry, grid.grid_id, grid.lat, grid.lon, tolerance_m=0) is None
    # A point well inside another grid, far from this one.
    far = next(g for g in registry.grids if abs(g.lat - grid.lat) > 0.02)
    outside = check_place(registry, grid.grid_id, far.lat, far.lon, tolerance_m=150)
    assert outside is not None and outside.located_grid_id == far.grid_id
    plane = LocalPlane(grid.lat, grid.lon)
    expected = plane.project(grid.boundary).distance(shapely.points(*plane.xy(far.lat, far.lon)))
    assert outside.metres == pytest.approx(expected, abs=1)
    assert outside.metres > 1000


def test_the_gps_tolerance_decides_whether_a_point_just_outside_is_flagged(registry: Registry) -> None:
    grid = registry.grids[300]
    _, _, maxx, _ = grid.boundary.bounds
    lon = maxx + 100 / (111_195 * 0.859)  # ~100 m east of the grid's easternmost point (cos 30.7° ≈ 0.859)
    metres = registry.locator.metres_outside(grid.grid_id, grid.lat, lon)
    assert metres is not None and metres >= 99
    assert check_place(registry, grid.grid_id, grid.lat, lon, tolerance_m=150) is None
    assert check_place(registry, grid.grid_id, grid.lat, lon, tolerance_m=50) is not None


def test_deactivated_grids_are_not_found() -> None:
    from dataclasses import replace

    base = default_registry()
    grid = base.grids[0]
    retired = Registry(base.communities, (replace(grid, active=False), *base.grids[1:]), base.workers)
    assert retired.grid_at(grid.lat, grid.lon) is None
    assert retired.locator.metres_outside(grid.grid_id, grid.lat, grid.lon) is None


# Published WGS84 ↔ GCJ-02 pairs (the test points of the eviltransform libraries): wgs lat, lon, gcj lat, lon.
REFERENCE_POINTS = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]


@pytest.mark.parametrize(("wgs_lat", "wgs_lon", "gcj_lat", "gcj_lon"), REFERENCE_POINTS)
def test_gcj02_reference_points_convert_to_wgs84_within_a_decimetre(
    wgs_lat: float, wgs_lon: float, gcj_lat: float, gcj_lon: float
) -> None:
    lat, lon = gcj02_to_wgs84(gcj_lat, gcj_lon)
    plane = LocalPlane(wgs_lat, wgs_lon)
    assert abs(complex(*plane.xy(lat, lon))) < 0.1  # metres


def test_gcj02_shifts_chengdu_by_hundreds_of_metres_and_leaves_points_outside_china() -> None:
    lat, lon = gcj02_to_wgs84(30.72, 104.05)
    assert 100 < abs(complex(*LocalPlane(30.72, 104.05).xy(lat, lon))) < 1000
    assert gcj02_to_wgs84(48.85, 2.35) == (48.85, 2.35)  # Paris: GCJ-02 applies only inside China
