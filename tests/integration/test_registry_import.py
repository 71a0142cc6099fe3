"""A district's registry imported into intake: an empty registry says so and refuses reports; files are checked
and applied as one audited version, the same files again change nothing; a redrawn district keeps old cases on
their grids; a departed worker's credentials stop working; a report placed outside its grid is flagged."""

from __future__ import annotations

import asyncio
import io
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from gridloop.ops.migrate import upgrade
from gridloop.registry import default_registry
from gridloop.registry.geojson import DistrictFiles, district_files
from services.intake.main import make_app
from services.intake.registry import EMPTY_REGISTRY_MESSAGE
from services.intake.settings import DEV_OPEN311_API_KEY, IntakeSettings
from tests.support.auth import OPERATOR, as_worker
from tests.support.district import ORIGIN, SIZE, District, square
from tests.support.namespace import drop_database

pytestmark = pytest.mark.integration

Intake = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def intake(ns: Any, tmp_path: Any) -> Intake:
    """An intake of its own on a fresh database, not seeded with the generated district (as in production)."""

    @asynccontextmanager
    async def start(**settings: Any) -> AsyncIterator[httpx.AsyncClient]:
        url = f"{ns.database_urls['intake']}_reg{uuid.uuid4().hex[:6]}"
        await asyncio.to_thread(upgrade, "intake", url)
        app = make_app(IntakeSettings(database_url=url, kafka=ns.kafka(), **settings))
        app.state.registry.seed = False
        try:
            async with LifespanManager(app, startup_timeout=120, shutdown_timeout=30):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://intake", headers=OPERATOR) as c:
                    yield c
        finally:
            await drop_database(url)

    return start


def upload(files: DistrictFiles, *, workers_name: str = "workers.csv") -> dict[str, tuple[str, bytes]]:
    parts = {
        "communities": ("communities.geojson", files.communities),
        "grids": ("grids.geojson", files.grids),
        "workers": (workers_name, files.workers),
    }
    if files.streets is not None:
        parts["streets"] = ("streets.geojson", files.streets)
    return parts


async def import_files(
    client: httpx.AsyncClient, files: DistrictFiles, *, workers_name: str = "workers.csv", **form: Any
) -> httpx.Response:
    data = {k: str(v).lower() if isinstance(v, bool) else v for k, v in form.items()}
    return await client.post("/v1/registry/imports", files=upload(files, workers_name=workers_name), data=data)


def report(worker_id: str, grid_id: str, lat: float, lon: float) -> dict[str, Any]:
    return {
        "client_report_id": str(uuid.uuid4()),
        "worker_id": worker_id,
        "grid_id": grid_id,
        "description": "楼道里堆满了杂物",
        "location": {"lat": lat, "lon": lon, "address": "金牛区测试路1号"},
        "occurred_at": "2026-11-25T09:12:00+08:00",
        "resident": {"name": "张秀英", "phone": "13812345678", "notify_consent": False, "channel": "none"},
    }


async def post_report(
    client: httpx.AsyncClient, worker_id: str, grid_id: str, lat: float, lon: float
) -> httpx.Response:
    """A report posted with the worker's own credentials."""
    return await client.post("/v1/reports", json=report(worker_id, grid_id, lat, lon), headers=as_worker(worker_id))


def centre(column: int) -> tuple[float, float]:
    """(lat, lon) of the middle of the small district's grid in `column`."""
    return ORIGIN[1] + SIZE / 2, ORIGIN[0] + (column + 0.5) * SIZE


async def test_an_empty_registry_is_announced_at_start_and_refuses_reports_until_imported(intake: Intake) -> None:
    captured = Captured()
    logging.getLogger("services.intake.registry").addHandler(captured)
    try:
        async with intake() as client:
            assert EMPTY_REGISTRY_MESSAGE in captured.messages
            summary = (await client.get("/v1/registry")).json()
            assert summary["counts"]["grids"] == 0 and summary["version"] is None
            lat, lon = centre(0)
            refused = await post_report(client, "T-W1", "T-G1", lat, lon)
            assert refused.status_code == 503 and refused.json()["detail"] == EMPTY_REGISTRY_MESSAGE

            assert (await import_files(client, District().files())).status_code == 200
            accepted = await client.post(
                "/v1/reports", json=report("T-W1", "T-G1", lat, lon), headers=as_worker("T-W1")
            )
            assert accepted.status_code == 202, accepted.text
    finally:
        logging.getLogger("services.intake.registry").removeHandler(captured)


