"""Delivery-pipeline metrics shared by every service (one process runs one service)."""

from prometheus_client import Counter, Gauge, Histogram

OUTBOX_PUBLISHED = Counter("gridloop_outbox_published_total", "Outbox events published to Kafka", ["topic"])
OUTBOX_BACKLOG = Gauge("gridloop_outbox_backlog_events", "Outbox events not yet published")
OUTBOX_OLDEST_AGE = Gauge("gridloop_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox event")
OUTBOX_RELAY_ERRORS = Counter("gridloop_outbox_relay_errors_total", "Relay iterations that failed", ["reason"])
OUTBOX_DELAY = Histogram(
    "gridloop_outbox_delay_seconds",
    "From the transaction that wrote an outbox row to the commit that removed it after the broker's ack",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
CONSUMED = Counter("gridloop_consumer_messages_total", "Messages consumed, by outcome", ["group", "topic", "outcome"])
INBOX_DUPLICATES = Counter(
    "gridloop_inbox_duplicates_total", "Messages skipped because their event id was processed before", ["group"]
)
DEAD_LETTERS = Counter("gridloop_dead_letters_total", "Messages sent to a dead-letter topic", ["topic", "reason"])
HANDLER_SECONDS = Histogram(
    "gridloop_handler_duration_seconds",
    "Time to process one message including the commit",
    ["group"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
CONSUMER_LAG = Gauge("gridloop_consumer_lag_messages", "Consumer lag per group and topic", ["group", "topic"])
EVENT_AGE_AT_CONSUME = Histogram(
    "gridloop_event_age_at_consume_seconds",
    "Time from an event's creation to its consumption",
    ["group", "topic"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
GROUP_COMMIT_UNITS = Histogram(
    "gridloop_group_commit_units",
    "Units of work written in one transaction by group commit (intake: reports per transaction)",
    ["name"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
