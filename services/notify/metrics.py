"""Notify's metrics."""

from prometheus_client import Counter, Histogram

DELIVERIES = Counter(
    "gridloop_notifications_total", "Notification delivery attempts by channel and outcome", ["channel", "outcome"]
)
MESSAGES_CREATED = Counter("gridloop_notification_messages_total", "Resident messages written, by step", ["step"])
REPORT_TO_NOTIFICATION = Histogram(
    "gridloop_report_to_notification_seconds",
    "From the status step to the resident's message being sent",
    ["step"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
HELD = Counter("gridloop_notifications_held_total", "Messages held for the end of quiet hours", ["channel"])
RECEIPTS = Counter(
    "gridloop_notification_receipts_total", "Delivery receipts from the SMS gateway, by outcome", ["outcome"]
)
FEEDBACK = Counter(
    "gridloop_feedback_answers_total", "Feedback answers (回访), by rating and channel", ["rating", "via"]
)
FEEDBACK_OUTCOMES = Counter(
    "gridloop_feedback_outcomes_total", "What feedback led to: closed, reopened, escalated, expired", ["outcome"]
)
OFFICIAL_MESSAGES = Counter(
    "gridloop_official_notifications_total",
    "Messages to officials when a case reaches their rung (督办), by channel and outcome",
    ["channel", "outcome"],
)
OFFICIALS_UNLISTED = Counter(
    "gridloop_escalations_without_official_total",
    "Escalation steps for whose department and level no official is listed",
    ["level"],
)
ESCALATION_DECISIONS = Counter(
    "gridloop_escalation_decisions_total",
    "Operators' decisions on escalated cases: redispatched, closed, arbitration",
    ["decision"],
)
