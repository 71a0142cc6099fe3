"""`gridloop registry export | import`: a district's registry as files, and files into intake's registry.

    gridloop registry export DIR    # the generated district: {streets,communities,grids}.geojson, workers.csv
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
from pathlib import Path

from sqlalchemy.ext.asyncio import create_async_engine

from gridloop.auth.tokens import Principal
from gridloop.registry import default_registry
from gridloop.registry.changes import RegistryChange
from gridloop.registry.geojson import DistrictFiles, write_district
from gridloop.registry.importer import Datum, ImportRejected
from services.intake.registry import import_district


async def run_import(
    url: str, files: DistrictFiles, *, datum: Datum, dry_run: bool, operator: Principal
) -> RegistryChange:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            return await import_district(conn, files, operator=operator, datum=datum, dry_run=dry_run)
    finally:
        await engine.dispose()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridloop registry", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write the generated district as import files")
    export.add_argument("directory", type=Path)
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
        for kind, path in write_district(default_registry(), args.directory).items():
            print(f"{kind:<12} {path}")
        return 0
    files = DistrictFiles.read(
        communities=args.communities, grids=args.grids, workers=args.workers, streets=args.streets
    )
    if args.database_url:
        url = args.database_url
    else:
        from services.intake.settings import get_settings

        url = get_settings().database_url
    started = time.perf_counter()
    try:
        change = asyncio.run(
            run_import(
                url, files, datum=args.datum, dry_run=args.dry_run, operator=Principal("operator", args.operator)
            )
        )
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
