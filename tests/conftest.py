"""Session fixtures: the real Kafka and PostgreSQL (started if needed), one namespace per test session."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from tests.support.namespace import Namespace, create_namespace, drop_namespace


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
