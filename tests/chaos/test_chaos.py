"""The chaos test, small: about 1,000 reports while each service is SIGKILLed once and the broker restarts.

It restarts the broker (and, with GRIDLOOP_CHAOS_PG_RESTART=1, PostgreSQL) of the stack it runs on: in CI the
suite's own; on a shared development machine point it at a private one (GRIDLOOP_HOME, GRIDLOOP_KAFKA_PORT,
GRIDLOOP_KAFKA_CONTROLLER_PORT, GRIDLOOP_PG_CLUSTER, GRIDLOOP_PG_PORT). The full run is `make chaos`."""

from __future__ import annotations

import os

import pytest

from gridloop.chaos.run import ChaosConfig, report, run_chaos

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.timeout(900)]


async def test_nothing_is_lost_or_doubled_while_services_and_the_broker_crash(infra) -> None:
    config = ChaosConfig(
        reports=int(os.environ.get("GRIDLOOP_CHAOS_REPORTS", "1000")),
        rate=12.0,
        kills_per_service=1,
        kafka_restart=True,
        postgres_restart=os.environ.get("GRIDLOOP_CHAOS_PG_RESTART") == "1",
        drain_timeout=300,
    )
    lines: list[str] = []
    result = await run_chaos(config, out=lines.append)
    report(result, out=lines.append)
    print("\n".join(lines))

    counts = result.verdict.counts
    assert (counts["lost"], counts["duplicated"], counts["other violations"]) == (0, 0, 0), "\n".join(lines)
    assert not result.ledger.unconfirmed, "every report was eventually confirmed by intake"
    assert counts["accepted"] == config.reports
    crashed = {fault.target for fault, _, _ in result.faults.done}
    assert crashed >= {"intake", "router", "departments", "notify", "kafka"}
