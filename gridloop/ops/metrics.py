"""Metrics of the operations jobs (retention), declared once."""

from prometheus_client import Counter, Histogram

RETENTION_ROWS = Counter(
    "gridloop_retention_rows_total", "Rows deleted or erased by the retention jobs", ["service", "job"]
)
RETENTION_SECONDS = Histogram(
    "gridloop_retention_batch_seconds",
    "One retention batch (one short transaction)",
    ["service", "job"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
