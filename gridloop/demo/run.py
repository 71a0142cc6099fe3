"""`gridloop demo`: bring the stack up, import the synthetic district from its files (as `gridloop registry import`
does), replay a day of grid reports, play the departments, print a summary."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy
import sqlalchemy.exc
from tqdm import tqdm

from gridloop.admission.admission_list import default_admission_list
from gridloop.auth.tokens import Principal
from gridloop.contracts.topics import DEPARTMENTS
from gridloop.demo.client import DemoClient, ServiceUnavailable, ServiceUrls
from gridloop.demo.departments import run_departments
from gridloop.demo.officials import ensure_officials
from gridloop.demo.reports import ReportDraft, generate_day
from gridloop.demo.summary import (
    PostOutcome,
    build_summary,
    classification_agreement,
    format_summary,
    stats_delta,
)
from gridloop.registry import default_registry
from gridloop.registry.geojson import write_district
from services.intake.registry_cli import Imported, import_paths

STATS_SERVICES = ("router", "departments", "notify")
DEMO_OPERATOR = Principal("operator", "gridloop:demo")


def main(argv: list[str]) -> int:
    args = _parse_args(argv)
    if not args.no_stack and not _stack_up():
        return 1
    drafts = generate_day(args.reports, seed=args.seed)
    try:
        summary = asyncio.run(_replay(args, drafts))
    except ServiceUnavailable as exc:
        print(f"gridloop demo: {exc}. Is the stack up? Try `gridloop stack up`, or drop --no-stack.", file=sys.stderr)
        return 1
    except httpx.HTTPStatusError as exc:
        print(f"gridloop demo: {_explain(exc)}", file=sys.stderr)
        return 1
    print(format_summary(summary))
    _write_summary(args.output, summary)
    return 0


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gridloop demo", description=__doc__)
    parser.add_argument("--reports", type=int, default=3000, help="reports to post (default 3000)")
    parser.add_argument("--concurrency", type=int, default=32, help="reports in flight at once (default 32)")
    parser.add_argument("--seed", type=int, default=20261125, help="seed for the generated day")
    parser.add_argument("--no-stack", action="store_true", help="assume the stack is already up")
    parser.add_argument("--sample", type=int, default=300, help="cases whose router decision is checked")
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="seconds to wait for the pipeline")
    parser.add_argument("--output", type=Path, default=_default_output(), help="where to write the JSON summary")
    parser.add_argument(
        "--district-dir", type=Path, default=_home() / "demo-district", help="where the district's files are written"
    )
    parser.add_argument(
        "--intake-database-url",
        default=None,
        help="intake's database, which the district is imported into (default: intake's settings)",
    )
    for service, url in vars(ServiceUrls()).items():
        parser.add_argument(f"--base-url-{service}", default=url, help=f"{service} base URL (default {url})")
    for department in DEPARTMENTS:
        env = f"GRIDLOOP_DEPARTMENT_TOKEN_{department.upper()}"
        parser.add_argument(
            f"--department-token-{department.replace('_', '-')}",
            dest=f"token_{department}",
            default=os.environ.get(env),
            help=f"bearer token for the {department} department (env {env})",
        )
    args = parser.parse_args(argv)
    if args.intake_database_url is None:
        from services.intake.settings import get_settings

        args.intake_database_url = get_settings().database_url
    return args


def _home() -> Path:
    return Path(os.environ.get("GRIDLOOP_HOME", ".gridloop"))


def _default_output() -> Path:
    return _home() / "demo-summary.json"


def _stack_up() -> bool:
    """Run `gridloop stack up` (idempotent; returns once the four services are ready)."""
    gridloop = Path(sys.executable).with_name("gridloop")
    command = [str(gridloop) if gridloop.exists() else "gridloop", "stack", "up"]
    print("gridloop demo: bringing the stack up ...", flush=True)
    try:
        done = subprocess.run(command, check=False)
    except OSError as exc:
        print(f"gridloop demo: cannot run {' '.join(command)}: {exc}", file=sys.stderr)
        return False
    if done.returncode != 0:
        print(
            f"gridloop demo: `gridloop stack up` failed (exit {done.returncode}); see its output above.",
            file=sys.stderr,
        )
    return done.returncode == 0


async def _replay(args: argparse.Namespace, drafts: list[ReportDraft]) -> dict[str, Any]:
    urls = ServiceUrls(**{s: getattr(args, f"base_url_{s}") for s in vars(ServiceUrls())})
    tokens = {d: t for d in DEPARTMENTS if (t := getattr(args, f"token_{d}"))}
    async with DemoClient(urls, tokens) as client:
        await import_synthetic_district(client, database_url=args.intake_database_url, directory=args.district_dir)
        return await replay(
            client,
            drafts,
            concurrency=args.concurrency,
            sample=args.sample,
            seed=args.seed,
            drain_seconds=args.drain_timeout,
        )


async def import_synthetic_district(
    client: DemoClient, *, database_url: str, directory: Path, wait_seconds: float = 60.0
) -> Imported:
    """The demo runs on the synthetic district imported as a real one arrives (docs/registry.md): written as
    GeoJSON + CSV files into `directory`, imported by `gridloop registry import`'s code into intake's database,
    and in force at intake (which reloads it within `registry_check_seconds`) before the day is posted. An intake
    that seeded the same district itself (development) has it already: the import changes nothing."""
    paths = await asyncio.to_thread(write_district, default_registry(), directory)
    try:
        imported = await asyncio.to_thread(import_paths, database_url, directory, operator=DEMO_OPERATOR)
    except (OSError, sqlalchemy.exc.DBAPIError) as exc:
        where = sqlalchemy.engine.make_url(database_url).render_as_string(hide_password=True)
        raise ServiceUnavailable(f"intake's database is not reachable at {where} ({type(exc).__name__})") from exc
    change = imported.change
    what = "no changes" if change.is_empty else "applied: " + json.dumps(change.summary(), ensure_ascii=False)
    print(f"registry: {', '.join(str(p) for p in paths.values())} imported, version {imported.version} ({what})")
    deadline = time.monotonic() + wait_seconds
    while (version := await client.registry_version()) is None or version < (imported.version or 0):
        if time.monotonic() > deadline:
            raise RuntimeError(f"intake still serves registry version {version}, not {imported.version}")
        await asyncio.sleep(0.5)
    return imported


async def replay(
    client: DemoClient,
    drafts: list[ReportDraft],
    *,
    concurrency: int,
    sample: int,
    seed: int,
    drain_seconds: float,
    poll_seconds: float = 2.0,
) -> dict[str, Any]:
    """Post the day, play the departments until the pipeline drains, and summarise this run."""
    await ensure_officials(client)  # so that escalations reach someone
    before = await _snapshot(client)
    people_before = await client.people_stats()
    stop = asyncio.Event()
    with tqdm(desc="departments", unit="case", total=0, position=1) as dept_bar:
        desk = asyncio.create_task(run_departments(client, stop, dept_bar, poll_seconds=poll_seconds / 2))
        try:
            posts = await _until_either_fails(post_all(client, drafts, concurrency), desk)
            drain = wait_for_drain(client, before, posts, drain_seconds=drain_seconds, poll_seconds=poll_seconds)
            after, drained = await _until_either_fails(drain, desk)
        except BaseException:
            desk.cancel()
            raise
        finally:
            stop.set()
        tally = await desk
    pairs = await sample_decisions(client, posts, sample, seed=seed)
    departments_of = {item.code: item.department for item in default_admission_list().items.values()}
    deltas = {s: stats_delta(before[s], after[s]) for s in STATS_SERVICES}
    agreement = classification_agreement(pairs, departments_of)
    people_after = await client.people_stats()
    people = stats_delta(people_before, people_after)
    # Not this run's change but the state now: every escalated case must have someone who owns it.
    people["supervision"]["without_owner"] = people_after["supervision"]["without_owner"]
    people["supervision"]["waiting"] = sum(
        n for state, n in people_after["supervision"]["escalations"].items() if state in ("open", "arbitration")
    )
    return build_summary(posts=posts, desk=tally, agreement=agreement, drained=drained, people=people, **deltas)


async def _until_either_fails(work: Any, background: asyncio.Task[Any]) -> Any:
    """Await `work`, but stop early with the background task's error if it fails first."""
    task = asyncio.ensure_future(work)
    await asyncio.wait({task, background}, return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        task.cancel()
        await background  # finished first, so it failed: raise its error
    return task.result()


async def post_all(client: DemoClient, drafts: list[ReportDraft], concurrency: int) -> list[PostOutcome]:
    """Post every report with at most `concurrency` in flight."""
    limit = asyncio.Semaphore(concurrency)
    with tqdm(total=len(drafts), desc="reports", unit="report", position=0) as bar:

        async def post_one(draft: ReportDraft) -> PostOutcome:
            async with limit:
                resp = await client.post_report(draft.api_body())
            bar.update()
            return _outcome(draft, resp)

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(post_one(d)) for d in drafts]
        except* ServiceUnavailable as failed:
            raise failed.exceptions[0] from None
    return [t.result() for t in tasks]