async def test_an_import_is_previewed_applied_once_and_the_same_files_change_nothing(intake: Intake) -> None:
    files = District().files()
    async with intake() as client:
        preview = (await import_files(client, files, dry_run=True)).json()
        assert preview["applied"] is False and preview["version"] is None
        assert preview["summary"] == {
            "street": {"added": 1},
            "community": {"added": 2},
            "grid": {"added": 4},
            "worker": {"added": 4},
        }
        assert "+ grid T-G1" in preview["preview"]
        assert (await client.get("/v1/registry")).json()["counts"]["grids"] == 0

        applied = (await import_files(client, files)).json()
        assert applied["applied"] is True and applied["version"] == 1
        grid = (await client.get("/v1/registry/grids/T-G2")).json()
        assert grid["boundary"]["type"] == "Polygon" and grid["worker_ids"] == ["T-W2"] and grid["active"] is True

        again = (await import_files(client, files)).json()
        assert again == {**again, "applied": False, "version": 1, "summary": {}, "preview": []}
        audit = (await client.get("/v1/audit", params={"action": "import_registry"})).json()
        assert len(audit) == 1 and audit[0]["actor"] == "operator:测试值班员"
        assert audit[0]["detail"]["grid"] == {"added": 4}


async def test_problems_in_the_files_are_all_answered_with_their_places_and_nothing_changes(intake: Intake) -> None:
    district = District()
    district.workers[1][3] = "T-G7"
    district.grids.append(district.grid(1, "T-C1", square(0)))
    async with intake() as client:
        response = await import_files(client, district.files())
        assert response.status_code == 422
        problems = {(*p["loc"], p["msg"]) for p in response.json()["detail"]}
        assert ("body", "workers", "line 3", "worker T-W2: grid T-G7 is not in the grids file") in problems
        assert ("body", "grids", "feature 5", "duplicate grid_id T-G1 (first at feature 1)") in problems
        assert (await client.get("/v1/registry")).json()["version"] is None


async def test_the_generated_district_imports_in_seconds(intake: Intake) -> None:
    """998 grids and 1,438 workers through the operator API; the time is printed (measured, not asserted)."""
    registry = default_registry()
    files = district_files(registry)
    async with intake() as client:
        started = time.perf_counter()
        response = await import_files(client, files)
        first = time.perf_counter() - started
        assert response.status_code == 200, response.text[:500]
        assert response.json()["summary"] == {
            "street": {"added": 13},
            "community": {"added": 108},
            "grid": {"added": 998},
            "worker": {"added": 1438},
        }
        started = time.perf_counter()
        again = (await import_files(client, files)).json()
        second = time.perf_counter() - started
        assert again["applied"] is False and again["summary"] == {}
        counts = (await client.get("/v1/registry")).json()["counts"]
        assert counts == registry.counts
        print(f"\nimport of 998 grids + 1,438 workers: {first:.2f} s; the same files again: {second:.2f} s")


async def test_a_merged_grid_keeps_its_open_cases_and_new_reports_use_the_new_grid(intake: Intake) -> None:
    async with intake() as client:
        await import_files(client, District().files())
        lat, lon = centre(2)
        old = await post_report(client, "T-W3", "T-G3", lat, lon)
        assert old.status_code == 202
        case_id = old.json()["case_id"]

        merged = District()
        merged.grids = [merged.grids[0], merged.grids[1], merged.grid(5, "T-C2", square(2, width=2))]
        merged.workers[2][3] = merged.workers[3][3] = "T-G5"
        change = (await import_files(client, merged.files())).json()
        assert change["changes"]["deactivated"] == {"grid": ["T-G3", "T-G4"]}

        case = (await client.get(f"/v1/cases/{case_id}")).json()
        assert case["grid_id"] == "T-G3" and case["worker_id"] == "T-W3"
        refused = await post_report(client, "T-W3", "T-G3", lat, lon)
        assert refused.status_code == 422 and "no longer in use" in refused.text
        new = await post_report(client, "T-W3", "T-G5", lat, lon)
        assert new.status_code == 202
        assert (await client.get(f"/v1/cases/{new.json()['case_id']}")).json()["grid_id"] == "T-G5"
        grid = (await client.get("/v1/registry/grids/T-G3")).json()
        assert grid["active"] is False


