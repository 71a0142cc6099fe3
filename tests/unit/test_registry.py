"""The generated Jinniu registry: exact scale, consistent links, deterministic."""

from __future__ import annotations

import json

import pytest

from gridloop.registry import NotInRegistry, Registry, default_registry, generate_registry


@pytest.fixture(scope="module")
def registry() -> Registry:
    return default_registry()


def test_registry_has_jinniu_scale(registry: Registry) -> None:
    counts = registry.counts
    assert (counts["streets"], counts["communities"], counts["grids"], counts["workers"]) == (13, 108, 998, 1438)


def test_ids_are_unique_and_well_formed(registry: Registry) -> None:
    for prefix, ids in (
        ("JN-C", [c.community_id for c in registry.communities]),
        ("JN-G", [g.grid_id for g in registry.grids]),
        ("JN-W", [w.worker_id for w in registry.workers]),
    ):
        assert len(set(ids)) == len(ids)
        assert all(i.startswith(prefix) for i in ids)
    assert registry.communities[0].community_id == "JN-C001"
    assert registry.grids[-1].grid_id == "JN-G0998"
    assert registry.workers[-1].worker_id == "JN-W1438"


def test_every_grid_belongs_to_a_community_and_has_a_worker(registry: Registry) -> None:
    for grid in registry.grids:
        assert registry.community(grid.community_id)
        assert registry.workers_of(grid.grid_id)
    assert any(len(registry.workers_of(g.grid_id)) >= 2 for g in registry.grids)


def test_every_worker_is_assigned_to_existing_grids(registry: Registry) -> None:
    for worker in registry.workers:
        assert worker.grid_ids
        assert all(registry.is_assigned(worker.worker_id, g.grid_id) for g in registry.grids_of(worker.worker_id))


def test_households_average_about_535(registry: Registry) -> None:
    sizes = [g.households for g in registry.grids]
    assert sum(sizes) / len(sizes) == pytest.approx(535, abs=1)
    assert len(set(sizes)) > 100


def test_grid_centres_lie_inside_jinniu(registry: Registry) -> None:
    assert all(30.68 <= g.lat <= 30.76 and 103.99 <= g.lon <= 104.10 for g in registry.grids)


def test_generation_is_deterministic() -> None:
    """Same seed, same district, boundaries included (its speed is measured by `python -m bench.registry`)."""
    first = generate_registry()
    assert first == generate_registry()
    assert first.to_json() == generate_registry().to_json()


def test_unassigned_worker_and_unknown_ids(registry: Registry) -> None:
    worker = registry.workers[0]
    other = next(g for g in registry.grids if g.grid_id not in worker.grid_ids)
    assert not registry.is_assigned(worker.worker_id, other.grid_id)
    assert not registry.is_assigned("JN-W9999", other.grid_id)
    with pytest.raises(NotInRegistry):
        registry.grid("JN-G9999")
    with pytest.raises(NotInRegistry):
        registry.worker("nobody")


def test_json_export_round_trips(registry: Registry) -> None:
    data = json.loads(registry.to_json())
    assert len(data["grids"]) == 998
    assert Registry.from_dict(data) == registry
