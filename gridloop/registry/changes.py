"""What an import changes: the registry in force against the one the files describe.

Nothing is deleted: a grid or worker the files no longer list is deactivated (cases keep naming it), one listed
again is reactivated; a community or street the files no longer list is kept for the grids that still name it.
Boundaries are compared exactly (their WKB): a community's or street's boundary changes when the file redraws it,
or when it is dissolved from grids that were redrawn. Importing
the files the registry came from changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from shapely.geometry.base import BaseGeometry

from gridloop.registry.models import Community, Grid, Registry, Street, Worker, grid_dict, worker_dict


@dataclass(frozen=True)
class RegistryChange:
    """The registry after the change (`result`) and what differs, id by id."""

    result: Registry
    added: dict[str, list[str]] = field(default_factory=dict)  # kind -> ids
    changed: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # kind -> id -> fields changed
    deactivated: dict[str, list[str]] = field(default_factory=dict)
    reactivated: dict[str, list[str]] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not any((self.added, self.changed, self.deactivated, self.reactivated))

    @property
    def communities(self) -> list[Community]:
        """Communities to write (added or changed)."""
        ids = set(self.added.get("community", [])) | set(self.changed.get("community", {}))
        return [c for c in self.result.communities if c.community_id in ids]

    @property
    def streets(self) -> list[Street]:
        """Streets to write (added or changed)."""
        names = set(self.added.get("street", [])) | set(self.changed.get("street", {}))
        return [s for s in self.result.streets if s.name in names]

    @property
    def grids(self) -> list[Grid]:
        ids = self._ids("grid")
        return [g for g in self.result.grids if g.grid_id in ids]

    @property
    def workers(self) -> list[Worker]:
        ids = self._ids("worker")
        return [w for w in self.result.workers if w.worker_id in ids]

    def _ids(self, kind: str) -> set[str]:
        return (
            set(self.added.get(kind, []))
            | set(self.changed.get(kind, {}))
            | set(self.deactivated.get(kind, []))
            | set(self.reactivated.get(kind, []))
        )

    def summary(self) -> dict[str, dict[str, int]]:
        """Counts per kind: added, changed, deactivated, reactivated (the audit entry's detail)."""
        counts: dict[str, dict[str, int]] = {}
        for what, by_kind in (
            ("added", self.added),
            ("changed", self.changed),
            ("deactivated", self.deactivated),
            ("reactivated", self.reactivated),
        ):
            for kind, ids in by_kind.items():
                counts.setdefault(kind, {})[what] = len(ids)
        return counts

    def preview(self, *, limit: int = 20) -> list[str]:
        """The diff as lines for a person: `+` added, `~` changed (which fields), `-` deactivated, `^` reactivated."""
        lines: list[str] = []
        for sign, by_kind in (("+", self.added), ("-", self.deactivated), ("^", self.reactivated)):
            for kind, ids in by_kind.items():
                lines += [f"{sign} {kind} {i}" for i in ids[:limit]]
                if len(ids) > limit:
                    lines.append(f"{sign} … and {len(ids) - limit} more {kind}s")
        for kind, by_id in self.changed.items():
            items = list(by_id.items())
            lines += [f"~ {kind} {i}: {', '.join(fields)}" for i, fields in items[:limit]]
            if len(items) > limit:
                lines.append(f"~ … and {len(items) - limit} more {kind}s")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "changed": self.changed,
            "deactivated": self.deactivated,
            "reactivated": self.reactivated,
        }


def plan_import(current: Registry, imported: Registry) -> RegistryChange:
    """The change that makes the registry in force what the files describe."""
    added: dict[str, list[str]] = {}
    changed: dict[str, dict[str, list[str]]] = {}
    deactivated: dict[str, list[str]] = {}
    reactivated: dict[str, list[str]] = {}

    def compare(kind: str, key: str, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        if before is None:
            added.setdefault(kind, []).append(key)
            return
        if before.get("active", True) != after.get("active", True):
            (reactivated if after.get("active", True) else deactivated).setdefault(kind, []).append(key)
        fields = [f for f in after if f != "active" and before.get(f) != after.get(f)]
        if fields:
            changed.setdefault(kind, {})[key] = fields

    old_streets = {s.name: s for s in current.streets}
    for street in imported.streets:
        before_street = old_streets.get(street.name)
        compare("street", street.name, _street(before_street) if before_street else None, _street(street))
    old_communities = {c.community_id: c for c in current.communities}
    for c in imported.communities:
        before = old_communities.get(c.community_id)
        compare("community", c.community_id, _community(before) if before else None, _community(c))
    old_grids = {g.grid_id: g for g in current.grids}
    for g in imported.grids:
        before_grid = old_grids.get(g.grid_id)
        compare("grid", g.grid_id, _grid(before_grid) if before_grid else None, _grid(g))
    old_workers = {w.worker_id: w for w in current.workers}
    for w in imported.workers:
        before_worker = old_workers.get(w.worker_id)
        compare("worker", w.worker_id, worker_dict(before_worker) if before_worker else None, worker_dict(w))

    listed_grids = {g.grid_id for g in imported.grids}
    kept_grids = [replace(g, active=False) for g in current.grids if g.grid_id not in listed_grids]
    listed_workers = {w.worker_id for w in imported.workers}
    kept_workers = [replace(w, active=False) for w in current.workers if w.worker_id not in listed_workers]
    deactivated_grids = [g.grid_id for g in current.grids if g.grid_id not in listed_grids and g.active]
    deactivated_workers = [w.worker_id for w in current.workers if w.worker_id not in listed_workers and w.active]
    if deactivated_grids:
        deactivated.setdefault("grid", []).extend(deactivated_grids)
    if deactivated_workers:
        deactivated.setdefault("worker", []).extend(deactivated_workers)
    listed_communities = {c.community_id for c in imported.communities}
    listed_streets = {s.name for s in imported.streets}
    result = Registry(
        streets=(*imported.streets, *(s for s in current.streets if s.name not in listed_streets)),
        communities=(
            *imported.communities,
            *(c for c in current.communities if c.community_id not in listed_communities),
        ),
        grids=(*imported.grids, *kept_grids),
        workers=(*imported.workers, *kept_workers),
    )
    return RegistryChange(result, added, changed, deactivated, reactivated)


def _community(community: Community) -> dict[str, Any]:
    return {"name": community.name, "street": community.street, "boundary": _wkb(community.boundary)}


def _street(street: Street) -> dict[str, Any]:
    return {"boundary": _wkb(street.boundary)}


def _wkb(geometry: BaseGeometry | None) -> bytes | None:
    return geometry.wkb if geometry is not None else None  # exact, comparable bytes


def _grid(grid: Grid) -> dict[str, Any]:
    data = grid_dict(grid)
    data["boundary"] = _wkb(grid.boundary)
    return data
