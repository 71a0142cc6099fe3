"""Read and check a district's registry files (gridloop/registry/geojson.py) into a `Registry`.

Every problem is reported with the file and the feature (GeoJSON, counted from 1) or line (CSV/XLSX, the header
is line 1) it is in, and all problems are reported at once: duplicate ids, invalid polygons, grids that overlap,
gaps between grids, a grid outside its community, a worker on an unknown grid. Coordinates in GCJ-02 (the datum
of Chinese map services) are converted to WGS84 first.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import shapely
from coord_convert.transform import gcj2wgs  # type: ignore[import-untyped]
from numpy.typing import NDArray
from shapely import STRtree, unary_union
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from gridloop.registry.geojson import WORKER_COLUMNS, DistrictFiles
from gridloop.registry.models import Community, Grid, Registry, Street, Worker, dissolved
from gridloop.registry.places import LocalPlane

Datum = Literal["wgs84", "gcj02"]
OVERLAP_TOLERANCE_M2 = 1.0  # slivers below this between neighbouring grids are drawing noise, not overlaps
GAP_TOLERANCE_M2 = 1.0
OUTSIDE_TOLERANCE_M2 = 1.0
POINT_DECIMALS = 6  # a grid's point (~0.1 m), when the file gives none
MAX_PROBLEMS = 200
ID = re.compile(r"^[A-Za-z0-9-]{1,32}$")
MOBILE = re.compile(r"^1[3-9]\d{9}$")
TRUE = {"", "true", "1", "yes", "y", "是", "在职", "启用"}
FALSE = {"false", "0", "no", "n", "否", "离职", "停用"}


@dataclass(frozen=True, slots=True)
class Problem:
    file: str  # streets | communities | grids | workers
    where: str  # "feature 12", "line 7", or "" for the file as a whole
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}" if self.where else f"{self.file}: {self.message}"


class ImportRejected(Exception):
    """The files do not describe a usable registry; nothing was changed."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the registry files")
        self.problems = problems


def gcj02_to_wgs84(lat: float, lon: float) -> tuple[float, float]:
    """One point from GCJ-02 to WGS84 (iterative inverse, ~0.1 m); points outside China are left as they are."""
    wgs_lon, wgs_lat = gcj2wgs(lon, lat)
    return float(wgs_lat), float(wgs_lon)


