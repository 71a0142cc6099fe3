"""The grid registry's speed: point-in-polygon lookups, reading and checking a district's files, and importing
them into a database. `python -m bench.registry` (`--database-url` for the import; `--lookups N`).

Not a test: the numbers depend on the machine and its load, and are recorded in docs/registry.md.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from gridloop.registry import Registry, default_registry, generate_registry
from gridloop.registry.generate import LAT_RANGE, LON_RANGE
from gridloop.registry.geojson import district_files
from gridloop.registry.importer import read_district
from gridloop.registry.places import check_place


def _timed(run: Callable[[], Any], repeat: int = 5) -> tuple[float, float]:
    """Median and best of `repeat` runs, seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times)


def lookups(registry: Registry, n: int) -> dict[str, tuple[float, float]]:
    """Microseconds per lookup, wall and CPU (the CPU time is what a lookup costs when the machine is shared): a
    random point of the district box to its grid (`grid_at`), and the check of a report against the grid it names
    (`check_place`; most random points lie outside the named grid, so this is the slower, flagged path)."""
    rng = random.Random(20)
    points = [(rng.uniform(*LAT_RANGE), rng.uniform(*LON_RANGE)) for _ in range(n)]
    registry.locator  # noqa: B018 - built once at load, not per lookup
    grid_ids = [g.grid_id for g in registry.grids]
    wall, cpu = time.perf_counter(), time.process_time()
    found = sum(registry.grid_at(lat, lon) is not None for lat, lon in points)
    grid_at = ((time.perf_counter() - wall) / n * 1e6, (time.process_time() - cpu) / n * 1e6)
    wall, cpu = time.perf_counter(), time.process_time()
    for i, (lat, lon) in enumerate(points):
        check_place(registry, grid_ids[i % len(grid_ids)], lat, lon, tolerance_m=150)
    check = ((time.perf_counter() - wall) / n * 1e6, (time.process_time() - cpu) / n * 1e6)
    if found != n:
        raise AssertionError(f"{n - found} points of the district box fell in no grid")
    return {"grid_at": grid_at, "check_place": check}


async def import_into(url: str, registry: Registry) -> dict[str, float]:
    """Seconds to import the district into an empty intake database, and to import the same files again."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from gridloop.auth.tokens import Principal
    from services.intake.registry import import_district

    files = district_files(registry)
    engine = create_async_engine(url)
    operator = Principal("operator", "bench")
    result = {}
    try:
        for label in ("import_s", "reimport_s"):
            started = time.perf_counter()
            async with engine.begin() as conn:
                await import_district(conn, files, operator=operator)
            result[label] = time.perf_counter() - started
    finally:
        await engine.dispose()
    return result


async def scratch_database(base_url: str) -> str:
    """A fresh, migrated intake database next to `base_url`'s (dropped by `drop_database`)."""
    from gridloop.ops.migrate import upgrade

    url = f"{base_url.rsplit('/', 1)[0]}/gridloop_bench_registry_{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(upgrade, "intake", url)
    return url


async def drop_database(url: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    conn = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username, password=parsed.password, database="postgres"
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    finally:
        await conn.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.registry", description=__doc__)
    parser.add_argument("--lookups", type=int, default=100_000, help="random points to look up")
    parser.add_argument(
        "--database-url", help="an intake database URL: import into a scratch database next to it (dropped after)"
    )
    args = parser.parse_args(argv)
    registry = default_registry()
    generate_median, _ = _timed(generate_registry, repeat=3)
    files = district_files(registry)
    export_median, _ = _timed(lambda: district_files(registry), repeat=3)
    read_median, read_best = _timed(lambda: read_district(files), repeat=3)
    print(f"district: {registry.counts}")
    print(f"generate (998 grid polygons):          {generate_median * 1000:8.0f} ms")
    print(f"export as GeoJSON + CSV:               {export_median * 1000:8.0f} ms")
    print(f"read + check files (overlaps, gaps):   {read_median * 1000:8.0f} ms (best {read_best * 1000:.0f} ms)")
    started = time.perf_counter()
    fresh = Registry(registry.communities, registry.grids, registry.workers)
    fresh.locator  # noqa: B018
    print(f"build the point-in-polygon index:      {(time.perf_counter() - started) * 1000:8.0f} ms")
    for name, (wall, cpu) in lookups(registry, args.lookups).items():
        print(f"{name:<38} {wall:8.1f} µs per lookup, {cpu:.1f} µs CPU ({args.lookups:,} random points)")
    if args.database_url:
        url = asyncio.run(scratch_database(args.database_url))
        try:
            for name, seconds in asyncio.run(import_into(url, registry)).items():
                print(f"{name:<38} {seconds:8.2f} s (998 grids + 1,438 workers into PostgreSQL)")
        finally:
            asyncio.run(drop_database(url))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
