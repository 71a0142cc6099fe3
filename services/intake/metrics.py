"""Intake's business metrics."""

from prometheus_client import Counter

REPORTS_RECEIVED = Counter(
    "gridloop_reports_received_total", "Reports accepted as new cases, by community", ["community"]
)
REPORTS_DUPLICATE = Counter("gridloop_reports_duplicate_total", "Reports posted again with a known client_report_id")
REPORTS_REJECTED = Counter("gridloop_reports_rejected_total", "Reports refused, by reason", ["reason"])
REPORTS_OUTSIDE_GRID = Counter(
    "gridloop_reports_outside_grid_total",
    "Reports accepted whose location lies outside the reported grid beyond the GPS tolerance (flagged)",
)
