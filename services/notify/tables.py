"""Notify's tables: residents' contact details per case, and every message with its delivery state."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from gridloop.delivery.db import add_delivery_tables

metadata = sa.MetaData()

recipients = sa.Table(
    "recipients",
    metadata,
    sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("tracking_token", sa.Text, nullable=False, unique=True),
    sa.Column("resident", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("idempotency_key", UUID(as_uuid=True), nullable=False, unique=True),  # uuid5(status event id, channel)
    sa.Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("step", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("context", JSONB, nullable=False),  # values the template was rendered with
    # awaiting_contact | pending | sent | failed | skipped
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Index("ix_messages_due", "next_attempt_at", postgresql_where=sa.text("state = 'pending'")),
)

outbox, inbox = add_delivery_tables(metadata)
