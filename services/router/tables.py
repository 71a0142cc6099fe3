"""Router's tables: the cases it has seen, and every routing decision with its explanation."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from gridloop.delivery.db import add_delivery_tables

metadata = sa.MetaData()

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("reported", JSONB, nullable=False),  # the CaseReported event, kept for re-routing
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("round", sa.Integer, nullable=False),  # 1 for the first decision, +1 after each return
    sa.Column("outcome", sa.Text, nullable=False),  # admitted | not_admitted | triage
    sa.Column("item_code", sa.Text),
    sa.Column("department", sa.Text),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("reason_code", sa.Text),
    sa.Column("runner_up", sa.Text),
    sa.Column("features", JSONB, nullable=False),
    sa.Column("list_version", sa.Text, nullable=False),
    sa.Column("decided_by", sa.Text, nullable=False),  # classifier | operator:<name>
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("case_id", "round", name="uq_decisions_case_round"),
)

# Every return (退单) of a case: the departments excluded when it is decided again, and the bounce counts.
case_returns = sa.Table(
    "case_returns",
    metadata,
    sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("dispatch_no", sa.Integer, primary_key=True),  # the dispatch that was returned
    sa.Column("department", sa.Text, nullable=False),
    sa.Column("reason_code", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("returned_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_case_returns_department", "department"),
)

outbox, inbox = add_delivery_tables(metadata)
