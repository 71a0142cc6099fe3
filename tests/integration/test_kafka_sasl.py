"""The pipeline over TLS and SASL/SCRAM-SHA-512: a broker of its own with a SASL_SSL listener (the local stack's
GRIDLOOP_KAFKA_SASL_PORT), the four services connecting only through it, reports going all the way through."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError

from gridloop.delivery.kafka import KafkaSettings
from gridloop.demo.client import DemoClient, ServiceUrls
from gridloop.stack import ensure_topics, gridloop_topics, start_service, stop_service
from gridloop.stack.kafka import kafka_version, resolve_jars
from tests.support.namespace import Namespace
from tests.support.polling import wait_for
from tests.support.reports import report_body

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SERVICES = ("intake", "router", "departments", "notify")
USER, PASSWORD = "gridloop-test", "scram-test-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_call(env: dict[str, str], code: str) -> None:
    """Run gridloop.stack code in a process of its own: the broker's ports and home are read at import."""
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory) -> Iterator[tuple[str, KafkaSettings]]:
    """A private broker: PLAINTEXT for the test's admin work, SASL_SSL for the services. (plaintext, settings)"""
    home = tmp_path_factory.mktemp("sasl-kafka")
    libs = home / "kafka" / kafka_version() / "libs"
    libs.parent.mkdir(parents=True)
    libs.symlink_to(resolve_jars())  # the jars the shared stack already resolved
    plain, controller, sasl = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "GRIDLOOP_HOME": str(home),
        "GRIDLOOP_KAFKA_PORT": str(plain),
        "GRIDLOOP_KAFKA_CONTROLLER_PORT": str(controller),
        "GRIDLOOP_KAFKA_SASL_PORT": str(sasl),
        "GRIDLOOP_KAFKA_SASL_USERNAME": USER,
        "GRIDLOOP_KAFKA_SASL_PASSWORD": PASSWORD,
    }
    stack_call(env, "from gridloop.stack.kafka import start_kafka; start_kafka()")
    try:
        settings = KafkaSettings(
            bootstrap_servers=f"127.0.0.1:{sasl}",
            security_protocol="SASL_SSL",
            sasl_username=USER,
            sasl_password=PASSWORD,
            ssl_cafile=home / "kafka" / "tls" / "ca.pem",
        )
        yield f"127.0.0.1:{plain}", settings
    finally:
        stack_call(env, "from gridloop.stack.kafka import stop_kafka; stop_kafka()")


@pytest.fixture(scope="module")
async def services_over_sasl(ns: Namespace, sasl_broker, tmp_path_factory) -> AsyncIterator[ServiceUrls]:
    plain, settings = sasl_broker
    await ensure_topics(plain, gridloop_topics(prefix=ns.topic_prefix, partitions=3))
    ports = {name: free_port() for name in SERVICES}
    env = {
        **ns.env(),
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,  # the SASL_SSL listener only
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": USER,
        "KAFKA_SASL_PASSWORD": PASSWORD,
        "KAFKA_SSL_CAFILE": str(settings.ssl_cafile),
        "GRIDLOOP_NOTIFY_LOG_CHANNEL_PATH": str(tmp_path_factory.mktemp("notify") / "messages.jsonl"),
        "GRIDLOOP_NOTIFY_URGENT_STEPS": json.dumps(["received", "forwarded", "signed", "resolved", "not_admitted"]),
    }
    try:
        await asyncio.gather(*(asyncio.to_thread(start_service, name, env, port) for name, port in ports.items()))
        yield ServiceUrls(**{name: f"http://127.0.0.1:{port}" for name, port in ports.items()})
    finally:
        await asyncio.gather(*(asyncio.to_thread(stop_service, name, port=port) for name, port in ports.items()))


async def test_reports_go_through_all_four_services_over_sasl_ssl(
    ns: Namespace, services_over_sasl: ServiceUrls
) -> None:
    async with DemoClient(services_over_sasl) as client:
        accepted = []
        for n in range(5):
            response = await client.post_report(report_body(f"加密链路第{n}号：楼道灯坏了"))
            assert response.status_code in (200, 202), response.text
            accepted.append(response.json()["case_id"])

    async def received_by_notify() -> bool:
        conn = await asyncpg.connect(ns.database_urls["notify"].replace("postgresql+asyncpg://", "postgresql://"))
        try:
            found = await conn.fetchval(
                "SELECT count(DISTINCT case_id) FROM messages WHERE step = 'received' AND case_id::text = ANY($1)",
                accepted,
            )
        finally:
            await conn.close()
        return found == len(accepted)

    async def decided_by_router() -> bool:
        conn = await asyncpg.connect(ns.database_urls["router"].replace("postgresql+asyncpg://", "postgresql://"))
        try:
            found = await conn.fetchval(
                "SELECT count(DISTINCT case_id) FROM decisions WHERE case_id::text = ANY($1)", accepted
            )
        finally:
            await conn.close()
        return found == len(accepted)

    await wait_for(decided_by_router, timeout=90, interval=0.5, what="the router to decide every report over SASL_SSL")
    await wait_for(received_by_notify, timeout=90, interval=0.5, what="notify to hear of every report over SASL_SSL")


async def test_a_wrong_password_is_refused_by_the_broker(sasl_broker) -> None:
    _, settings = sasl_broker
    wrong = settings.model_copy(update={"sasl_password": type(settings.sasl_password)("not-the-password")})
    admin = AIOKafkaAdminClient(**wrong.client_options(), request_timeout_ms=5000)
    with pytest.raises(KafkaConnectionError):
        await admin.start()
    await admin.close()
