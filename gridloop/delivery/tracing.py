"""Trace context across the Kafka hops: W3C `traceparent` / `tracestate` in the record headers, beside the
CloudEvents ones, and in the outbox row between the transaction that wrote an event and the relay that sends it.

    HTTP request or consumer span ──(outbox row: trace_context)──> outbox wait <topic> (written → acknowledged)
        └─ send <topic> (PRODUCER; its context goes into the record's headers)
              └─ process <topic> (CONSUMER, in the next service) ──> …

A service whose tracing is off passes a stored context on unchanged and starts no span (its tracer is None).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context

# The headers the W3C propagators write (OTEL_PROPAGATORS may add baggage); only these are read back.
TRACE_HEADERS = frozenset({"traceparent", "tracestate", "baggage"})


def carrier_of(context: Context | None = None) -> dict[str, str] | None:
    """`traceparent` (and `tracestate`) of `context` (default: the current one), or None outside any span."""
    span_context = trace.get_current_span(context).get_span_context()
    if not span_context.is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return carrier or None


def record_headers(carrier: Mapping[str, str] | None) -> list[tuple[str, bytes]]:
    return [(key, value.encode()) for key, value in (carrier or {}).items()]


def context_of_record(headers: Sequence[tuple[str, bytes]] | None) -> Context | None:
    """The trace context a record carries, or None if it carries none."""
    carrier = {key: value.decode("latin-1") for key, value in headers or () if key in TRACE_HEADERS}
    if "traceparent" not in carrier:
        return None
    return propagate.extract(carrier, context=Context())


def in_span_context(span: trace.Span) -> Context:
    """A fresh context with `span` current. Fresh, so it does not inherit the background task's suppression of
    instrumentation (servicekit.runtime): SQL run in it is traced under `span`."""
    return trace.set_span_in_context(span, Context())


@contextmanager
def activated(context: Context | None) -> Iterator[None]:
    """Make `context` current for the block (nothing if None)."""
    if context is None:
        yield
        return
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)
