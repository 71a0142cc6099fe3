"""Router's tables: the cases it has seen, and every routing decision with its explanation."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from gridloop.auth.tables import add_auth_tables
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
    sa.Column("round", sa.Integer, nullable=False),  # 1 for the first decision, +1 for each later one
    sa.Column("outcome", sa.Text, nullable=False),  # admitted | not_admitted | triage
    sa.Column("item_code", sa.Text),
    sa.Column("department", sa.Text),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("reason_code", sa.Text),
    sa.Column("runner_up", sa.Text),
    sa.Column("features", JSONB, nullable=False),
    sa.Column("list_version", sa.Text, nullable=False),
    sa.Column("model_version", sa.Text, nullable=False, server_default=""),  # "" for an operator's decision
    sa.Column("danger", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),  # danger signals found
    sa.Column("decided_by", sa.Text, nullable=False),  # classifier | operator:<name>
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("case_id", "round", name="uq_decisions_case_round"),
    # The triage queue (triage.open_triage): only the triage decisions, oldest first, read from the index alone.
    sa.Index(
        "ix_decisions_triage",
        "decided_at",
        postgresql_include=["case_id", "round"],
        postgresql_where=sa.text("outcome = 'triage'"),
    ),
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
auth_tables = add_auth_tables(metadata)  # audit_log, revoked_tokens

# Operator decisions kept as training data for the classifier (`gridloop retrain`).
labelled_examples = sa.Table(
    "labelled_examples",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("case_id", UUID(as_uuid=True), index=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("label", sa.Text, nullable=False),  # an item code, or NOT_ADMITTED
    sa.Column("reason_code", sa.Text),  # for NOT_ADMITTED
    sa.Column("source", sa.Text, nullable=False),  # operator:<name>
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# Every admission list an operator put in force; the shipped list applies while none is active.
admission_lists = sa.Table(
    "admission_lists",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("version", sa.Text, nullable=False),
    sa.Column("tsv", sa.Text, nullable=False),
    sa.Column("uploaded_by", sa.Text, nullable=False),
    sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("uq_admission_lists_active", "active", unique=True, postgresql_where=sa.text("active")),
)

admission_list_audit = sa.Table(
    "admission_list_audit",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("action", sa.Text, nullable=False),  # activated | unchanged | rejected
    sa.Column("version", sa.Text),  # null when the upload was rejected
    sa.Column("previous_version", sa.Text, nullable=False),
    sa.Column("operator", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
)

# Classifier models trained by the router (retraining for a replaced list or from operators' corrections): the
# active one is the model every replica decides with; the shipped model applies while none is active.
classifier_models = sa.Table(
    "classifier_models",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("model_version", sa.Text, nullable=False, unique=True),
    sa.Column("list_version", sa.Text, nullable=False),
    sa.Column("model", sa.LargeBinary, nullable=False),  # the .npz archive (no pickle)
    sa.Column("metrics", JSONB, nullable=False),  # held-out metrics before and after
    sa.Column("trained_by", sa.Text, nullable=False),
    sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("uq_classifier_models_active", "active", unique=True, postgresql_where=sa.text("active")),
)
