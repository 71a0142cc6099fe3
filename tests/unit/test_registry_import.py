"""Reading a district's registry files: every problem found with its file and feature or line, GCJ-02 and XLSX
read, and the difference from the registry in force (nothing, when the same files come again)."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from shapely.geometry import shape

from gridloop.registry import Registry, default_registry
from gridloop.registry.changes import plan_import
from gridloop.registry.geojson import district_files
from gridloop.registry.importer import ImportRejected, Problem, read_district
from gridloop.registry.places import LocalPlane
from tests.support.district import SIZE, District, square

EMPTY = Registry((), (), ())


def problems(district: District, **kwargs: object) -> list[str]:
    with pytest.raises(ImportRejected) as rejected:
        read_district(district.files(), **kwargs)  # type: ignore[arg-type]
    return [str(p) for p in rejected.value.problems]


def test_the_generated_district_reads_back_as_it_was_generated() -> None:
    registry = default_registry()
    assert read_district(district_files(registry)) == registry


def test_importing_the_registry_in_force_changes_nothing() -> None:
    registry = default_registry()
    change = plan_import(registry, read_district(district_files(registry)))
    assert change.is_empty and change.preview() == [] and change.result == registry


def test_a_small_district_reads_with_points_inside_each_grid() -> None:
    registry = read_district(District().files())
    assert [g.grid_id for g in registry.grids] == ["T-G1", "T-G2", "T-G3", "T-G4"]
    assert all(registry.grid_at(g.lat, g.lon) == g for g in registry.grids)
    assert registry.worker("T-W3").grid_ids == ("T-G3",)


def test_overlapping_grids_are_named_with_their_features() -> None:
    district = District()
    district.grids[1] = district.grid(2, "T-C1", [[[c[0] - SIZE / 2, c[1]] for c in square(1)[0]]])
    found = problems(district)
    assert any(p.startswith("grids: feature 1: grid T-G1 overlaps grid T-G2 (feature 2) by") for p in found), found


def test_a_gap_between_grids_is_reported_where_it_is() -> None:
    district = District()
    # Four grids round a hole: G2 shrunk leaves a strip inside the community.
    x0, y0 = square(1)[0][0]
    district.grids[1] = district.grid(
        2, "T-C1", [[[x0, y0], [x0 + SIZE / 2, y0], [x0 + SIZE / 2, y0 + SIZE], [x0, y0 + SIZE], [x0, y0]]]
    )
    found = problems(district)
    assert any("community T-C1:" in p and "not covered by its grids" in p for p in found), found


def test_a_hole_enclosed_by_grids_is_a_gap_even_without_community_boundaries() -> None:
    district = District()
    for community in district.communities:
        community["geometry"] = None
    x0, y0 = square(0)[0][0]
    outer = [[x0, y0], [x0 + SIZE, y0], [x0 + SIZE, y0 + SIZE], [x0, y0 + SIZE], [x0, y0]]
    inner = [
        [x0 + SIZE / 4, y0 + SIZE / 4],
        [x0 + SIZE / 2, y0 + SIZE / 4],
        [x0 + SIZE / 2, y0 + SIZE / 2],
        [x0 + SIZE / 4, y0 + SIZE / 2],
        [x0 + SIZE / 4, y0 + SIZE / 4],
    ]
    district.grids[0] = district.grid(1, "T-C1", [outer, inner])
    found = problems(district)
    assert any(p.startswith("grids: a gap of") and "between grids around" in p for p in found), found


def test_a_worker_on_an_unknown_grid_is_reported_by_line() -> None:
    district = District()
    district.workers[2][3] = "T-G3;T-G9"
    assert problems(district) == ["workers: line 4: worker T-W3: grid T-G9 is not in the grids file"]


def test_duplicate_ids_name_both_places() -> None:
    district = District()
    district.grids.append(district.grid(4, "T-C2", square(4)))
    district.workers.append(["T-W1", "重名", "13900009999", "T-G1", "true"])
    district.communities.append(district.communities[0])
    found = problems(district)
    assert "grids: feature 5: duplicate grid_id T-G4 (first at feature 4)" in found
    assert "workers: line 6: duplicate worker_id T-W1 (first at line 2)" in found
    assert "communities: feature 3: duplicate community_id T-C1 (first at feature 1)" in found


def test_invalid_polygons_are_refused_with_the_reason() -> None:
    district = District()
    x0, y0 = square(0)[0][0]
    bowtie = [[[x0, y0], [x0 + SIZE, y0 + SIZE], [x0 + SIZE, y0], [x0, y0 + SIZE], [x0, y0]]]
    district.grids[0] = district.grid(1, "T-C1", bowtie)
    district.grids[1]["geometry"] = {"type": "LineString", "coordinates": [[x0, y0], [x0 + SIZE, y0]]}
    district.grids[2]["geometry"] = {"type": "Polygon", "coordinates": [[[1, 2]]]}
    district.grids[3]["geometry"] = {
        "type": "Polygon",
        "coordinates": [[[30.9, 104.2], [30.9, 104.3], [31, 104.3], [30.9, 104.2]]],
    }
    found = problems(district)
    assert any(p.startswith("grids: feature 1: invalid polygon: Self-intersection") for p in found), found
    assert "grids: feature 2: the boundary must be a Polygon or MultiPolygon, not LineString" in found
    assert any(p.startswith("grids: feature 3: invalid geometry") for p in found), found
    assert "grids: feature 4: coordinates out of range: GeoJSON is [longitude, latitude] in degrees" in found
    assert not [p for p in found if "has no boundary" in p or p.startswith("workers")], "no follow-on problems"


def test_a_grid_outside_its_community_and_unknown_names_are_reported() -> None:
    district = District()
    district.grids[2] = district.grid(3, "T-C1", square(2))  # drawn in C2's area, named in C1
    district.grids[3] = district.grid(4, "T-C9", square(3))
    district.communities[1]["properties"]["street"] = "别的街道"
    found = problems(district)
    assert any(p.startswith("grids: feature 3: grid T-G3:") and "outside community T-C1" in p for p in found), found
    assert "grids: feature 4: grid T-G4: community T-C9 is not in the communities file" in found
    assert "communities: feature 2: street 别的街道 is not in the streets file" in found


def test_a_community_outside_its_street_is_reported() -> None:
    district = District()
    district.streets[0]["geometry"]["coordinates"] = square(0, width=3)  # the street no longer reaches grid 4
    assert problems(district) == ["communities: feature 2: community T-C2: 42,437 m² outside street T街道"]


def test_bad_rows_and_properties_are_reported_each_in_its_place() -> None:
    district = District()
    district.workers[0][2] = "12345"
    district.workers[1][4] = "maybe"
    district.grids[0]["properties"]["households"] = "many"
    district.grids[1]["properties"].update(lat=31.5, lon=104.2)
    found = problems(district)
    assert "workers: line 2: phone '12345' is not valid" in found
    assert "workers: line 3: active must be true or false, not 'maybe'" in found
    assert "grids: feature 1: households must be a whole number ≥ 0, not 'many'" in found
    assert "grids: feature 2: the grid's point (31.5, 104.2) lies outside its boundary" in found


def test_files_that_are_not_geojson_or_lack_columns_are_refused() -> None:
    files = replace(District().files(), grids=b"{not json", workers=b"name,phone\n")
    with pytest.raises(ImportRejected) as rejected:
        read_district(files)
    found = [str(p) for p in rejected.value.problems]
    assert found[0].startswith("grids: not valid JSON")
    assert "workers: line 1: missing column(s): worker_id, grids" in found


def test_workers_read_from_an_xlsx_workbook() -> None:
    from openpyxl import Workbook

    district = District()
    district.workers[3][4] = "离职"
    book = Workbook()
    sheet = book.active
    sheet.append(["worker_id", "name", "phone", "grids", "active"])
    for row in district.workers:
        sheet.append(row)
    sheet.append(["T-W5", "新人", 13900000005, "T-G1；T-G2", None])  # a number cell, a full-width separator
    buffer = io.BytesIO()
    book.save(buffer)
    registry = read_district(replace(district.files(), workers=buffer.getvalue(), workers_format="xlsx"))
    assert registry.worker("T-W4").active is False
    assert registry.worker("T-W5") == registry.worker("T-W5").__class__(
        "T-W5", "新人", "13900000005", ("T-G1", "T-G2"), active=True
    )


def test_gcj02_files_are_converted_to_wgs84() -> None:
    from coord_convert.transform import wgs2gcj

    wgs = District()
    gcj = District()
    for grid in gcj.grids + gcj.communities + gcj.streets:
        ring = grid["geometry"]["coordinates"][0]
        grid["geometry"]["coordinates"] = [[list(wgs2gcj(lon, lat)) for lon, lat in ring]]
    converted = read_district(gcj.files(), datum="gcj02")
    expected = read_district(wgs.files())
    plane = LocalPlane(30.9, 104.2)
    for a, b in zip(converted.grids, expected.grids, strict=True):
        assert plane.project(a.boundary).hausdorff_distance(plane.project(b.boundary)) < 0.2  # metres


def test_a_merge_retires_two_grids_and_moves_their_workers_to_the_new_one() -> None:
    before = read_district(District().files())
    merged = District()
    merged.grids = [merged.grids[0], merged.grid(5, "T-C2", square(2, width=2)), merged.grids[1]]
    merged.workers[2][3] = "T-G5"
    merged.workers[3][3] = "T-G5"
    change = plan_import(before, read_district(merged.files()))
    assert change.added == {"grid": ["T-G5"]}
    assert change.deactivated == {"grid": ["T-G3", "T-G4"]}
    assert change.changed == {"worker": {"T-W3": ["grid_ids"], "T-W4": ["grid_ids"]}}
    assert "- grid T-G3" in change.preview() and "~ worker T-W3: grid_ids" in change.preview()
    after = change.result
    assert after.grid("T-G3").active is False and after.grid_at(30.9 + SIZE / 2, 104.2 + 2.5 * SIZE).grid_id == "T-G5"
    assert plan_import(after, read_district(merged.files())).is_empty


def test_a_worker_left_out_of_the_file_is_deactivated_not_deleted() -> None:
    before = read_district(District().files())
    district = District()
    del district.workers[0]
    change = plan_import(before, read_district(district.files()))
    assert change.deactivated == {"worker": ["T-W1"]}
    assert change.result.worker("T-W1").active is False


def test_problem_text_names_file_and_place() -> None:
    assert str(Problem("grids", "feature 3", "bad")) == "grids: feature 3: bad"
    assert str(Problem("grids", "", "bad")) == "grids: bad"
    assert shape({"type": "Polygon", "coordinates": square(0)}).is_valid


def test_communities_and_streets_without_a_drawn_boundary_are_dissolved_from_their_grids() -> None:
    district = District()
    for community in district.communities:
        community["geometry"] = None
    district.streets[0]["geometry"] = None
    registry = read_district(district.files())
    c1 = registry.community("T-C1")
    expected = shape({"type": "Polygon", "coordinates": square(0, width=2)})
    assert c1.boundary is not None and c1.boundary.symmetric_difference(expected).area < 1e-12
    (street,) = registry.streets
    expected = shape({"type": "Polygon", "coordinates": square(0, width=4)})
    assert street.name == "T街道" and street.boundary is not None
    assert street.boundary.symmetric_difference(expected).area < 1e-12


def test_a_street_its_communities_leave_uncovered_or_overrun_is_reported() -> None:
    district = District()
    for community in district.communities:
        community["geometry"] = None  # dissolved from the grids: checked against the street all the same
    district.streets[0]["geometry"] = {"type": "Polygon", "coordinates": square(0, width=3)}
    found = problems(district)
    assert any(p.startswith("communities: community T-C2 (its grids):") and "outside street T街道" in p for p in found)
    district.streets[0]["geometry"] = {"type": "Polygon", "coordinates": square(0, width=5)}
    found = problems(district)
    assert any(p.startswith("streets: street T街道:") and "not covered by its communities" in p for p in found)


def test_a_redrawn_community_or_street_boundary_is_a_change_and_the_same_one_is_not() -> None:
    before = read_district(District().files())
    assert plan_import(before, read_district(District().files())).is_empty
    district = District()
    district.grids[1] = district.grid(2, "T-C2", square(1))  # T-G2 moves to the second community
    district.communities[0]["geometry"] = {"type": "Polygon", "coordinates": square(0)}
    district.communities[1]["geometry"]["coordinates"] = square(1, width=3)
    change = plan_import(before, read_district(district.files()))
    assert change.changed["community"] == {"T-C1": ["boundary"], "T-C2": ["boundary"]}
    assert "street" not in change.changed  # the street's own drawing did not move


def test_a_place_is_the_polygon_holding_the_point_else_the_reported_grid() -> None:
    from gridloop.registry.places import place_of

    registry = read_district(District().files())
    g3 = registry.grid("T-G3")
    # Named T-G2 (community T-C1) but lying in T-G3: counts in T-G3's community and street.
    across = place_of(registry, "T-G2", g3.lat, g3.lon)
    assert (across.grid_id, across.community_id, across.street, across.by) == ("T-G3", "T-C2", "T街道", "location")
    nowhere = place_of(registry, "T-G2", 31.5, 104.2)  # outside the district
    assert (nowhere.grid_id, nowhere.community_id, nowhere.by) == ("T-G2", "T-C1", "reported_grid")
    assert place_of(registry, "T-G2", None, None).by == "reported_grid"
