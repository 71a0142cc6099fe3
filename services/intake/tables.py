"""Intake's tables: cases as reported, and the case timeline projected from status events."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from gridloop.delivery.db import add_delivery_tables

metadata = sa.MetaData()

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("client_report_id", UUID(as_uuid=True), nullable=False, unique=True),
    sa.Column("tracking_token", sa.Text, nullable=False, unique=True),
    sa.Column("worker_id", sa.Text, nullable=False),
    sa.Column("grid_id", sa.Text, nullable=False),
    sa.Column("community_id", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("item_hint", sa.Text),
    sa.Column("location", JSONB),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("photo_urls", JSONB, nullable=False),
    sa.Column("resident", JSONB, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

timeline = sa.Table(
    "case_timeline",
    metadata,
    sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("department", sa.Text),
    sa.Column("item_code", sa.Text),
    sa.Column("note", sa.Text, nullable=False),
)

outbox, inbox = add_delivery_tables(metadata)
