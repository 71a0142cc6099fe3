"""Jinniu district's grid registry: communities, grids and the grid workers assigned to them."""

from gridloop.registry.generate import default_registry, generate_registry
from gridloop.registry.models import Community, Grid, NotInRegistry, Registry, Street, Worker

__all__ = [
    "Community",
    "Grid",
    "NotInRegistry",
    "Registry",
    "Street",
    "Worker",
    "default_registry",
    "generate_registry",
]
