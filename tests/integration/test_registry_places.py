"""A case is counted where its location lies by the registry's boundaries, on real Kafka and PostgreSQL: a report
just across a community border from its worker's grid is placed in the grid (and community, and street) whose
polygon holds it — in the work item, the rates by community and street, and duplicate matching — while it stays
its worker's report (the reported grid)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import shapely

from gridloop.registry import Grid, Worker, default_registry
from gridloop.registry.places import LocalPlane
from tests.support.apps import Services, build_apps, running
from tests.support.polling import wait_for
from tests.support.reports import report_body

pytestmark = pytest.mark.integration

# Named workers no other test uses: their grids are never handed out, so these reports meet no other test's.
BORDER_WORKERS = range(40, 66)
INTO_METRES = 20.0  # how far across the border the report lies: within the GPS tolerance (not flagged)


@pytest.fixture(scope="module")
def ns(private_ns: Any) -> Any:
    """A namespace of this module's own: the rates count every case of a community in the database."""
    return private_ns


@pytest.fixture(scope="module")
async def services(ns: Any, tmp_path_factory: Any) -> Any:
    apps = build_apps(ns, notify_log=tmp_path_factory.mktemp("notify") / "messages.jsonl")
    async with running(apps) as running_services:
        yield running_services


@dataclass(frozen=True)
class Border:
    worker: Worker  # walks `own`
    neighbour: Worker  # walks `across`
    own: Grid
    across: Grid  # another community's grid sharing an edge with `own`
    lat: float  # a point INTO_METRES inside `across`, off the middle of the shared edge
    lon: float


def border() -> Border:
    """Two reserved workers' grids that share an edge and lie in different communities, and a point just across."""
    registry = default_registry()
    walkers = {registry.workers[i].grid_ids[0]: registry.workers[i] for i in BORDER_WORKERS}
    for own_id, worker in walkers.items():
        for across_id, neighbour in walkers.items():
            own, across = registry.grid(own_id), registry.grid(across_id)
            if own.community_id == across.community_id or own.boundary is None or across.boundary is None:
                continue
            plane = LocalPlane(own.lat, own.lon)
            a, b = plane.project(own.boundary), plane.project(across.boundary)
            edge = a.intersection(b)
            if edge.length < 60:  # metres of shared edge
                continue
            middle = edge.interpolate(0.5, normalized=True)
            inward = shapely.Point(b.centroid.x - middle.x, b.centroid.y - middle.y)
            scale = INTO_METRES / max(shapely.Point(0, 0).distance(inward), 1e-9)
            x, y = middle.x + inward.x * scale, middle.y + inward.y * scale
            if b.contains(shapely.Point(x, y)) and not a.contains(shapely.Point(x, y)):
                lat, lon = plane.degrees(x, y)
                return Border(worker, neighbour, own, across, lat, lon)
    raise AssertionError("no reserved workers' grids share an edge across a community border")


async def _work_item(services: Services, case_id: str) -> dict[str, Any] | None:
    response = await services.departments.get(f"/v1/work-items/{case_id}")
    return response.json() if response.status_code == 200 else None


async def _rates(services: Services, group_by: str) -> dict[str, int]:
    rows = (await services.departments.get("/v1/rates", params={"group_by": group_by})).json()["rows"]
    return {row["group"]: row["dispatched"] for row in rows}


def _report(worker: Worker, description: str, location: dict[str, Any] | None) -> dict[str, Any]:
    index = default_registry().workers.index(worker)
    return report_body(description, item_hint="S02", worker_index=index, location=location)


async def test_a_report_across_a_community_border_counts_in_the_community_whose_polygon_holds_it(
    services: Services,
) -> None:
    place = border()
    registry = default_registry()
    theirs, ours = registry.community(place.across.community_id), registry.community(place.own.community_id)
    location = {"lat": place.lat, "lon": place.lon, "address": "金牛区两社区交界处路口"}
    description = "交界处路口的路灯晚上不亮了，已经坏了三天，过路的人看不清"
    accepted = await services.intake.post("/v1/reports", json=_report(place.worker, description, location))
    assert accepted.status_code == 202, accepted.text
    case_id = accepted.json()["case_id"]

    item = await wait_for(lambda: _work_item(services, case_id), what="the work item")
    assert (item["grid_id"], item["community_id"], item["street"]) == (
        place.across.grid_id,
        theirs.community_id,
        theirs.street,
    )
    assert item["reported_grid_id"] == place.own.grid_id  # still its worker's report
    case = (await services.intake.get(f"/v1/cases/{case_id}")).json()
    assert case["grid_id"] == place.own.grid_id and case["outside_grid_m"] is None  # within the GPS tolerance

    by_community = await _rates(services, "community")
    assert by_community.get(theirs.community_id) == 1 and ours.community_id not in by_community
    assert (await _rates(services, "street")).get(theirs.street) == 1

    # The neighbour's report of the same lamp without coordinates: only its grid to go by, which is the first
    # case's place (not its worker's grid), so it is suspected as the same problem for a clerk to decide.
    again = await services.intake.post(
        "/v1/reports", json=_report(place.neighbour, "交界处路口的路灯晚上不亮，坏了好几天了", None)
    )
    assert again.status_code == 202, again.text
    second = await wait_for(lambda: _work_item(services, again.json()["case_id"]), what="the second work item")
    assert second["grid_id"] == place.across.grid_id and second["community_id"] == theirs.community_id
    assert second["suspected_duplicate_of"] == case_id
    assert uuid.UUID(case_id)  # the first case stays its own work item
    assert (await _work_item(services, case_id))["primary_case_id"] is None