async def test_a_departed_workers_credentials_stop_working_and_their_cases_stay_theirs(intake: Intake) -> None:
    async with intake() as client:
        await import_files(client, District().files())
        lat, lon = centre(1)
        worker = as_worker("T-W2")
        posted = await client.post("/v1/reports", json=report("T-W2", "T-G2", lat, lon), headers=worker)
        case_id = posted.json()["case_id"]

        left = await client.put("/v1/registry/workers/T-W2/active", json={"active": False})
        assert left.status_code == 200 and left.json()["active"] is False
        again = await client.post("/v1/reports", json=report("T-W2", "T-G2", lat, lon), headers=worker)
        assert again.status_code == 401 and "deactivated" in again.json()["detail"]
        assert (await client.get(f"/v1/cases/{case_id}", headers=worker)).status_code == 401
        case = await client.get(f"/v1/cases/{case_id}")
        assert case.status_code == 200 and case.json()["worker_id"] == "T-W2"
        assert (await client.post("/v1/registry/workers/T-W2/tokens", json={"days": 1})).status_code == 409

        # The grid may not be retired while an active worker walks it; the departed one does not count.
        assert (await client.put("/v1/registry/grids/T-G1/active", json={"active": False})).status_code == 409
        assert (await client.put("/v1/registry/grids/T-G2/active", json={"active": False})).status_code == 200

        back = await client.put("/v1/registry/workers/T-W2/active", json={"active": True})
        assert back.status_code == 200
        audit = (await client.get("/v1/audit", params={"actor": "operator:测试值班员"})).json()
        assert {"deactivate_worker", "activate_worker"} <= {e["action"] for e in audit if e["target"] == "T-W2"}


async def test_a_report_placed_outside_its_grid_is_accepted_and_flagged(intake: Intake) -> None:
    async with intake(place_tolerance_m=150) as client:
        await import_files(client, District().files())
        lat, _ = centre(0)
        # Grid T-G1 spans 104.200-104.202 E: 104.2034 is ~135 m east of it, 104.2050 ~290 m (in T-G3).
        near = await post_report(client, "T-W1", "T-G1", lat, 104.2034)
        far = await post_report(client, "T-W1", "T-G1", lat, 104.2050)
        assert near.status_code == 202 and far.status_code == 202
        flagged = (await client.get("/v1/cases/outside-grid")).json()
        assert [c["case_id"] for c in flagged] == [far.json()["case_id"]]
        assert flagged[0]["located_grid_id"] == "T-G3" and 280 < flagged[0]["outside_grid_m"] < 300
        case = (await client.get(f"/v1/cases/{near.json()['case_id']}")).json()
        assert case["outside_grid_m"] is None


async def test_an_open311_request_is_placed_in_the_grid_whose_boundary_holds_it(intake: Intake) -> None:
    async with intake() as client:
        await import_files(client, District().files())
        lat, lon = centre(3)
        form = {"api_key": DEV_OPEN311_API_KEY, "service_code": "S03", "lat": str(lat), "long": str(lon)}
        placed = await client.post("/open311/v2/requests.json", data=form)
        assert placed.status_code == 200, placed.text
        case = (await client.get(f"/v1/cases/{placed.json()[0]['service_request_id']}")).json()
        assert case["grid_id"] == "T-G4" and case["community_id"] == "T-C2"
        outside = await client.post("/open311/v2/requests.json", data={**form, "lat": str(lat + 0.01)})
        assert outside.status_code == 400 and "outside the district" in outside.text


async def test_the_generated_district_imports_through_the_api_exports_back_and_places_requests(
    intake: Intake,
) -> None:
    async with intake() as client:
        files = district_files(default_registry())
        first = (await import_files(client, files)).json()
        assert first["applied"] is True and first["summary"]["grid"] == {"added": 998}
        assert first["summary"]["street"] == {"added": 13} and first["summary"]["community"] == {"added": 108}
        again = (await import_files(client, files)).json()
        assert again["applied"] is False and again["version"] == first["version"]
        # The operator's export: the stored boundaries, which import back unchanged.
        exported = {
            name: (await client.get(f"/v1/registry/files/{name}")).content
            for name in ("streets.geojson", "communities.geojson", "grids.geojson", "workers.csv")
        }
        assert exported["communities.geojson"] == files.communities and exported["grids.geojson"] == files.grids
        back = DistrictFiles(
            communities=exported["communities.geojson"],
            grids=exported["grids.geojson"],
            workers=exported["workers.csv"],
            streets=exported["streets.geojson"],
        )
        assert (await import_files(client, back)).json()["applied"] is False
        assert (await client.get("/v1/registry/files/roads.geojson")).status_code == 404
        registry = default_registry()
        grid = registry.grids[42]
        form = {"api_key": DEV_OPEN311_API_KEY, "service_code": "S03", "lat": str(grid.lat), "long": str(grid.lon)}
        placed = (await client.post("/open311/v2/requests.json", data=form)).json()
        case = (await client.get(f"/v1/cases/{placed[0]['service_request_id']}")).json()
        assert case["grid_id"] == grid.grid_id


