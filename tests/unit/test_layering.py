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


# Routes and SQL live apart (docs/architecture.md, "One layout for a feature"): a route module parses the request,
# calls the logic or query module, and translates its errors; it neither builds nor runs SQL.
ROUTE_MODULE_NAMES = ("api.py", "pages.py")
SQL_CALLS = frozenset({"execute", "scalar", "scalars", "stream", "stream_scalars", "exec_driver_sql", "run_sync"})


def route_modules(root: Path = ROOT) -> list[Path]:
    """api.py, <feature>_api.py, pages.py and <feature>_pages.py of every service."""
    return sorted(
        path
        for path in (root / "services").rglob("*.py")
        if path.name in ROUTE_MODULE_NAMES or path.name.endswith(tuple(f"_{name}" for name in ROUTE_MODULE_NAMES))
    )


def sql_in_routes(path: Path) -> list[str]:
    """What in a route module builds or runs SQL: sqlalchemy imports, a service's tables, SQL-running calls."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS:
            found.append(f"line {node.lineno}: .{node.func.attr}(…)")
            continue
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] == "sqlalchemy" or (parts[0] == "services" and "tables" in parts[1:]):
                found.append(f"line {node.lineno}: imports {module}")
                break
    return found


def test_there_are_route_modules_to_check() -> None:
    names = {str(path.relative_to(ROOT)) for path in route_modules()}
    assert {"services/notify/api.py", "services/notify/pages.py", "services/router/triage_api.py"} <= names


@pytest.mark.parametrize("path", route_modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_a_route_module_holds_no_sql(path: Path) -> None:
    assert not sql_in_routes(path), f"{path.relative_to(ROOT)} builds or runs SQL: {sql_in_routes(path)}"


def test_the_route_check_sees_sql(tmp_path: Path) -> None:
    (tmp_path / "services" / "notify").mkdir(parents=True)
    (tmp_path / "services" / "notify" / "things_api.py").write_text(
        "import sqlalchemy as sa\n"
        "from services.notify.tables import messages\n\n\n"
        "async def route(conn):\n"
        "    return await conn.execute(sa.select(messages))\n"
    )
    (tmp_path / "services" / "notify" / "things.py").write_text("import sqlalchemy as sa\n")
    [module] = route_modules(tmp_path)
    assert module.name == "things_api.py"
    assert sql_in_routes(module) == [
        "line 1: imports sqlalchemy",
        "line 2: imports services.notify.tables",
        "line 6: .execute(…)",
    ]
