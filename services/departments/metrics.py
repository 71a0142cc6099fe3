"""Departments' business metrics."""

from prometheus_client import Counter, Gauge, Histogram

HOURS = (0.05, 0.25, 0.5, 1, 2, 4, 8, 12, 24, 48, 72, 120, 168)

WORK_ITEMS_RECEIVED = Counter(
    "gridloop_work_items_received_total", "Cases dispatched to a department", ["department", "item_code"]
)
TRANSITIONS = Counter("gridloop_work_item_transitions_total", "Work item steps taken", ["department", "action"])
TIME_TO_SIGN = Histogram(
    "gridloop_time_to_sign_seconds", "Dispatch to sign-for", ["department"], buckets=[h * 3600 for h in HOURS]
)
TIME_TO_RESOLVE = Histogram(
    "gridloop_time_to_resolve_seconds", "Dispatch to resolution", ["department"], buckets=[h * 3600 for h in HOURS]
)
REPORT_TO_DEPARTMENT = Histogram(
    "gridloop_report_to_department_seconds",
    "From the report reaching intake to its department receiving the case (first dispatch only)",
    ["department"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
# The three rates (三率) as counts over RATE_WINDOW, so Prometheus can aggregate them (recording rules in
# deploy/prometheus/rules/gridloop-rates.yml divide them). One family per dimension, never item × community:
# that cross product (63 items × 108 communities × kinds) made /metrics 32,000 lines. Each family sums to the
# same department totals.
ITEM_RATE_CASES = Gauge(
    "gridloop_item_rate_cases",
    "Department tasks counted in the three rates over the rate window, per department and item: kind = "
    "dispatched | response_due | signed_on_time | due | resolved_on_time | resolved_within_original | reopened | "
    "returned | rated | satisfied",
    ["kind", "department", "item_code"],
)
COMMUNITY_RATE_CASES = Gauge(
    "gridloop_community_rate_cases",
    "Department tasks counted in the three rates over the rate window, per department and community: kind = "
    "dispatched | response_due | signed_on_time | due | resolved_on_time | resolved_within_original | reopened | "
    "returned | rated | satisfied",
    ["kind", "department", "community"],
)
ITEM_OVERDUE_CASES = Gauge(
    "gridloop_item_overdue_cases",
    "Open work items past a deadline, per department and item: clock = sign (not signed for in time) | "
    "resolve (not resolved in time)",
    ["clock", "department", "item_code"],
)
COMMUNITY_OVERDUE_CASES = Gauge(
    "gridloop_community_overdue_cases",
    "Open work items past a deadline, per department and community: clock = sign (not signed for in time) | "
    "resolve (not resolved in time)",
    ["clock", "department", "community"],
)
RETURNS = Counter(
    "gridloop_work_item_returns_total", "Cases returned by a department (退单)", ["department", "reason_code"]
)
SLA_EVENTS = Counter(
    "gridloop_sla_events_total", "SLA warnings (75 %) and breaches (100 %) fired", ["department", "clock", "kind"]
)
ESCALATIONS = Counter(
    "gridloop_escalations_total", "Clocks moved up the supervision ladder (督办)", ["department", "clock", "level"]
)
EXTENSIONS = Counter("gridloop_extensions_total", "Extension requests and decisions (延期)", ["department", "outcome"])
DUPLICATES = Counter(
    "gridloop_duplicates_total", "Cases linked to an open case as duplicates, and unlinked", ["department", "action"]
)
FEEDBACK = Counter("gridloop_feedback_total", "Residents' ratings recorded", ["rating"])
DEPARTMENT_RATE = Gauge(
    "gridloop_department_rate_ratio",
    "The three rates per department over the trailing rate window: rate = response | resolution | satisfaction",
    ["department", "rate"],
)
CALENDAR_COVERED_DAYS = Gauge(
    "gridloop_working_calendar_covered_days",
    "Days from today the working calendar knows (holidays and 调休): deadlines past them cannot be computed",
)
WEEKLY_REPORTS_PUBLISHED = Counter(
    "gridloop_weekly_reports_published_total", "Weekly assessment reports published by the schedule (one per ISO week)"
)