def _outcome(draft: ReportDraft, resp: httpx.Response) -> PostOutcome:
    case_id = resp.json().get("case_id") if resp.status_code in (200, 202) else None
    return PostOutcome(draft.client_report_id, draft.expected_item, resp.status_code, case_id)


async def _snapshot(client: DemoClient) -> dict[str, dict[str, Any]]:
    return {s: await client.stats(s) for s in STATS_SERVICES}


async def wait_for_drain(
    client: DemoClient, before: dict[str, Any], posts: list[PostOutcome], *, drain_seconds: float, poll_seconds: float
) -> tuple[dict[str, Any], bool]:
    """Poll the stats until they stop changing (and the router has decided every accepted case), or time out."""
    accepted = sum(p.status_code == 202 for p in posts)
    deadline, last, stable = time.monotonic() + drain_seconds, None, 0
    with tqdm(total=accepted, desc="routing", unit="case", position=2) as bar:
        while True:
            snapshot = await _snapshot(client)
            bar.n = min(accepted, _decided(stats_delta(before["router"], snapshot["router"])))
            bar.refresh()
            stable = stable + 1 if snapshot == last else 0
            if stable >= 3 and (bar.n >= accepted or stable >= 15):
                return snapshot, True
            if time.monotonic() > deadline:
                return snapshot, False
            last = snapshot
            await asyncio.sleep(poll_seconds)


