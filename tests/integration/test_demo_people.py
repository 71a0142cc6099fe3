"""`gridloop demo`'s replay against the four real services (over HTTP on loopback, real Kafka and PostgreSQL): the
summary counts residents, workers and officials told, and no escalated case is left without an owner."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest

from gridloop.demo.client import DemoClient, ServiceUrls
from gridloop.demo.officials import ROSTER
from gridloop.demo.reports import generate_day
from gridloop.demo.run import replay
from gridloop.demo.summary import format_summary
from gridloop.registry import Registry, default_registry
from tests.support.apps import build_apps, running
from tests.support.notify_standins import serving

pytestmark = pytest.mark.integration

# Reserved workers (report_body never hands out their grids): the demo's reports are nobody else's duplicates.
DEMO_WORKERS = range(83, 90)


def reserved_registry() -> Registry:
    full = default_registry()
    workers = tuple(full.workers[i] for i in DEMO_WORKERS)
    grid_ids = {g for w in workers for g in w.grid_ids}
    grids = tuple(g for g in full.grids if g.grid_id in grid_ids)
    communities = tuple(c for c in full.communities if c.community_id in {g.community_id for g in grids})
    return Registry(communities=communities, grids=grids, workers=workers)


async def test_the_demo_summary_counts_who_was_told(private_ns, tmp_path) -> None:
    apps = build_apps(private_ns, notify_log=tmp_path / "messages.jsonl")
    drafts = generate_day(24, seed=17, registry=reserved_registry())
    async with running(apps) as services, AsyncExitStack() as stack:
        urls = {name: await stack.enter_async_context(serving(app)) for name, app in services.apps.items()}
        async with DemoClient(ServiceUrls(**urls)) as client:
            # Its own namespace (officials are global to notify), yet counted before and after all the same.
            unowned_before = (await client.people_stats())["supervision"]["without_owner"]
            listed_before = [o for o in await client.officials() if o["active"]]
            summary = await replay(client, drafts, concurrency=4, sample=5, seed=1, drain_seconds=90, poll_seconds=0.5)
            officials = await client.officials()
    print(format_summary(summary))
    accepted = summary["reports"]["accepted"]
    assert accepted == len(drafts) and summary["drained"]
    assert summary["notify"]["residents_notified"] > 0
    reporters = {d.worker_id for d in drafts}
    assert summary["workers"]["workers_told"] == len(reporters)
    assert summary["workers"]["updates"]["received"] == accepted
    # The demo lists its roster when nobody is listed, and leaves a district's own officials alone.
    active = [o for o in officials if o["active"]]
    assert len(active) == (len(listed_before) or len(ROSTER))
    assert summary["officials"]["escalated_without_owner"] == unowned_before  # the day left none without an owner
    text = format_summary(summary)
    assert "workers told" in text and "officials told" in text and "escalated without an owner" in text
