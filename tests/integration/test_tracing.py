"""One report's journey is one trace: intake's request, the outbox waits, the Kafka sends, and the router's,
departments' and notify's consumption, each span the child of the hop before it (real Kafka and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from gridloop.contracts.topics import CASES_REPORTED, CASES_STATUS, DEPARTMENT_TOPICS
from gridloop.servicekit.tracing import export_spans_to
from tests.support.apps import Services, build_apps, running
from tests.support.polling import wait_for
from tests.support.reports import report_body

pytestmark = pytest.mark.integration

STREET_OFFICE = DEPARTMENT_TOPICS["street_office"]


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="module")
async def services(ns, tmp_path_factory, exporter):
    apps = build_apps(ns, notify_log=tmp_path_factory.mktemp("notify") / "messages.jsonl")
    for app in apps.values():
        export_spans_to(app, exporter)
    async with running(apps) as running_services:
        yield running_services


def service(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"]).removeprefix("gridloop-")


def destination(span: ReadableSpan) -> str | None:
    return span.attributes.get("messaging.destination.name") if span.attributes else None


class Trace:
    def __init__(self, spans: Sequence[ReadableSpan]) -> None:
        self.spans = list(spans)
        self.by_id = {span.context.span_id: span for span in self.spans}

    def parent(self, span: ReadableSpan) -> ReadableSpan:
        assert span.parent is not None, f"{span.name} in {service(span)} has no parent"
        found = self.by_id.get(span.parent.span_id)
        assert found is not None, f"the parent of {span.name} in {service(span)} is not in the trace"
        return found

    def find(self, name: str, in_service: str) -> list[ReadableSpan]:
        return [span for span in self.spans if span.name == name and service(span) == in_service]

    def one(self, name: str, in_service: str) -> ReadableSpan:
        found = self.find(name, in_service)
        assert len(found) == 1, f"{name} in {in_service}: {len(found)} spans"
        return found[0]


async def test_a_reports_journey_is_one_trace_across_the_four_services(
    services: Services, exporter: InMemorySpanExporter
) -> None:
    body = report_body("3栋门口的垃圾桶满得冒出来了，好几天没人清运，臭得很", item_hint="S03", worker_index=83)
    accepted = await services.intake.post("/v1/reports", json=body)
    assert accepted.status_code == 202, accepted.text
    case_id = accepted.json()["case_id"]
    (request,) = [
        span
        for span in exporter.get_finished_spans()
        if span.kind == SpanKind.SERVER and span.name == "POST /v1/reports" and service(span) == "intake"
    ]
    trace_id = request.context.trace_id

    def journey() -> Trace:
        return Trace([span for span in exporter.get_finished_spans() if span.context.trace_id == trace_id])

    async def forwarded_and_dispatched() -> Trace | None:
        found = journey()
        consumed = {(service(s), destination(s)) for s in found.spans if s.kind == SpanKind.CONSUMER}
        wanted = {("router", CASES_REPORTED), ("departments", STREET_OFFICE), ("notify", CASES_STATUS)}
        return found if wanted <= consumed else None

    found = await wait_for(forwarded_and_dispatched, what="the case's spans in router, departments and notify")
    assert {service(span) for span in found.spans} == {"intake", "router", "departments", "notify"}

    # intake: request -> outbox wait -> send; the wait starts when the row was written, inside the request.
    wait = found.one(f"outbox wait {CASES_REPORTED}", "intake")
    assert found.parent(wait) is request
    assert request.start_time <= wait.start_time <= wait.end_time
    send = found.one(f"send {CASES_REPORTED}", "intake")
    assert found.parent(send) is wait and send.kind == SpanKind.PRODUCER
    assert send.attributes["messaging.kafka.message.key"] == case_id

    # router: consumes the record as the child of intake's send, and its dispatch waits in its own outbox.
    routed = found.find(f"process {CASES_REPORTED}", "router")
    assert len(routed) == 1 and found.parent(routed[0]) is send
    router_wait = found.one(f"outbox wait {STREET_OFFICE}", "router")
    assert found.parent(router_wait) is routed[0]
    router_send = found.one(f"send {STREET_OFFICE}", "router")
    assert found.parent(router_send) is router_wait

    # departments: the dispatch's consumer span is the child of the router's send.
    dispatched = found.one(f"process {STREET_OFFICE}", "departments")
    assert found.parent(dispatched) is router_send and dispatched.kind == SpanKind.CONSUMER

    # notify: hears of the case from intake's send, and of its forwarding from a send of the router.
    (told,) = found.find(f"process {CASES_REPORTED}", "notify")
    assert found.parent(told) is send
    statuses = found.find(f"process {CASES_STATUS}", "notify")
    assert statuses and all(service(found.parent(s)) in ("intake", "router") for s in statuses)
    assert any(service(found.parent(s)) == "router" for s in statuses), "the forwarded step, sent by the router"

    # Every consumer span continues a send on the same topic (intake reads its own status steps back for the
    # timeline); every send, an outbox wait.
    for span in found.spans:
        if span.kind == SpanKind.CONSUMER and span.name.startswith("process gridloop."):
            producer = found.parent(span)
            assert producer.kind == SpanKind.PRODUCER and destination(producer) == destination(span)
        if span.kind == SpanKind.PRODUCER:
            assert found.parent(span).name.startswith("outbox wait ")

    # SQL is traced inside the request (the case's INSERT), not as traces of its own.
    statements = [s for s in found.spans if s.kind == SpanKind.CLIENT and service(s) == "intake"]
    assert any(found.parent(s) is request for s in statements), [s.name for s in statements]


async def test_background_polls_and_probes_start_no_traces(services: Services, exporter: InMemorySpanExporter) -> None:
    """The relay, the periodic tasks and the readiness probe run SQL all the time; none of it becomes a trace."""
    assert (await services.router.get("/readyz")).status_code == 200
    roots = [span for span in exporter.get_finished_spans() if span.parent is None]
    assert roots, "the first test's request started a trace"
    assert {span.kind for span in roots} <= {SpanKind.SERVER, SpanKind.CONSUMER}, sorted(
        {(service(s), s.name) for s in roots if s.kind not in (SpanKind.SERVER, SpanKind.CONSUMER)}
    )
    assert not [s for s in roots if s.kind == SpanKind.SERVER and s.name.startswith(("GET /readyz", "GET /healthz"))]