def _decided(router_delta: dict[str, Any]) -> int:
    return int(sum(router_delta.get("decisions", {}).values()))


async def sample_decisions(
    client: DemoClient, posts: list[PostOutcome], size: int, *, seed: int
) -> list[tuple[str | None, dict[str, Any] | None]]:
    """The router's decision for a random sample of accepted cases, next to the item each was written for."""
    accepted = [p for p in posts if p.status_code == 202 and p.case_id]
    sample = random.Random(seed).sample(accepted, min(size, len(accepted)))
    limit = asyncio.Semaphore(16)

    async def one(post: PostOutcome) -> tuple[str | None, dict[str, Any] | None]:
        async with limit:
            return post.expected_item, await client.decision(str(post.case_id))

    return list(await asyncio.gather(*(one(p) for p in sample)))


def _explain(exc: httpx.HTTPStatusError) -> str:
    status, url = exc.response.status_code, exc.request.url
    if status in (401, 403):
        return (
            f"{url} answered {status}: pass --department-token-<department> (or GRIDLOOP_DEPARTMENT_TOKEN_*), "
            "or set GRIDLOOP_AUTH_SIGNING_KEY to the services' key so the demo can sign its calls"
        )
    return f"{url} answered {status}: {exc.response.text[:300]}"


def _write_summary(path: Path, summary: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"\nsummary written to {path}")