def drawn(n: int, community_id: str, x0: float, x1: float) -> dict[str, Any]:
    """A grid posted to the redraw: the small district's row between longitudes x0 and x1."""
    y0, y1 = ORIGIN[1], ORIGIN[1] + SIZE
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {
        "grid_id": f"T-G{n}",
        "community_id": community_id,
        "name": f"第{n}网格",
        "households": 250,
        "lat": (y0 + y1) / 2,
        "lon": (x0 + x1) / 2,
        "boundary": {"type": "Polygon", "coordinates": [ring]},
    }


async def test_a_split_grid_is_redrawn_through_the_api_and_its_old_cases_keep_it(intake: Intake) -> None:
    async with intake() as client:
        await import_files(client, District().files())
        lat, lon = centre(0)
        old = await post_report(client, "T-W1", "T-G1", lat, lon)
        x0, mid, x1 = ORIGIN[0], ORIGIN[0] + SIZE / 2, ORIGIN[0] + SIZE
        split = {
            "retire": ["T-G1"],
            "grids": [drawn(6, "T-C1", x0, mid), drawn(7, "T-C1", mid, x1)],
            "workers": [{"worker_id": "T-W1", "grid_ids": ["T-G6", "T-G7"]}],
        }
        half = {**split, "grids": split["grids"][:1], "workers": [{"worker_id": "T-W1", "grid_ids": ["T-G6"]}]}
        uncovered = await client.post("/v1/registry/grids/redraw", json=half)
        assert uncovered.status_code == 409 and "uncovered" in uncovered.json()["detail"]
        stranded = await client.post("/v1/registry/grids/redraw", json={**split, "workers": []})
        assert stranded.status_code == 422
        assert any(p["loc"][1] == "workers" and "T-G1" in p["msg"] for p in stranded.json()["detail"])

        preview = (await client.post("/v1/registry/grids/redraw", json={**split, "dry_run": True})).json()
        assert preview["applied"] is False and preview["summary"]["grid"] == {"added": 2, "deactivated": 1}
        applied = (await client.post("/v1/registry/grids/redraw", json=split)).json()
        assert applied["applied"] is True and applied["changes"]["deactivated"] == {"grid": ["T-G1"]}

        assert (await client.get(f"/v1/cases/{old.json()['case_id']}")).json()["grid_id"] == "T-G1"
        assert (await post_report(client, "T-W1", "T-G1", lat, lon)).status_code == 422
        new = await post_report(client, "T-W1", "T-G7", lat, mid + SIZE / 4)
        assert new.status_code == 202
        audit = (await client.get("/v1/audit", params={"action": "redraw_grids"})).json()
        assert len(audit) == 1 and audit[0]["detail"]["grid"] == {"added": 2, "deactivated": 1}


async def test_gcj02_files_and_an_xlsx_workers_sheet_import_through_the_api(intake: Intake) -> None:
    from coord_convert.transform import wgs2gcj
    from openpyxl import Workbook

    district = District()
    for feature in district.grids + district.communities + district.streets:
        ring = feature["geometry"]["coordinates"][0]
        feature["geometry"]["coordinates"] = [[list(wgs2gcj(lon, lat)) for lon, lat in ring]]
    book = Workbook()
    sheet = book.active
    sheet.append(["worker_id", "name", "phone", "grids", "active"])
    for row in district.workers:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    files = DistrictFiles(
        communities=district.files().communities,
        grids=district.files().grids,
        workers=buffer.getvalue(),
        streets=district.files().streets,
    )
    async with intake() as client:
        result = await import_files(client, files, workers_name="workers.xlsx", datum="gcj02")
        assert result.status_code == 200, result.text[:500]
        # Converted back to WGS84: the WGS84 centre of grid 2 lies in grid 2.
        lat, lon = centre(1)
        assert (await post_report(client, "T-W2", "T-G2", lat, lon)).status_code == 202
        assert (await client.get("/v1/cases/outside-grid")).json() == []
        corner = (await client.get("/v1/registry/grids/T-G1")).json()["boundary"]["coordinates"][0][0]
        assert corner == pytest.approx([ORIGIN[0], ORIGIN[1]], abs=2e-6)  # within ~0.2 m
