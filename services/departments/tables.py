"""Departments' tables: one work item per dispatched case, and its activity log."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from gridloop.delivery.db import add_delivery_tables

metadata = sa.MetaData()

work_items = sa.Table(
    "work_items",
    metadata,
    sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("department", sa.Text, nullable=False),
    sa.Column("item_code", sa.Text, nullable=False),
    sa.Column("item_name_zh", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # dispatched | signed | in_progress | resolved
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("grid_id", sa.Text, nullable=False),
    sa.Column("community_id", sa.Text, nullable=False),
    sa.Column("location", JSONB),
    sa.Column("resident_name_masked", sa.Text, nullable=False),
    sa.Column("resident_phone_masked", sa.Text, nullable=False),
    sa.Column("dispatch_no", sa.Integer, nullable=False),
    sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sign_deadline", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolve_deadline", sa.DateTime(timezone=True), nullable=False),
    sa.Column("signed_at", sa.DateTime(timezone=True)),
    sa.Column("signed_by", sa.Text),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("result", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_work_items_department_status", "department", "status"),
)

activity = sa.Table(
    "work_item_activity",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("photo_urls", JSONB, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

outbox, inbox = add_delivery_tables(metadata)
