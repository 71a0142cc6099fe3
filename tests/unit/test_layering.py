"""The shared packages are layers: contracts → delivery → auth → servicekit → services, each importing only the
layers before it, so none of them can be imported half-built through a cycle. Operator commands (gridloop/ops)
sit on top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("contracts", "delivery", "auth", "servicekit")


def imported_packages(package: str, root: Path = ROOT) -> dict[str, set[str]]:
    """Top-level GridLoop packages each module of gridloop/<package> imports (at any depth of the module)."""
    found: dict[str, set[str]] = {}
    for path in sorted((root / "gridloop" / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(root))] = {_package(name) for name in names} - {None, f"gridloop.{package}"}
    return found


def _package(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "services":
        return "services"
    return ".".join(parts[:2]) if parts[0] == "gridloop" and len(parts) > 1 else None


@pytest.mark.parametrize("layer", LAYERS)
def test_a_shared_package_imports_only_the_layers_below_it(layer: str) -> None:
    allowed = {f"gridloop.{below}" for below in LAYERS[: LAYERS.index(layer)]}
    for module, packages in imported_packages(layer).items():
        assert packages <= allowed, f"{module} imports {sorted(packages - allowed)}; {layer} may use {sorted(allowed)}"


def test_delivery_imports_neither_the_service_kit_nor_auth() -> None:
    for module, packages in imported_packages("delivery").items():
        assert not packages & {"gridloop.servicekit", "gridloop.auth", "services"}, module


def test_the_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    (tmp_path / "gridloop" / "delivery").mkdir(parents=True)
    (tmp_path / "gridloop" / "delivery" / "late.py").write_text(
        "from gridloop.contracts.events import Event\n\n\ndef f():\n    from gridloop.servicekit import logs\n"
    )
    assert imported_packages("delivery", tmp_path) == {
        "gridloop/delivery/late.py": {"gridloop.contracts", "gridloop.servicekit"}
    }
