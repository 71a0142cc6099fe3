"""Notify's tables: residents' contact details per case, every message with its delivery state, the case
timeline as notify saw it (for the case page), and feedback requests (回访) with their one-time tokens."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from gridloop.auth.tables import add_auth_tables
from gridloop.delivery.db import add_delivery_tables

metadata = sa.MetaData()

recipients = sa.Table(
    "recipients",
    metadata,
    sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("tracking_token", sa.Text, nullable=False, unique=True),
    sa.Column("resident", JSONB, nullable=False),  # name, phone, e-mail, webhook encrypted (gridloop/auth/privacy.py)
    sa.Column("phone_digest", sa.Text, index=True),  # keyed digest of the phone: SMS replies find the case by it
    sa.Column("summary", JSONB),  # description, address, reported_at: what the case page shows
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("idempotency_key", UUID(as_uuid=True), nullable=False, unique=True),  # uuid5(status event id)
    sa.Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("step", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("context", JSONB, nullable=False),  # values the template was rendered with
    # awaiting_contact | pending | held (quiet hours) | sent | delivered | undeliverable | failed | skipped
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("urgent", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    # The gateway's id, named in its delivery receipts. Not unique: ids of another provider may repeat, and a
    # constraint failing after the send would roll back the 'sent' state and send the SMS again.
    sa.Column("provider_message_id", sa.Text, index=True),
    sa.Column("receipt_at", sa.DateTime(timezone=True)),
    sa.Index("ix_messages_due", "next_attempt_at", postgresql_where=sa.text("state IN ('pending', 'held')")),
)

case_steps = sa.Table(
    "case_steps",
    metadata,
    sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("department", sa.Text),
    sa.Column("item_code", sa.Text),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("detail", JSONB, nullable=False),
)

feedback_requests = sa.Table(
    "feedback_requests",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("token", sa.Text, nullable=False, unique=True),  # one-time, in the resolved message's link
    sa.Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("resolved_event_id", UUID(as_uuid=True), nullable=False, unique=True),
    sa.Column("department", sa.Text),
    sa.Column("item_code", sa.Text),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),  # closed as 未评价 after this
    # awaiting | answered | expired | superseded (a newer resolution asked again)
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("rating", sa.Text),  # satisfied | basically_satisfied | dissatisfied
    sa.Column("comment", sa.Text),
    sa.Column("answered_via", sa.Text),  # web | sms
    sa.Column("answered_at", sa.DateTime(timezone=True)),
    sa.Column("outcome", sa.Text),  # closed | reopened | escalated
    sa.Index("ix_feedback_awaiting_due", "due_at", postgresql_where=sa.text("state = 'awaiting'")),
)

# Residents' SMS replies taken from a provider's callback, once each: the provider's id for the reply (Aliyun
# sequence_id) or a digest of what identifies it (Tencent: number, time, text). A repeated callback is answered
# without rating again.
sms_replies = sa.Table(
    "sms_replies",
    metadata,
    sa.Column("provider", sa.Text, primary_key=True),
    sa.Column("reply_key", sa.Text, primary_key=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),  # closed | reopened | escalated | not_a_rating | no_case_… | …
)

# Officials who must act when a case reaches their rung of the supervision ladder (督办): per department (or every
# department: '*') and level (department_head 分管领导, district_supervisor 区督办办, handler 科长), managed by
# operators (officials_api.py, audited).
officials = sa.Table(
    "officials",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("department", sa.Text, nullable=False),  # a department, or '*' for every department
    sa.Column("level", sa.Text, nullable=False),  # handler | department_head | district_supervisor
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("phone", sa.Text),
    sa.Column("email", sa.Text),
    sa.Column("webhook_url", sa.Text),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_officials_department_level", "department", "level"),
)

# What officials were told: one message per escalation step and official (the key derives from both).
official_messages = sa.Table(
    "official_messages",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("idempotency_key", UUID(as_uuid=True), nullable=False, unique=True),
    sa.Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("official_id", sa.BigInteger, nullable=False),
    sa.Column("level", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("context", JSONB, nullable=False),
    sa.Column("state", sa.Text, nullable=False),  # pending | sent | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Index("ix_official_messages_due", "next_attempt_at", postgresql_where=sa.text("state = 'pending'")),
)

# Cases escalated after repeated dissatisfaction wait here for an operator, with explicit ways out: re-dispatch
# (the department works it again), close with a note, or arbitration (then re-dispatch or close).
escalations = sa.Table(
    "escalations",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),  # the `escalated` event
    sa.Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("department", sa.Text),
    sa.Column("item_code", sa.Text),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("owner", sa.Text, nullable=False),  # who must act: the district supervision office, else the queue
    sa.Column("state", sa.Text, nullable=False),  # open | arbitration | redispatched | closed
    sa.Column("note", sa.Text),
    sa.Column("decided_by", sa.Text),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_escalations_waiting", "created_at", postgresql_where=sa.text("state IN ('open', 'arbitration')")),
)

outbox, inbox = add_delivery_tables(metadata)
auth_tables = add_auth_tables(metadata)  # audit_log, revoked_tokens
