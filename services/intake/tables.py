"""Intake's tables: cases as reported (the resident's contact sealed), the case timeline projected from status
events, and the managed grid registry (communities → grids → workers)."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from gridloop.auth.tables import add_auth_tables
from gridloop.delivery.db import add_delivery_tables

metadata = sa.MetaData()

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
    # The idempotency key is the reporting worker's own (worker_id, client_report_id); the fingerprint is what it
    # was first sent with (NULL for cases stored before fingerprints, which are not compared).
    sa.Column("client_report_id", UUID(as_uuid=True), nullable=False),
    sa.Column("request_fingerprint", sa.Text),
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
    # The reporter agreed that the description and photo may be shown publicly (Open311); false unless asked.
    sa.Column("public_consent", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("resident", JSONB, nullable=False),  # name, phone, e-mail, webhook encrypted (gridloop/auth/privacy.py)
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # A report whose location lies farther than the tolerance outside the reported grid: accepted, flagged for
    # operators with the distance and the grid that does hold the location (None outside every grid).
    sa.Column("outside_grid_m", sa.Float),
    sa.Column("located_grid_id", sa.Text),
    sa.Index("ix_cases_outside_grid", "reported_at", postgresql_where=sa.text("outside_grid_m IS NOT NULL")),
    sa.UniqueConstraint("worker_id", "client_report_id", name="cases_worker_id_client_report_id_key"),
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

# What each grid worker is told about the cases they reported: one row per outcome step, in the order intake took
# them (`id` is the cursor of the worker's feed and stream), keyed naturally by the status event's id.
worker_updates = sa.Table(
    "worker_updates",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    sa.Column("worker_id", sa.Text, nullable=False),
    sa.Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("text", sa.Text, nullable=False),  # what the worker reads (Chinese)
    sa.Column("detail", JSONB, nullable=False),  # department, item, reason, where to send the resident, …
    sa.Column("action_needed", sa.Boolean, nullable=False),
    sa.Index("ix_worker_updates_worker_id", "worker_id", "id"),
)

communities = sa.Table(
    "communities",
    metadata,
    sa.Column("community_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("street", sa.Text, nullable=False),
    sa.Column("boundary", JSONB),  # GeoJSON, WGS84: as imported, or the union of its grids
)

# Streets (街道) with their boundaries (as imported, or the union of their communities); communities name theirs.
streets = sa.Table(
    "streets",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("boundary", JSONB),
)

grids = sa.Table(
    "grids",
    metadata,
    sa.Column("grid_id", sa.Text, primary_key=True),
    sa.Column("community_id", sa.Text, sa.ForeignKey("communities.community_id"), nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("households", sa.Integer, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("boundary", JSONB),  # a GeoJSON Polygon or MultiPolygon, WGS84
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),  # deactivated, never deleted
)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("worker_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("phone", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),  # a departed worker: False
)

# A worker walks one or more grids; `position` keeps the first-named grid first.
worker_grids = sa.Table(
    "worker_grids",
    metadata,
    sa.Column("worker_id", sa.Text, sa.ForeignKey("workers.worker_id"), primary_key=True),
    sa.Column("grid_id", sa.Text, sa.ForeignKey("grids.grid_id"), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_worker_grids_grid_id", "grid_id"),
)

# One row: bumped by every registry change, so other replicas know to reload their cached copy.
registry_state = sa.Table(
    "registry_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
)

# Photos a worker uploaded from the worker app, stored with the case's other data and served by signed link
# (gridloop/consoles/media.py). The id is derived from the device's report id, so a retried upload is one row.
photos = sa.Table(
    "photos",
    metadata,
    sa.Column("photo_id", sa.Text, primary_key=True),
    sa.Column("worker_id", sa.Text, nullable=False),
    sa.Column("content_type", sa.Text, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
)

outbox, inbox = add_delivery_tables(metadata)
auth_tables = add_auth_tables(metadata)  # audit_log, revoked_tokens
