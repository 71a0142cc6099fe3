"""Tracing: off unless asked, the trace context carried by records and outbox rows, the relay's outbox-wait span,
and the trace id in every log line written inside a span."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
import yaml
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from gridloop.contracts import asyncapi
from gridloop.contracts.events import CaseStatusChanged
from gridloop.delivery.db import add_delivery_tables
from gridloop.delivery.kafka import Envelope, KafkaSettings, encode
from gridloop.delivery.outbox import OutboxRelay
from gridloop.delivery.tracing import carrier_of, context_of_record, record_headers
from gridloop.servicekit.logs import JsonFormatter
from gridloop.servicekit.tracing import Tracing


def traced(name: str = "intake") -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    return Tracing.exporting_to(name, exporter), exporter


@pytest.mark.parametrize(
    "environ",
    [{}, {"OTEL_TRACES_EXPORTER": "none"}, {"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}],
)
def test_tracing_is_off_unless_an_exporter_is_named(environ: dict[str, str]) -> None:
    tracing = Tracing.from_env("router", environ)
    assert not tracing.enabled and tracing.tracer() is None


def test_naming_an_exporter_turns_tracing_on_for_that_service() -> None:
    tracing = Tracing.from_env("router", {"OTEL_TRACES_EXPORTER": "console"})
    assert tracing.enabled and tracing.provider is not None
    assert tracing.provider.resource.attributes["service.name"] == "gridloop-router"
    tracing.shutdown()


def test_an_unknown_exporter_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="zipkin"):
        Tracing.from_env("router", {"OTEL_TRACES_EXPORTER": "zipkin"})


def test_outside_a_span_nothing_is_carried() -> None:
    assert carrier_of() is None
    assert context_of_record([("ce_id", b"x")]) is None


def test_a_records_trace_context_continues_the_span_that_sent_it() -> None:
    tracing, _ = traced()
    tracer = tracing.tracer()
    assert tracer is not None
    with tracer.start_as_current_span("send") as span:
        headers = record_headers(carrier_of())
    received = trace.get_current_span(context_of_record(headers)).get_span_context()
    assert (received.trace_id, received.span_id) == (span.get_span_context().trace_id, span.get_span_context().span_id)


def test_the_documented_headers_accept_a_traced_record() -> None:
    tracing, _ = traced()
    tracer = tracing.tracer()
    assert tracer is not None
    event = CaseStatusChanged(case_id=uuid.uuid4(), status="received", at=datetime.now(UTC), actor="intake")
    headers, _key, _value = encode(Envelope.wrap(event, event_id=uuid.uuid4(), source="/gridloop/intake"))
    with tracer.start_as_current_span("send"):
        headers += record_headers(carrier_of())
    document = yaml.safe_load(asyncapi.DOCUMENT.read_text(encoding="utf-8"))
    schema = {**document["components"]["schemas"]["CaseStatusChangedHeaders"], "components": document["components"]}
    assert "traceparent" in schema["properties"]
    jsonschema.validate({k: v.decode() for k, v in headers}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**{k: v.decode() for k, v in headers}, "traceparent": "not-a-traceparent"}, schema)


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.acks: list[asyncio.Future[Any]] = []

    async def send(self, topic: str, *, value: bytes, key: bytes, headers: list[tuple[str, bytes]]) -> Any:
        self.sent.append({"topic": topic, "headers": dict(headers)})
        ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack


def relay() -> OutboxRelay:
    outbox, _inbox = add_delivery_tables(sa.MetaData())
    db = SimpleNamespace(source="/gridloop/router", outbox=outbox, on_commit=lambda callback: None)
    return OutboxRelay(db, asyncio.Future(), KafkaSettings(topic_prefix="t."))  # type: ignore[arg-type]


def outbox_row(trace_context: dict[str, str] | None, written: datetime) -> SimpleNamespace:
    case_id = uuid.uuid4()
    return SimpleNamespace(
        event_id=uuid.uuid4(),
        event_type=CaseStatusChanged.event_type,
        source="/gridloop/router",
        event_time=written,
        key=str(case_id),
        topic="gridloop.cases.status",
        payload=CaseStatusChanged(case_id=case_id, status="forwarded", at=written, actor="router").model_dump(
            mode="json"
        ),
        created_at=written,
        trace_context=trace_context,
    )


async def test_the_relay_sends_in_the_writers_trace_after_an_outbox_wait_span() -> None:
    tracing, exporter = traced("router")
    tracer = tracing.tracer()
    assert tracer is not None
    with tracer.start_as_current_span("process gridloop.cases.reported") as consumed:
        stored = carrier_of()
    written = datetime.now(UTC) - timedelta(seconds=2)
    sender, producer = relay(), FakeProducer()
    sender.tracer = tracer
    await sender._send(producer, outbox_row(stored, written))  # type: ignore[arg-type]
    assert exporter.get_finished_spans()[-1].name == "process gridloop.cases.reported", "no span ends before the ack"
    producer.acks[0].set_result(None)
    await asyncio.sleep(0)  # the ack's callbacks
    spans = {span.name: span for span in exporter.get_finished_spans()}
    wait, send = spans["outbox wait gridloop.cases.status"], spans["send gridloop.cases.status"]
    assert wait.parent is not None and wait.parent.span_id == consumed.get_span_context().span_id
    assert wait.start_time == int(written.timestamp() * 1e9) and wait.end_time >= send.end_time
    assert send.parent is not None and send.parent.span_id == wait.context.span_id and send.kind == SpanKind.PRODUCER
    carried = trace.get_current_span(context_of_record(list(producer.sent[0]["headers"].items()))).get_span_context()
    assert (carried.trace_id, carried.span_id) == (send.context.trace_id, send.context.span_id)


async def test_an_untraced_relay_passes_the_stored_context_on_and_an_untraced_row_carries_none() -> None:
    tracing, _ = traced()
    tracer = tracing.tracer()
    assert tracer is not None
    with tracer.start_as_current_span("request"):
        stored = carrier_of()
    assert stored is not None
    sender, producer = relay(), FakeProducer()
    await sender._send(producer, outbox_row(stored, datetime.now(UTC)))  # type: ignore[arg-type]
    await sender._send(producer, outbox_row(None, datetime.now(UTC)))  # type: ignore[arg-type]
    assert producer.sent[0]["headers"]["traceparent"].decode() == stored["traceparent"]
    assert "traceparent" not in producer.sent[1]["headers"]


def test_a_log_line_inside_a_span_names_its_trace_and_outside_does_not() -> None:
    tracing, _ = traced()
    tracer = tracing.tracer()
    assert tracer is not None
    formatter = JsonFormatter("intake")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "accepted", None, None)
    assert "trace_id" not in json.loads(formatter.format(record))
    with tracer.start_as_current_span("POST /v1/reports") as span:
        line = json.loads(formatter.format(record))
    assert line["trace_id"] == trace.format_trace_id(span.get_span_context().trace_id)
    assert line["span_id"] == trace.format_span_id(span.get_span_context().span_id)


def test_sql_is_traced_only_inside_a_recorded_span() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
    tracing, exporter = traced("router")
    sync = sa.create_engine("sqlite://")
    tracing.instrument_engine(SimpleNamespace(sync_engine=sync))  # type: ignore[arg-type]
    tracer = tracing.tracer()
    assert tracer is not None
    unsampled = TracerProvider(sampler=ALWAYS_OFF)
    unsampled.add_span_processor(SimpleSpanProcessor(exporter))
    with sync.connect() as conn:
        conn.execute(sa.text("SELECT 1"))  # no span: a background poll
        with unsampled.get_tracer("t").start_as_current_span("not sampled"):
            conn.execute(sa.text("SELECT 2"))
        with tracer.start_as_current_span("POST /v1/reports"):
            conn.execute(sa.text("SELECT 3"))
    statements = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert len(statements) == 1 and statements[0].parent is not None
