"""`gridloop demo`'s own path on the synthetic district: its files are written, imported by `gridloop registry
import`'s code into an intake that starts with an empty registry (as in production), and a small day runs through
the four services (in-process, over loopback HTTP, real Kafka and PostgreSQL) on the imported registry."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from gridloop.demo.client import DemoClient, ServiceUrls
from gridloop.demo.reports import generate_day
from gridloop.demo.run import import_synthetic_district, replay
from tests.integration.test_demo_people import reserved_registry
from tests.support.apps import build_apps, running
from tests.support.notify_standins import serving

pytestmark = pytest.mark.integration


async def test_the_demo_day_runs_on_the_synthetic_district_imported_as_files(private_ns: Any, tmp_path: Path) -> None:
    apps = build_apps(
        private_ns, notify_log=tmp_path / "messages.jsonl", overrides={"intake": {"seed_registry": False}}
    )
    drafts = generate_day(12, seed=23, registry=reserved_registry())
    directory = tmp_path / "district"
    async with running(apps) as services, AsyncExitStack() as stack:
        urls = {name: await stack.enter_async_context(serving(app)) for name, app in services.apps.items()}
        async with DemoClient(ServiceUrls(**urls)) as client:
            assert await client.registry_version() is None  # not seeded: the import is what fills it
            url = private_ns.database_urls["intake"]
            first = await import_synthetic_district(client, database_url=url, directory=directory)
            assert first.change.summary() == {
                "street": {"added": 13},
                "community": {"added": 108},
                "grid": {"added": 998},
                "worker": {"added": 1438},
            }
            assert await client.registry_version() == first.version
            assert sorted(p.name for p in directory.iterdir()) == [
                "communities.geojson",
                "grids.geojson",
                "streets.geojson",
                "workers.csv",
            ]
            again = await import_synthetic_district(client, database_url=url, directory=directory)
            assert again.change.is_empty and again.version == first.version

            summary = await replay(client, drafts, concurrency=4, sample=3, seed=1, drain_seconds=90, poll_seconds=0.5)
    assert summary["reports"]["accepted"] == len(drafts) and summary["drained"]
    assert summary["notify"]["residents_notified"] > 0