def _geometry_to_wgs84(geometry: BaseGeometry) -> BaseGeometry:
    def convert(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.array([gcj2wgs(lon, lat) for lon, lat in coords], dtype=np.float64)

    return shapely.transform(geometry, convert)


class _Reader:
    """Collects problems while reading; `fail` once at the end."""

    def __init__(self, datum: Datum) -> None:
        self.datum = datum
        self.problems: list[Problem] = []

    def problem(self, file: str, where: str, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(file, where, message))

    def features(self, file: str, data: bytes) -> Iterator[tuple[str, dict[str, Any], BaseGeometry | None, bool]]:
        """(where, properties, geometry in WGS84, whether a geometry was given) of each feature; problems for what
        cannot be read (a geometry given but refused comes as None, with its problem reported)."""
        try:
            collection = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.problem(file, "", f"not valid JSON: {exc}")
            return
        if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
            self.problem(file, "", "not a GeoJSON FeatureCollection")
            return
        for number, feature in enumerate(collection.get("features") or [], start=1):
            where = f"feature {number}"
            if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
                self.problem(file, where, "not a Feature with properties")
                continue
            raw = feature.get("geometry")
            yield where, feature["properties"], self._geometry(file, where, raw), raw is not None

    def _geometry(self, file: str, where: str, raw: Any) -> BaseGeometry | None:
        if raw is None:
            return None
        try:
            geometry = shape(raw)
        except Exception as exc:  # shapely raises several kinds for malformed GeoJSON
            self.problem(file, where, f"invalid geometry: {exc}")
            return None
        if geometry.geom_type not in ("Polygon", "MultiPolygon") or geometry.is_empty:
            self.problem(file, where, f"the boundary must be a Polygon or MultiPolygon, not {geometry.geom_type}")
            return None
        minx, miny, maxx, maxy = geometry.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            self.problem(file, where, "coordinates out of range: GeoJSON is [longitude, latitude] in degrees")
            return None
        if not shapely.is_valid(geometry):
            self.problem(file, where, f"invalid polygon: {shapely.is_valid_reason(geometry)}")
            return None
        return _geometry_to_wgs84(geometry) if self.datum == "gcj02" else geometry

    def text(
        self, file: str, where: str, properties: dict[str, Any], key: str, *, pattern: re.Pattern[str] | None = None
    ) -> str | None:
        value = properties.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            self.problem(file, where, f"{key} is missing")
            return None
        value = value.strip()
        if pattern and not pattern.match(value):
            self.problem(file, where, f"{key} {value!r} is not valid")
            return None
        return value


def read_district(files: DistrictFiles, *, datum: Datum = "wgs84") -> Registry:
    """The registry the files describe (every grid and worker in them active); ImportRejected lists all problems."""
    reader = _Reader(datum)
    streets = _streets(reader, files.streets) if files.streets is not None else None
    communities, community_shapes = _communities(reader, files.communities, streets)
    grids, grid_where = _grids(reader, files.grids, communities)
    workers = _workers(reader, files.workers, files.workers_format, set(grid_where))
    if grids:  # the grids that could be read, even when some could not
        _check_layout(reader, grids, grid_where, community_shapes)
    areas = _community_areas(communities, community_shapes, grids)
    if streets:
        _check_streets(reader, streets, communities, areas, community_shapes)
    if reader.problems:
        raise ImportRejected(reader.problems)
    return Registry(
        communities=tuple(replace(c, boundary=areas.get(c.community_id)) for c in communities.values()),
        grids=tuple(grids.values()),
        workers=tuple(workers),
        streets=tuple(
            Street(name, boundary if boundary is not None else dissolved(_members(name, communities, areas)))
            for name, boundary in (streets or {}).items()
        ),
    )


def _community_areas(
    communities: dict[str, Community], given: dict[str, tuple[str, BaseGeometry]], grids: dict[str, Grid]
) -> dict[str, BaseGeometry]:
    """Each community's boundary: as the file draws it, else the union of its grids (dissolved)."""
    areas = {cid: geometry for cid, (_, geometry) in given.items()}
    by_community: dict[str, list[BaseGeometry | None]] = {}
    for grid in grids.values():
        by_community.setdefault(grid.community_id, []).append(grid.boundary)
    for cid in communities:
        if cid not in areas and (union := dissolved(by_community.get(cid, []))) is not None:
            areas[cid] = union
    return areas


def _members(street: str, communities: dict[str, Community], areas: dict[str, BaseGeometry]) -> list[BaseGeometry]:
    return [areas[cid] for cid, c in communities.items() if c.street == street and cid in areas]


def _check_streets(
    reader: _Reader,
    streets: dict[str, BaseGeometry | None],
    communities: dict[str, Community],
    areas: dict[str, BaseGeometry],
    given: dict[str, tuple[str, BaseGeometry]],
) -> None:
    """A street drawn in the streets file: its communities lie inside it (those the communities file draws are
    checked as they are read; here the ones dissolved from their grids) and cover it."""
    community_where = {cid: where for cid, (where, _) in given.items()}
    for name, boundary in streets.items():
        if boundary is None:
            continue
        for cid, community in communities.items():
            if community.street == name and cid in areas and cid not in community_where:
                _check_within(
                    reader, "communities", "", f"community {cid} (its grids)", areas[cid], boundary, f"street {name}"
                )
        plane = LocalPlane.around([boundary])
        members = [plane.project(a) for a in _members(name, communities, areas)]
        if members and (uncovered := plane.project(boundary).difference(unary_union(members)).area) > GAP_TOLERANCE_M2:
            reader.problem("streets", "", f"street {name}: {uncovered:,.0f} m² not covered by its communities")


def _streets(reader: _Reader, data: bytes) -> dict[str, BaseGeometry | None]:
    """Street name -> boundary (None when the feature has none)."""
    names: dict[str, str] = {}
    shapes: dict[str, BaseGeometry | None] = {}
    for where, properties, geometry, _ in reader.features("streets", data):
        name = reader.text("streets", where, properties, "name")
        if name is None:
            continue
        if name in names:
            reader.problem("streets", where, f"duplicate street {name} (first at {names[name]})")
            continue
        names[name] = where
        shapes[name] = geometry
    return shapes


def _communities(
    reader: _Reader, data: bytes, streets: dict[str, BaseGeometry | None] | None
) -> tuple[dict[str, Community], dict[str, tuple[str, BaseGeometry]]]:
    communities: dict[str, Community] = {}
    first: dict[str, str] = {}
    shapes: dict[str, tuple[str, BaseGeometry]] = {}
    for where, properties, geometry, _ in reader.features("communities", data):
        cid = reader.text("communities", where, properties, "community_id", pattern=ID)
        name = reader.text("communities", where, properties, "name")
        street = reader.text("communities", where, properties, "street")
        if cid is None or name is None or street is None:
            continue
        street_shape = streets.get(street) if streets else None
        if geometry is not None and street_shape is not None:
            _check_within(reader, "communities", where, f"community {cid}", geometry, street_shape, f"street {street}")
        if cid in first:
            reader.problem("communities", where, f"duplicate community_id {cid} (first at {first[cid]})")
            continue
        if streets is not None and street not in streets:
            reader.problem("communities", where, f"street {street} is not in the streets file")
        first[cid] = where
        communities[cid] = Community(cid, name, street)
        if geometry is not None:
            shapes[cid] = (where, geometry)
    return communities, shapes


def _grids(reader: _Reader, data: bytes, communities: dict[str, Community]) -> tuple[dict[str, Grid], dict[str, str]]:
    """The grids read, and where each grid id in the file was first seen (readable or not)."""
    grids: dict[str, Grid] = {}
    first: dict[str, str] = {}
    for where, properties, geometry, given in reader.features("grids", data):
        gid = reader.text("grids", where, properties, "grid_id", pattern=ID)
        cid = reader.text("grids", where, properties, "community_id", pattern=ID)
        name = reader.text("grids", where, properties, "name")
        households = properties.get("households", 0)
        if not isinstance(households, int) or isinstance(households, bool) or households < 0:
            reader.problem("grids", where, f"households must be a whole number ≥ 0, not {households!r}")
            continue
        if gid is None or cid is None or name is None:
            continue
        if gid in first:
            reader.problem("grids", where, f"duplicate grid_id {gid} (first at {first[gid]})")
            continue
        first[gid] = where
        if cid not in communities:
            reader.problem("grids", where, f"grid {gid}: community {cid} is not in the communities file")
        if geometry is None:
            if not given:  # a boundary given but refused has its own problem reported
                reader.problem("grids", where, f"grid {gid} has no boundary")
            continue
        point = _point(reader, where, properties, geometry)
        if point is not None:
            grids[gid] = Grid(gid, cid, name, households, point[0], point[1], boundary=geometry)
    return grids, first


def _point(
    reader: _Reader, where: str, properties: dict[str, Any], geometry: BaseGeometry
) -> tuple[float, float] | None:
    """The grid's point: `lat`/`lon` if given (and inside the grid), else a point surely inside the boundary."""
    lat, lon = properties.get("lat"), properties.get("lon")
    if lat is None and lon is None:
        inside = geometry.representative_point()
        return round(inside.y, POINT_DECIMALS), round(inside.x, POINT_DECIMALS)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lon)):
        reader.problem("grids", where, "lat and lon must both be numbers (or both left out)")
        return None
    assert isinstance(lat, int | float) and isinstance(lon, int | float)
    if reader.datum == "gcj02":
        lat, lon = gcj02_to_wgs84(lat, lon)
    if not shapely.intersects_xy(geometry, lon, lat):
        reader.problem("grids", where, f"the grid's point ({lat}, {lon}) lies outside its boundary")
        return None
    return float(lat), float(lon)


