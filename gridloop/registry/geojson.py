"""A registry as the files a civil-affairs office keeps: streets, communities and grids as GeoJSON
FeatureCollections (WGS84), workers as CSV. The generated district is written this way and imported through the
same path as a real one (docs/registry.md shows the formats)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapely.geometry import mapping

from gridloop.registry.models import Registry, dissolved

WORKER_COLUMNS = ("worker_id", "name", "phone", "grids", "active")
GRID_SEPARATOR = ";"


@dataclass(frozen=True)
class DistrictFiles:
    """The import's inputs as bytes (a file's contents), named as operators name them."""

    communities: bytes
    grids: bytes
    workers: bytes
    workers_format: str = "csv"  # csv | xlsx
    streets: bytes | None = None

    @classmethod
    def read(cls, *, communities: Path, grids: Path, workers: Path, streets: Path | None = None) -> DistrictFiles:
        return cls(
            communities=communities.read_bytes(),
            grids=grids.read_bytes(),
            workers=workers.read_bytes(),
            workers_format="xlsx" if workers.suffix.lower() == ".xlsx" else "csv",
            streets=streets.read_bytes() if streets else None,
        )


def _collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def _feature(properties: dict[str, Any], geometry: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties, "geometry": mapping(geometry) if geometry else None}


def district_files(registry: Registry) -> DistrictFiles:
    """The registry's active part as import files: streets, communities and grids with their boundaries as stored
    (a community or street stored without one — a registry imported before they were kept — drawn as the union of
    its active grids or communities), the active workers."""
    grids = [g for g in registry.grids if g.active]
    community_shapes = {
        c.community_id: c.boundary
        if c.boundary is not None
        else dissolved(g.boundary for g in grids if g.community_id == c.community_id)
        for c in registry.communities
    }
    stored_streets = {s.name: s.boundary for s in registry.streets if s.boundary is not None}
    streets = [
        _feature(
            {"name": name},
            stored_streets[name]
            if name in stored_streets
            else dissolved(community_shapes[c.community_id] for c in registry.communities if c.street == name),
        )
        for name in registry.street_names
    ]
    communities = [
        _feature(
            {"community_id": c.community_id, "name": c.name, "street": c.street},
            community_shapes.get(c.community_id),
        )
        for c in registry.communities
    ]
    grid_features = [
        _feature(
            {
                "grid_id": g.grid_id,
                "community_id": g.community_id,
                "name": g.name,
                "households": g.households,
                "lat": g.lat,
                "lon": g.lon,
            },
            g.boundary,
        )
        for g in grids
    ]
    return DistrictFiles(
        communities=_json(_collection(communities)),
        grids=_json(_collection(grid_features)),
        workers=workers_csv(registry).encode(),
        streets=_json(_collection(streets)),
    )


def workers_csv(registry: Registry) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(WORKER_COLUMNS)
    for w in registry.workers:
        if w.active:
            writer.writerow((w.worker_id, w.name, w.phone, GRID_SEPARATOR.join(w.grid_ids), "true"))
    return out.getvalue()


def write_district(registry: Registry, directory: Path) -> dict[str, Path]:
    """Write streets.geojson, communities.geojson, grids.geojson and workers.csv into `directory`."""
    files = district_files(registry)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "streets": directory / "streets.geojson",
        "communities": directory / "communities.geojson",
        "grids": directory / "grids.geojson",
        "workers": directory / "workers.csv",
    }
    paths["streets"].write_bytes(files.streets or b"")
    paths["communities"].write_bytes(files.communities)
    paths["grids"].write_bytes(files.grids)
    paths["workers"].write_bytes(files.workers)
    return paths


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
