"""Router's business metrics."""

from prometheus_client import Counter, Gauge, Histogram

DECISIONS = Counter(
    "gridloop_routing_decisions_total",
    "Routing decisions by outcome, department and item",
    ["outcome", "department", "item_code"],
)
CONFIDENCE = Histogram(
    "gridloop_routing_confidence_ratio",
    "Classifier confidence of routing decisions",
    ["outcome"],
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
)
TRIAGE_QUEUE = Gauge(
    "gridloop_triage_queue_cases", "Cases whose latest routing decision is triage (waiting for an operator)"
)
RETURNS = Counter(
    "gridloop_routing_returns_total",
    "Cases returned by a department (退单) and what the router did: outcome = rerouted | triage",
    ["department", "reason_code", "outcome"],
)
