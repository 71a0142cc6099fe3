"""Schemathesis against each service's OpenAPI schema, with valid credentials so it gets past the door:
no answer is a 5xx and every documented answer matches its schema. Bounded: a few examples per operation.

The four services run over real HTTP in a thread of their own (schemathesis calls them synchronously)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.support.apps import build_apps
from tests.support.auth import OPERATOR, as_worker
from tests.support.notify_standins import free_port

pytestmark = pytest.mark.integration
EXAMPLES = 25  # per operation: ~60 operations, about half a minute for all four services on this machine
OPEN311_KEY = "gridloop-dev-open311"


@pytest.fixture(scope="module")
def served(ns, tmp_path_factory) -> Iterator[dict[str, tuple[Any, str]]]:
    apps = build_apps(ns, notify_log=tmp_path_factory.mktemp("notify") / "messages.jsonl")
    servers = {
        name: uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=free_port(), lifespan="on", log_level="warning")
        )
        for name, app in apps.items()
    }
    ready, failed = threading.Event(), []

    async def serve_all() -> None:
        tasks = [asyncio.create_task(s.serve()) for s in servers.values()]
        while not all(s.started for s in servers.values()):
            if any(t.done() for t in tasks):
                failed.append("a service did not start")
                break
            await asyncio.sleep(0.05)
        ready.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    thread = threading.Thread(target=asyncio.run, args=(serve_all(),), daemon=True)
    thread.start()
    assert ready.wait(120) and not failed, "the services did not start"
    try:
        yield {name: (apps[name], f"http://127.0.0.1:{s.config.port}") for name, s in servers.items()}
    finally:
        for server in servers.values():
            server.should_exit = True
        thread.join(60)


def credentials_for(case: schemathesis.Case) -> dict[str, str]:
    """A report is posted by the worker it names; everything else by an operator."""
    body = case.body if isinstance(case.body, dict) else {}
    if case.path == "/v1/reports" and isinstance(body.get("worker_id"), str) and body["worker_id"]:
        with contextlib.suppress(ValueError):
            return as_worker(body["worker_id"][:64])
    return OPERATOR


def fuzz_operation(operation: Any, base_url: str) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        if case.path.startswith("/open311/") and case.method == "POST" and isinstance(case.body, dict):
            case.body["api_key"] = OPEN311_KEY
        response = case.call(base_url=base_url, headers=credentials_for(case), timeout=30)
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    run()


@pytest.mark.parametrize("service", ["intake", "router", "departments", "notify"])
def test_no_operation_answers_5xx_or_off_schema(served, service: str) -> None:
    app, base_url = served[service]
    schema = schemathesis.openapi.from_dict(app.openapi())
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, f"{service} publishes no operations"
    for operation in operations:
        try:
            fuzz_operation(operation, base_url)
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {type(exc).__name__}: {str(exc)[:800]}")
    assert not failures, "\n\n".join(failures)
