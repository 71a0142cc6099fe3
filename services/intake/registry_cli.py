"""`gridloop registry export | import`: a district's registry as files, and files into intake's registry.

    gridloop registry export DIR    # the registry in force: {streets,communities,grids}.geojson, workers.csv
    gridloop registry export --generated DIR    # the synthetic district (development, the demo, tests)
    gridloop registry import --communities communities.geojson --grids grids.geojson --workers workers.xlsx \\
        [--streets streets.geojson] [--datum gcj02] [--dry-run]

`import` checks every file (all problems at once, by file and feature/line; exit 1), shows the difference from
the registry in force and applies it as one version with an audit entry, unless `--dry-run`. It writes into
intake's database (GRIDLOOP_INTAKE_DATABASE_URL, or --database-url); running intake replicas pick the new
version up within `registry_check_seconds`. The file formats are in docs/registry.md.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from gridloop.auth.tokens import Principal
from gridloop.registry import Registry, default_registry
from gridloop.registry.changes import RegistryChange
from gridloop.registry.geojson import DistrictFiles, write_district
from gridloop.registry.importer import Datum, ImportRejected
from services.intake.registry import import_district, read_registry
from services.intake.tables import registry_state


@dataclass(frozen=True)
class Imported:
    change: RegistryChange
    version: int | None  # the registry's version after the import (None: the registry is still empty)


async def run_import(url: str, files: DistrictFiles, *, datum: Datum, dry_run: bool, operator: Principal) -> Imported:
    """What `gridloop registry import` does (and `gridloop demo`, with the synthetic district's files)."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            change = await import_district(conn, files, operator=operator, datum=datum, dry_run=dry_run)
            version = await conn.scalar(sa.select(registry_state.c.version).where(registry_state.c.id == 1))
        return Imported(change, version)
    finally:
        await engine.dispose()


async def read_in_force(url: str) -> Registry:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await read_registry(conn)
    finally:
        await engine.dispose()


def import_paths(
    url: str, directory: Path, *, operator: Principal, dry_run: bool = False, datum: Datum = "wgs84"
) -> Imported:
    """Import the files `write_district` leaves in a directory (streets.geojson, communities.geojson,
    grids.geojson, workers.csv) as `gridloop registry import` would."""
    files = DistrictFiles.read(
        communities=directory / "communities.geojson",
        grids=directory / "grids.geojson",
        workers=directory / "workers.csv",
        streets=directory / "streets.geojson",
    )
    return asyncio.run(run_import(url, files, datum=datum, dry_run=dry_run, operator=operator))


def _database_url(given: str | None) -> str:
    if given:
        return given
    from services.intake.settings import get_settings

    return get_settings().database_url


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridloop registry", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write the registry in force (or --generated) as import files")
    export.add_argument("directory", type=Path)
    export.add_argument("--generated", action="store_true", help="the synthetic district, not intake's registry")
    export.add_argument("--database-url", help="intake's database (default: intake's settings)")
    importing = commands.add_parser("import", help="check files and apply them as the registry in force")
    importing.add_argument("--communities", type=Path, required=True, help="GeoJSON FeatureCollection")
    importing.add_argument("--grids", type=Path, required=True, help="GeoJSON FeatureCollection of polygons")
    importing.add_argument("--workers", type=Path, required=True, help=".csv (UTF-8) or .xlsx")
    importing.add_argument("--streets", type=Path, help="GeoJSON FeatureCollection (optional)")
    importing.add_argument("--datum", choices=("wgs84", "gcj02"), default="wgs84", help="coordinates' datum")
    importing.add_argument("--dry-run", action="store_true", help="show the difference, change nothing")
    importing.add_argument("--database-url", help="intake's database (default: intake's settings)")
    importing.add_argument("--operator", default=getpass.getuser(), help="who is importing (the audit entry)")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.command == "export":
        registry = (
            default_registry() if args.generated else asyncio.run(read_in_force(_database_url(args.database_url)))
        )
        if registry.is_empty:
            print("gridloop registry export: the registry is empty; nothing written", file=sys.stderr)
            return 1
        for kind, path in write_district(registry, args.directory).items():
            print(f"{kind:<12} {path}")
        return 0
    files = DistrictFiles.read(
        communities=args.communities, grids=args.grids, workers=args.workers, streets=args.streets
    )
    url = _database_url(args.database_url)
    started = time.perf_counter()
    try:
        change = asyncio.run(
            run_import(
                url, files, datum=args.datum, dry_run=args.dry_run, operator=Principal("operator", args.operator)
            )
        ).change
    except ImportRejected as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"gridloop registry import: {exc}; nothing changed", file=sys.stderr)
        return 1
    for line in change.preview():
        print(line)
    seconds = time.perf_counter() - started
    if change.is_empty:
        print(f"no changes: the files describe the registry in force ({seconds:.1f} s)")
    elif args.dry_run:
        print(f"dry run: {change.summary()} would change ({seconds:.1f} s); nothing applied")
    else:
        print(f"applied: {change.summary()} ({seconds:.1f} s)")
    return 0
