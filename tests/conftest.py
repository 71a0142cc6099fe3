"""Session fixtures: the real Kafka and PostgreSQL (started if needed), one namespace per test session."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.support.namespace import Namespace, create_namespace, drop_namespace

# GRIDLOOP_TEST_LOCAL_TIME=HH:MM runs the whole session with the wall clock moved back to the latest moment that
# showed that time in Chengdu (and ticking from there), to prove that no test depends on the hour it runs at
# (quiet hours start at 22:00 and end at 08:00 local time). Backwards only: Kafka refuses records stamped more than
# an hour in the future (log.message.timestamp.after.max.ms), and none of ours are.
LOCAL_TIME_ENV = "GRIDLOOP_TEST_LOCAL_TIME"
CHENGDU = ZoneInfo("Asia/Shanghai")


def latest_local(hhmm: str, now: datetime) -> datetime:
    """The latest moment not after `now` at which the clock in Chengdu showed `hhmm`."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    local = now.astimezone(CHENGDU)
    moment = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return moment if moment <= local else moment - timedelta(days=1)


def pytest_configure(config: pytest.Config) -> None:
    hhmm = os.environ.get(LOCAL_TIME_ENV)
    if hhmm:
        import time_machine

        destination = latest_local(hhmm, datetime.now(CHENGDU))
        traveller = time_machine.travel(destination, tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)
        print(f"wall clock moved to {destination.isoformat()} ({LOCAL_TIME_ENV}={hhmm})")


@pytest.fixture(scope="session")
def infra():
    """Kafka and PostgreSQL running on this machine (the local stack starts them if they are down)."""
    from gridloop.stack import ensure_infra

    return ensure_infra(create_topics=False)


@pytest.fixture(scope="session")
async def ns(infra) -> AsyncIterator[Namespace]:
    """This session's own topics (prefixed) and databases (migrated), dropped at the end."""
    namespace = await create_namespace(infra.kafka_bootstrap)
    yield namespace
    if not os.environ.get("GRIDLOOP_KEEP_TEST_DATA"):
        await drop_namespace(namespace)


@pytest.fixture(scope="module")
async def private_ns(infra) -> AsyncIterator[Namespace]:
    """A namespace of the test module's own, for tests of state that is global to a service rather than per case
    (the officials roster: another module's officials would be told of this module's escalations)."""
    namespace = await create_namespace(infra.kafka_bootstrap)
    yield namespace
    if not os.environ.get("GRIDLOOP_KEEP_TEST_DATA"):
        await drop_namespace(namespace)

