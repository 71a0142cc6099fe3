"""A small district's registry files for import tests: a row of square grids in two communities."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from gridloop.registry.geojson import DistrictFiles

SIZE = 0.002  # degrees: grids of ~190 m × 220 m
ORIGIN = (104.20, 30.90)  # lon, lat: east of the generated district


def square(column: int, row: int = 0, *, width: int = 1) -> list[list[list[float]]]:
    """A GeoJSON Polygon's coordinates: the cell at (column, row), `width` cells wide."""
    x0, y0 = ORIGIN[0] + column * SIZE, ORIGIN[1] + row * SIZE
    x1, y1 = x0 + width * SIZE, y0 + SIZE
    return [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]


def feature(properties: dict[str, Any], coordinates: Any, kind: str = "Polygon") -> dict[str, Any]:
    geometry = None if coordinates is None else {"type": kind, "coordinates": coordinates}
    return {"type": "Feature", "properties": properties, "geometry": geometry}


@dataclass
class District:
    """Four grids in a row (G1, G2 in community C1; G3, G4 in C2) and a worker on each; ids carry a prefix."""

    prefix: str = "T"
    streets: list[dict[str, Any]] = field(default_factory=list)
    communities: list[dict[str, Any]] = field(default_factory=list)
    grids: list[dict[str, Any]] = field(default_factory=list)
    workers: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        p = self.prefix
        self.streets = [feature({"name": f"{p}街道"}, square(0, width=4))]
        self.communities = [
            feature({"community_id": f"{p}-C1", "name": "一社区", "street": f"{p}街道"}, square(0, width=2)),
            feature({"community_id": f"{p}-C2", "name": "二社区", "street": f"{p}街道"}, square(2, width=2)),
        ]
        self.grids = [self.grid(n, f"{p}-C1" if n <= 2 else f"{p}-C2", square(n - 1)) for n in range(1, 5)]
        self.workers = [[f"{p}-W{n}", f"网格员{n}", f"1390000{n:04d}", f"{p}-G{n}", "true"] for n in range(1, 5)]

    def grid(self, n: int, community_id: str, coordinates: Any, **properties: Any) -> dict[str, Any]:
        return feature(
            {
                "grid_id": f"{self.prefix}-G{n}",
                "community_id": community_id,
                "name": f"第{n}网格",
                "households": 500,
                **properties,
            },
            coordinates,
        )

    def files(self, *, with_streets: bool = True) -> DistrictFiles:
        return DistrictFiles(
            communities=_collection(self.communities),
            grids=_collection(self.grids),
            workers=self.workers_csv().encode(),
            streets=_collection(self.streets) if with_streets else None,
        )

    def workers_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["worker_id", "name", "phone", "grids", "active"])
        writer.writerows(self.workers)
        return out.getvalue()


def _collection(features: list[dict[str, Any]]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False).encode()
