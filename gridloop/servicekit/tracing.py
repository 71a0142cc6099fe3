"""OpenTelemetry tracing of a service: HTTP requests, SQL, and the Kafka hops (docs/operations.md#tracing).

Off unless `OTEL_TRACES_EXPORTER` names an exporter (`otlp`, `console`): then the service gets a tracer provider of
its own (service.name `gridloop-<service>`), sampled by `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` and
exported in batches to `OTEL_EXPORTER_OTLP_ENDPOINT`, all read by the SDK itself. Off, there is no provider: no
middleware, no SQL hooks, and the delivery code takes its untraced paths.

A provider per service rather than the process-wide global one: the tests run the four services in one process, and
each span must still say which service made it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

# Probes and scrapes come every few seconds from the platform; a span for each would bury the cases' traces.
EXCLUDED_URLS = "/healthz,/readyz,/metrics"
SCOPE = "gridloop"


def _exporter(name: str, environ: Mapping[str, str]) -> SpanExporter:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name == "otlp":
        protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        if protocol in ("http/protobuf", "http/json"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

            return HttpExporter()  # endpoint, headers, timeout: OTEL_EXPORTER_OTLP_*
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    raise ValueError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (expected otlp, console or none)")


class Tracing:
    """A service's tracer provider, or none when tracing is off."""

    def __init__(self, service: str, provider: TracerProvider | None) -> None:
        self.service = service
        self.provider = provider

    @classmethod
    def from_env(cls, service: str, environ: Mapping[str, str] | None = None) -> Tracing:
        """Tracing as the standard OTEL_* variables ask; off unless OTEL_TRACES_EXPORTER names an exporter."""
        environ = os.environ if environ is None else environ
        names = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "none").split(",") if n.strip()]
        names = [n for n in names if n != "none"]
        if not names or environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return cls(service, None)
        provider = cls._provider(service)
        for name in names:
            provider.add_span_processor(BatchSpanProcessor(_exporter(name, environ)))  # OTEL_BSP_* tune it
        return cls(service, provider)

    @classmethod
    def exporting_to(cls, service: str, exporter: SpanExporter) -> Tracing:
        """Every span of the service handed to `exporter` as it ends (tests: an in-memory exporter)."""
        provider = cls._provider(service)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        return cls(service, provider)

    @staticmethod
    def _provider(service: str) -> TracerProvider:
        # The sampler comes from OTEL_TRACES_SAMPLER / _ARG (default: parent-based, always on).
        return TracerProvider(resource=Resource.create({"service.name": f"gridloop-{service}"}))

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def tracer(self) -> trace.Tracer | None:
        """The service's tracer, or None when tracing is off (callers skip their span work entirely)."""
        return self.provider.get_tracer(SCOPE) if self.provider is not None else None

    def instrument_app(self, app: FastAPI) -> None:
        """A server span per request (named by route template); call before the app serves its first request."""
        if self.provider is None:
            return
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, tracer_provider=self.provider, excluded_urls=EXCLUDED_URLS)

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """A client span per SQL statement run on this engine while a recorded (sampled) span is active."""
        if self.provider is None:
            return
        # `SQLAlchemyInstrumentor().instrument(engine=…)` instruments once per process; the engine tracer it builds
        # is what a provider per service needs, one per engine.
        from opentelemetry.instrumentation.sqlalchemy.version import __version__ as version
        from opentelemetry.metrics import NoOpMeter

        tracer = self.provider.get_tracer("opentelemetry.instrumentation.sqlalchemy", version)
        connections = NoOpMeter("gridloop").create_up_down_counter("db.client.connections.usage")
        _trace_sql(tracer, engine.sync_engine, connections)

    def shutdown(self) -> None:
        """Export what is still buffered (bounded by OTEL_BSP_EXPORT_TIMEOUT), then stop."""
        if self.provider is not None:
            self.provider.shutdown()


def _trace_sql(tracer: trace.Tracer, engine: Any, connections: Any) -> None:
    """Hook the SQLAlchemy instrumentation's engine tracer into `engine`, for statements inside recorded spans."""
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

    class RecordedSqlOnly(EngineTracer):
        """SQL spans only inside a span that is recorded: the instrumentation reads the connection's attributes and
        starts a span for every statement, sampled or not, so a 1 %-sampled service paid that for all of them;
        outside a recorded span a statement now costs one check."""

        def _before_cur_exec(self, conn: Any, cursor: Any, statement: Any, params: Any, *args: Any) -> Any:
            if not trace.get_current_span().is_recording():
                return statement, params
            return super()._before_cur_exec(conn, cursor, statement, params, *args)  # type: ignore[no-untyped-call]

    RecordedSqlOnly(tracer, engine, connections)  # type: ignore[no-untyped-call]


def export_spans_to(app: FastAPI, exporter: SpanExporter) -> None:
    """Trace a service app that has not started yet into `exporter`, whatever the environment says (tests)."""
    current: Tracing = app.state.tracing
    if current.enabled:
        raise RuntimeError(f"{current.service}: tracing is already on (OTEL_TRACES_EXPORTER)")
    app.state.tracing = Tracing.exporting_to(current.service, exporter)
    app.state.tracing.instrument_app(app)
