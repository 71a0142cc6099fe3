"""Generates the GridLoop Grafana dashboards (deploy/grafana/dashboards/*.json) from the panel lists below.

    python deploy/grafana/dashboards.py          # rewrite the JSON files
    python deploy/grafana/dashboards.py --check  # exit 1 if a committed file is not current

Every panel's queries must return data on a stack under traffic: tests/integration/test_observability.py
runs them against a real Prometheus. `or ... * 0` turns "no errors yet" into 0 instead of an empty panel.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "gridloop-prometheus"}
SERVICES = 'job=~"intake|router|departments|notify"'
# "Nothing happened yet" as a 0 per department that has work, instead of an empty panel.
ZERO_PER_DEPARTMENT = 'sum by (department) (gridloop_item_rate_cases{kind="dispatched"}) * 0'


@dataclass(frozen=True)
class Panel:
    title: str
    targets: list[tuple[str, str]]  # (expr, legend)
    unit: str = "short"
    kind: str = "timeseries"  # timeseries | stat | bargauge | table
    width: int = 12
    description: str = ""
    extra: dict = field(default_factory=dict)


def quantiles(metric: str, by: str, selector: str = "", window: str = "1m") -> list[tuple[str, str]]:
    legend_by = "".join(f"{{{{{label.strip()}}}}} " for label in by.split(",")) if by else ""
    group = f"{by}, le" if by else "le"
    return [
        (
            f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{selector}}}[{window}])))",
            f"{legend_by}p{int(q * 100)}",
        )
        for q in (0.5, 0.95, 0.99)
    ]


PIPELINE = [
    Panel("Services up", [(f"up{{{SERVICES}}}", "{{job}} {{instance}}")], kind="stat", width=8),
    Panel(
        "Intake: accepted reports per second",
        [
            ("sum(rate(gridloop_reports_received_total[1m]))", "accepted"),
            ("sum(rate(gridloop_reports_duplicate_total[1m]))", "repeated posts"),
            (
                "sum by (reason) (rate(gridloop_reports_rejected_total[1m]))"
                " or sum(rate(gridloop_reports_received_total[1m])) * 0",
                "rejected {{reason}}",
            ),
        ],
        unit="reqps",
        width=8,
    ),
    Panel(
        "HTTP 5xx share by service",
        [
            (
                f'(sum by (job) (rate(gridloop_http_request_duration_seconds_count{{{SERVICES},status=~"5.."}}[5m]))'
                f" or sum by (job) (rate(gridloop_http_request_duration_seconds_count{{{SERVICES}}}[5m])) * 0)"
                f" / sum by (job) (rate(gridloop_http_request_duration_seconds_count{{{SERVICES}}}[5m]))",
                "{{job}}",
            )
        ],
        unit="percentunit",
        width=8,
    ),
    Panel(
        "HTTP latency p99 by route",
        [
            (
                "histogram_quantile(0.99, sum by (job, route, le) "
                "(rate(gridloop_http_request_duration_seconds_bucket[1m])))",
                "{{job}} {{route}}",
            )
        ],
        unit="s",
    ),
    Panel(
        "HTTP requests per second by route and status",
        [
            (
                "sum by (job, route, status) (rate(gridloop_http_request_duration_seconds_count[1m]))",
                "{{job}} {{route}} {{status}}",
            )
        ],
        unit="reqps",
    ),
    Panel(
        "End to end: report → department",
        quantiles("gridloop_report_to_department_seconds", ""),
        unit="s",
        description="From intake storing the report to the department service receiving the dispatched case.",
    ),
    Panel(
        "End to end: report → resident told it was received",
        quantiles("gridloop_report_to_notification_seconds", "", 'step="received"'),
        unit="s",
        description="From intake storing the report to the notify service sending the resident's 已受理 message.",
    ),
    Panel(
        "Consumer lag by group and topic",
        [("sum by (group, topic) (gridloop_consumer_lag_messages)", "{{group}} ← {{topic}}")],
    ),
    Panel(
        "Messages consumed per second by group and outcome",
        [("sum by (group, outcome) (rate(gridloop_consumer_messages_total[1m]))", "{{group}} {{outcome}}")],
        unit="ops",
    ),
    Panel(
        "Handler time p99 by consumer group (including the commit)",
        [
            (
                "histogram_quantile(0.99, sum by (group, le) (rate(gridloop_handler_duration_seconds_bucket[1m])))",
                "{{group}}",
            )
        ],
        unit="s",
    ),
    Panel(
        "Event age when consumed p99",
        [
            (
                "histogram_quantile(0.99, sum by (group, topic, le) "
                "(rate(gridloop_event_age_at_consume_seconds_bucket[1m])))",
                "{{group}} ← {{topic}}",
            )
        ],
        unit="s",
    ),
    Panel(
        "Outbox backlog by service",
        [("sum by (job) (gridloop_outbox_backlog_events)", "{{job}}")],
        width=8,
    ),
    Panel(
        "Outbox oldest unpublished event",
        [("max by (job) (gridloop_outbox_oldest_age_seconds)", "{{job}}")],
        unit="s",
        width=8,
        description="Alert GridLoopOutboxStale fires above 60 s.",
    ),
    Panel(
        "Outbox published per second by topic",
        [("sum by (topic) (rate(gridloop_outbox_published_total[1m]))", "{{topic}}")],
        unit="ops",
        width=8,
    ),
    Panel(
        "Outbox delay (written → published) by service",
        [
            (
                f"histogram_quantile({q}, sum by (job, le) (rate(gridloop_outbox_delay_seconds_bucket[1m])))",
                "{{job}} " + name,
            )
            for q, name in (("0.5", "p50"), ("0.99", "p99"))
        ],
        unit="s",
        width=8,
        description="From the transaction that wrote an event to the relay's commit after the broker acknowledged "
        "it: each service's share of end-to-end latency. It grows with a busy relay (slow passes) or an "
        "unreachable broker (then the outbox age alert follows).",
    ),
    Panel(
        "Event-loop lag p99 by service",
        [
            (
                "histogram_quantile(0.99, sum by (job, le) (rate(gridloop_event_loop_lag_seconds_bucket[1m])))",
                "{{job}}",
            )
        ],
        unit="s",
        width=8,
        description="How late each service's event loop ran what was due. When it grows, every request, handler "
        "and relay of that service waits: the process is short of CPU or something blocks the loop.",
    ),
    Panel(
        "Reports per transaction (group commit)",
        [
            (
                "sum by (name) (rate(gridloop_group_commit_units_sum[1m]))"
                " / sum by (name) (rate(gridloop_group_commit_units_count[1m]))",
                "{{name}} mean",
            )
        ],
        width=8,
        description="Intake commits the reports waiting at one moment together; near 1 when quiet, grows with load.",
    ),
    Panel(
        "Garbage-collection pauses p99 by service and generation",
        [
            (
                "histogram_quantile(0.99, sum by (job, generation, le) (rate(gridloop_gc_pause_seconds_bucket[5m])))",
                "{{job}} gen {{generation}}",
            )
        ],
        unit="s",
        width=8,
        description="How long Python's garbage collector stopped each service (generation 2: a full collection). "
        "Every request, handler and relay of the service waits meanwhile. The start-up heap is frozen out of "
        "collection; a growing generation-2 pause means the live heap grew.",
    ),
    Panel(
        "Inbox duplicates skipped (15 min)",
        [("sum by (group) (increase(gridloop_inbox_duplicates_total[15m]))", "{{group}}")],
        kind="bargauge",
    ),
    Panel(
        "Dead letters (15 min)",
        [("sum by (topic, reason) (increase(gridloop_dead_letters_total[15m]))", "{{topic}} {{reason}}")],
        kind="bargauge",
        description="Alert GridLoopDeadLetters fires while this is above 0.",
    ),
]

GOVERNANCE = [
    Panel(
        "Reports by community (top 15, last hour)",
        [("topk(15, sum by (community) (increase(gridloop_reports_received_total[1h])))", "{{community}}")],
        kind="bargauge",
    ),
    Panel(
        "Routing outcomes (last hour)",
        [("sum by (outcome) (increase(gridloop_routing_decisions_total[1h]))", "{{outcome}}")],
        kind="stat",
        description="admitted = forwarded to a department; not_admitted = not on the 63-item admission list.",
    ),
    Panel(
        "Routed by department per minute",
        [
            (
                'sum by (department) (rate(gridloop_routing_decisions_total{outcome="admitted"}[5m])) * 60',
                "{{department}}",
            )
        ],
    ),
    Panel(
        "Routed by item (top 15, last hour)",
        [
            (
                'topk(15, sum by (item_code) (increase(gridloop_routing_decisions_total{outcome="admitted"}[1h])))',
                "{{item_code}}",
            )
        ],
        kind="bargauge",
    ),
    Panel(
        "Not admitted per minute",
        [('sum(rate(gridloop_routing_decisions_total{outcome="not_admitted"}[5m])) * 60', "not admitted")],
        width=8,
    ),
    Panel("Triage queue (waiting for an operator)", [("sum(gridloop_triage_queue_cases)", "cases")], width=8),
    Panel(
        "Open cases past a deadline by department",
        [("sum by (department, clock) (gridloop_item_overdue_cases)", "{{department}} {{clock}}")],
        width=8,
        description="clock=sign: not signed for in time; clock=resolve: not resolved in time (SLA breaches).",
    ),
    Panel(
        "Response rate by department (signed for in time ÷ dispatched, 30 days)",
        [("department:gridloop_response_rate:ratio", "{{department}}")],
        unit="percentunit",
        kind="stat",
    ),
    Panel(
        "Resolution rate by department (resolved in time ÷ due, 30 days)",
        [("department:gridloop_resolution_rate:ratio", "{{department}}")],
        unit="percentunit",
        kind="stat",
    ),
    Panel(
        "Response rate by item (lowest 15)",
        [("bottomk(15, department_item:gridloop_response_rate:ratio)", "{{department}} {{item_code}}")],
        unit="percentunit",
        kind="bargauge",
    ),
    Panel(
        "Response rate by community (lowest 15)",
        [("bottomk(15, community:gridloop_response_rate:ratio)", "{{community}}")],
        unit="percentunit",
        kind="bargauge",
    ),
    Panel(
        "Satisfaction rate by department (satisfied ÷ rated, 30 days)",
        [('gridloop_department_rate_ratio{rate="satisfaction"}', "{{department}}")],
        unit="percentunit",
        kind="stat",
    ),
    Panel(
        "SLA warnings and breaches by department (last hour)",
        [
            (
                f"sum by (department, clock, kind) (increase(gridloop_sla_events_total[1h])) or {ZERO_PER_DEPARTMENT}",
                "{{department}} {{clock}} {{kind}}",
            )
        ],
        kind="bargauge",
    ),
    Panel(
        "Escalations (督办) by department and rung (last hour)",
        [
            (
                f"sum by (department, level) (increase(gridloop_escalations_total[1h])) or {ZERO_PER_DEPARTMENT}",
                "{{department}} {{level}}",
            )
        ],
        kind="bargauge",
    ),
    Panel(
        "Returns (退单) by department and reason (last hour)",
        [
            (
                "sum by (department, reason_code) (increase(gridloop_work_item_returns_total[1h]))"
                f" or {ZERO_PER_DEPARTMENT}",
                "{{department}} {{reason_code}}",
            )
        ],
        kind="bargauge",
    ),
    # Item and community are exported as two families, never crossed (issue 8: 63 × 108 × kinds was 32,000
    # series), so the escalation candidates are two top-15 lists.
    Panel(
        "Open cases past a deadline by item (escalation candidates, top 15)",
        [
            (
                "topk(15, sum by (department, item_code) (gridloop_item_overdue_cases))",
                "{{department}} {{item_code}}",
            )
        ],
        kind="bargauge",
        width=8,
    ),
    Panel(
        "Open cases past a deadline by community (escalation candidates, top 15)",
        [
            (
                "topk(15, sum by (department, community) (gridloop_community_overdue_cases))",
                "{{department}} {{community}}",
            )
        ],
        kind="bargauge",
        width=8,
    ),
    Panel(
        "Past-deadline share by department",
        [("department:gridloop_overdue:ratio", "{{department}}")],
        unit="percentunit",
        width=8,
        description="Alert GridLoopSlaBreachRateHigh fires above 10 % for 15 minutes.",
    ),
    Panel(
        "Work item steps per minute by department",
        [
            (
                "sum by (department, action) (rate(gridloop_work_item_transitions_total[5m])) * 60",
                "{{department}} {{action}}",
            )
        ],
    ),
    Panel(
        "Time to sign for, by department",
        quantiles("gridloop_time_to_sign_seconds", "department", window="1h"),
        unit="s",
    ),
    Panel(
        "Time to resolve, by department",
        quantiles("gridloop_time_to_resolve_seconds", "department", window="1h"),
        unit="s",
    ),
]

NOTIFICATIONS = [
    Panel(
        "Deliveries per second by channel and outcome",
        [("sum by (channel, outcome) (rate(gridloop_notifications_total[1m]))", "{{channel}} {{outcome}}")],
        unit="ops",
    ),
    Panel(
        "Failure share by channel (15 min)",
        [
            (
                '(sum by (channel) (rate(gridloop_notifications_total{outcome="failed"}[15m]))'
                ' or sum by (channel) (rate(gridloop_notifications_total{outcome="sent"}[15m])) * 0)'
                ' / sum by (channel) (rate(gridloop_notifications_total{outcome=~"sent|failed"}[15m]))',
                "{{channel}}",
            )
        ],
        unit="percentunit",
        description="Alert GridLoopNotificationFailureRatioHigh fires above 5 % for 10 minutes.",
    ),
    Panel(
        "Messages written per minute by step",
        [("sum by (step) (rate(gridloop_notification_messages_total[5m])) * 60", "{{step}}")],
    ),
    Panel(
        "Step → message sent, p95 by step",
        [
            (
                "histogram_quantile(0.95, sum by (step, le) "
                "(rate(gridloop_report_to_notification_seconds_bucket[5m])))",
                "{{step}}",
            )
        ],
        unit="s",
    ),
    Panel(
        "Report → resident told it was received",
        quantiles("gridloop_report_to_notification_seconds", "", 'step="received"'),
        unit="s",
    ),
    Panel(
        "Notify consumer lag",
        [('sum by (topic) (gridloop_consumer_lag_messages{group="gridloop.notify"})', "{{topic}}")],
    ),
]

DASHBOARDS = {
    "gridloop-pipeline": ("GridLoop · pipeline health", PIPELINE),
    "gridloop-governance": ("GridLoop · governance (三率, deadlines, routing)", GOVERNANCE),
    "gridloop-notifications": ("GridLoop · notifications", NOTIFICATIONS),
}


def panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict:
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if panel.kind == "timeseries" else {},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(panel.targets)
        ],
        **panel.extra,
    }


def dashboard_json(uid: str, title: str, panels: list[Panel]) -> dict:
    laid_out, x, y = [], 0, 0
    for number, panel in enumerate(panels, start=1):
        if x + panel.width > 24:
            x, y = 0, y + 8
        laid_out.append(panel_json(panel, number, x, y))
        x += panel.width
    return {
        "uid": uid,
        "title": title,
        "tags": ["gridloop"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": laid_out,
    }


def render() -> dict[Path, str]:
    return {
        OUT / f"{uid}.json": json.dumps(dashboard_json(uid, title, panels), ensure_ascii=False, indent=2) + "\n"
        for uid, (title, panels) in DASHBOARDS.items()
    }


def main(argv: list[str]) -> int:
    rendered = render()
    if "--check" in argv:
        stale = [str(path) for path, text in rendered.items() if not path.is_file() or path.read_text() != text]
        for path in stale:
            print(f"{path} is not current: run python deploy/grafana/dashboards.py")
        return 1 if stale else 0
    OUT.mkdir(exist_ok=True)
    for path, text in rendered.items():
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