def _rows(reader: _Reader, data: bytes, fmt: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, row by column) of the workers file; the header must name the columns."""
    if fmt == "xlsx":
        table = _xlsx_rows(reader, data)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            reader.problem("workers", "", "not UTF-8 text (save the CSV as UTF-8, or upload the .xlsx)")
            return
        table = list(csv.reader(io.StringIO(text)))
    if not table:
        reader.problem("workers", "", "empty file")
        return
    header = [h.strip().lower() for h in table[0]]
    if missing := [c for c in WORKER_COLUMNS if c not in header and c != "active"]:
        reader.problem("workers", "line 1", f"missing column(s): {', '.join(missing)}")
        return
    for line, cells in enumerate(table[1:], start=2):
        if any(c.strip() for c in cells):
            yield line, {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)}


def _xlsx_rows(reader: _Reader, data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
    except Exception as exc:  # openpyxl raises several kinds for a file that is not a workbook
        reader.problem("workers", "", f"not an .xlsx workbook: {exc}")
        return []
    return [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]


def _workers(reader: _Reader, data: bytes, fmt: str, grids: set[str]) -> list[Worker]:
    workers: list[Worker] = []
    first: dict[str, int] = {}
    for line, row in _rows(reader, data, fmt):
        where = f"line {line}"
        wid = reader.text("workers", where, row, "worker_id", pattern=ID)
        name = reader.text("workers", where, row, "name")
        phone = reader.text("workers", where, row, "phone", pattern=MOBILE)
        active = row.get("active", "").lower()
        if active not in TRUE | FALSE:
            reader.problem("workers", where, f"active must be true or false, not {active!r}")
        grid_ids = tuple(dict.fromkeys(g.strip() for g in re.split(r"[;；|、]", row.get("grids", "")) if g.strip()))
        for grid_id in grid_ids:
            if grid_id not in grids:
                reader.problem("workers", where, f"worker {wid}: grid {grid_id} is not in the grids file")
        if wid is None or name is None or phone is None:
            continue
        if wid in first:
            reader.problem("workers", where, f"duplicate worker_id {wid} (first at line {first[wid]})")
            continue
        first[wid] = line
        workers.append(Worker(wid, name, phone, grid_ids, active=active not in FALSE))
    return workers


def _check_layout(
    reader: _Reader,
    grids: dict[str, Grid],
    grid_where: dict[str, str],
    community_shapes: dict[str, tuple[str, BaseGeometry]],
) -> None:
    """Overlaps and gaps between grids, grids outside their community: areas measured in square metres."""
    ids = list(grids)
    plane = LocalPlane.around(g.boundary for g in grids.values() if g.boundary is not None)
    shapes = [plane.project(boundary) for g in ids if (boundary := grids[g].boundary) is not None]
    tree = STRtree(shapes)
    left, right = tree.query(shapes, predicate="intersects")
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i < j and (area := shapes[i].intersection(shapes[j]).area) > OVERLAP_TOLERANCE_M2:
            a, b = ids[i], ids[j]
            reader.problem("grids", grid_where[a], f"grid {a} overlaps grid {b} ({grid_where[b]}) by {area:,.0f} m²")
    covered = unary_union(shapes)
    for hole in _holes(covered):
        if hole.area > GAP_TOLERANCE_M2:
            lat, lon = _degrees(plane, hole.representative_point())
            reader.problem("grids", "", f"a gap of {hole.area:,.0f} m² between grids around ({lat:.6f}, {lon:.6f})")
    by_community: dict[str, list[int]] = {}
    for i, gid in enumerate(ids):
        by_community.setdefault(grids[gid].community_id, []).append(i)
    for cid, (where, geometry) in community_shapes.items():
        area = plane.project(geometry)
        own = unary_union([shapes[i] for i in by_community.get(cid, [])])
        if (uncovered := area.difference(own).area) > GAP_TOLERANCE_M2:
            reader.problem("communities", where, f"community {cid}: {uncovered:,.0f} m² not covered by its grids")
        for i in by_community.get(cid, []):
            if (outside := shapes[i].difference(area).area) > OUTSIDE_TOLERANCE_M2:
                gid = ids[i]
                reader.problem("grids", grid_where[gid], f"grid {gid}: {outside:,.0f} m² outside community {cid}")


def _check_within(
    reader: _Reader, file: str, where: str, what: str, inner: BaseGeometry, outer: BaseGeometry, outer_name: str
) -> None:
    plane = LocalPlane.around([outer])
    if (outside := plane.project(inner).difference(plane.project(outer)).area) > OUTSIDE_TOLERANCE_M2:
        reader.problem(file, where, f"{what}: {outside:,.0f} m² outside {outer_name}")


def _holes(geometry: BaseGeometry) -> list[BaseGeometry]:
    return [shapely.Polygon(ring) for part in shapely.get_parts(geometry) for ring in part.interiors]


def _degrees(plane: LocalPlane, point: BaseGeometry) -> tuple[float, float]:
    return plane.degrees(point.x, point.y)
