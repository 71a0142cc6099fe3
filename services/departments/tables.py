"""Departments' tables: one work item per dispatched case, its activity log, returns, extensions, SLA clocks
and residents' feedback."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from gridloop.auth.tables import add_auth_tables
from gridloop.delivery.db import add_delivery_tables

metadata = sa.MetaData()

work_items = sa.Table(
    "work_items",
    metadata,
    sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("department", sa.Text, nullable=False),
    sa.Column("item_code", sa.Text, nullable=False),
    sa.Column("item_name_zh", sa.Text, nullable=False),
    # dispatched | signed | in_progress | resolved | returned | linked (a duplicate riding on its primary)
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    # Where the case is by the registry's boundaries (CaseDispatched.placed): duplicates and the rates use these.
    sa.Column("grid_id", sa.Text, nullable=False),
    sa.Column("community_id", sa.Text, nullable=False),
    sa.Column("street", sa.Text, nullable=False, server_default=""),  # "" for cases dispatched before places
    sa.Column("reported_grid_id", sa.Text),  # the grid the report named (its worker's); null before places
    sa.Column("location", JSONB),
    sa.Column("resident_name_masked", sa.Text, nullable=False),
    sa.Column("resident_phone_masked", sa.Text, nullable=False),
    sa.Column("dispatch_no", sa.Integer, nullable=False),
    sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolve_hours", sa.Integer),
    sa.Column("sign_deadline", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolve_deadline", sa.DateTime(timezone=True), nullable=False),
    sa.Column("signed_at", sa.DateTime(timezone=True)),
    sa.Column("signed_by", sa.Text),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("result", sa.Text),
    sa.Column("returns", sa.Integer, nullable=False, server_default="0"),  # bounces of this case so far
    sa.Column("primary_case_id", UUID(as_uuid=True)),  # set while linked to an open case as its duplicate
    sa.Column("suspected_duplicate_of", UUID(as_uuid=True)),  # a likely match a clerk has yet to confirm or reject
    sa.Column("duplicate_score", sa.Float),  # description similarity to the (suspected) primary
    sa.Column("photo_urls", JSONB, nullable=False, server_default="[]"),  # the worker's photos
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_work_items_department_status", "department", "status"),
    sa.Index("ix_work_items_primary_case_id", "primary_case_id"),
    sa.Index("ix_work_items_item_dispatched", "item_code", "dispatched_at"),
    sa.Index("ix_work_items_item_grid", "item_code", "grid_id", "dispatched_at"),  # duplicates: same grid
)
# Duplicates within 100 m: the item's cases in the box around the circle and the 24 h window (duplicates.py); the
# longitude and the time are in the index, so cases of the box outside them are never fetched from the table.
sa.Index(
    "ix_work_items_item_box",
    work_items.c.item_code,
    work_items.c.location["lat"].as_float(),
    work_items.c.location["lon"].as_float(),
    work_items.c.dispatched_at,
)

# The latest of a work item's dispatch, resolution (infinity while open) and resolution deadline: the rates read
# only the work items a window can count (rates.touched_since), from this index.
TOUCHED_AT = sa.func.greatest(
    work_items.c.dispatched_at,
    sa.func.coalesce(work_items.c.resolved_at, sa.literal_column("'infinity'::timestamptz")),
    work_items.c.resolve_deadline,
    type_=sa.DateTime(timezone=True),
)
sa.Index("ix_work_items_touched", TOUCHED_AT)

# One row per dispatch of a case to a department (a department task): its own deadlines and outcome, never
# overwritten by a later dispatch, so the three rates cannot lose a case to a return (rates.py, docs/departments.md).
# A return before signing and within the sign-for deadline is a prompt answer (not due for resolution); any other
# return is an unresolved task. due_at: when the task's resolution is judged (its first outcome, or the deadline in
# force if none came by then); touched_at: the latest of dispatch and due_at, for the rates' window index.
TASK_DUE_AT = """CASE WHEN linked THEN NULL
     WHEN returned_at IS NOT NULL AND signed_at IS NULL AND returned_at <= sign_deadline THEN NULL
     ELSE least(first_resolved_at, returned_at, deadline) END"""
department_tasks = sa.Table(
    "department_tasks",
    metadata,
    sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("dispatch_no", sa.Integer, primary_key=True),
    sa.Column("department", sa.Text, nullable=False),
    sa.Column("item_code", sa.Text, nullable=False),
    sa.Column("community_id", sa.Text, nullable=False),  # the work item's: by the boundaries
    sa.Column("street", sa.Text, nullable=False, server_default=""),
    sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sign_deadline", sa.DateTime(timezone=True), nullable=False),
    sa.Column("original_deadline", sa.DateTime(timezone=True), nullable=False),  # resolution, as dispatched
    sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),  # resolution, with timely approved extensions
    sa.Column("signed_at", sa.DateTime(timezone=True)),
    sa.Column("returned_at", sa.DateTime(timezone=True)),
    sa.Column("first_resolved_at", sa.DateTime(timezone=True)),
    sa.Column("reopens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("linked", sa.Boolean, nullable=False, server_default="false"),  # riding on a primary: not its own task
    sa.Column("due_at", sa.DateTime(timezone=True), sa.Computed(TASK_DUE_AT, persisted=True)),
    sa.Column(
        "touched_at",
        sa.DateTime(timezone=True),
        sa.Computed(f"greatest(dispatched_at, {TASK_DUE_AT})", persisted=True),
    ),
    sa.Index("ix_department_tasks_touched_at", "touched_at"),
    sa.Index("ix_department_tasks_returned_at", "department", "returned_at"),
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

returns = sa.Table(
    "work_item_returns",
    metadata,
    sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("dispatch_no", sa.Integer, primary_key=True),
    sa.Column("department", sa.Text, nullable=False),
    sa.Column("reason_code", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("returned_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_work_item_returns_department", "department", "returned_at"),
)

extensions = sa.Table(
    "extensions",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("dispatch_no", sa.Integer, nullable=False),
    sa.Column("department", sa.Text, nullable=False),
    sa.Column("requested_by", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("hours", sa.Integer, nullable=False),
    sa.Column("state", sa.Text, nullable=False),  # pending | approved | refused | withdrawn (case returned)
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_by", sa.Text),
    sa.Column("decision_note", sa.Text),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    # one open request per case at a time
    sa.Index("uq_extensions_one_pending", "case_id", unique=True, postgresql_where=sa.text("state = 'pending'")),
)

# One row per (case, deadline): the rung of the supervision ladder it is on and that rung's deadline.
sla_deadlines = sa.Table(
    "sla_deadlines",
    metadata,
    sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("deadline_name", sa.Text, primary_key=True),  # sign | resolve
    sa.Column("dispatch_no", sa.Integer, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),  # +1 whenever the deadline moves (extension, restart)
    sa.Column("rung", sa.Integer, nullable=False),  # 0 assignee (wire: "handler"), 1 head, 2 district
    sa.Column("window_seconds", sa.Float, nullable=False),  # the original window; escalation rungs get a share
    sa.Column("rung_started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
    sa.Column("warned", sa.Boolean, nullable=False),
    sa.Column("next_fire_at", sa.DateTime(timezone=True)),  # null once the deadline has nothing more to fire
    sa.Index("ix_sla_deadlines_next_fire_at", "next_fire_at", postgresql_where=sa.text("next_fire_at IS NOT NULL")),
)

# A fired SLA event, so that no replica fires it twice.
sla_marks = sa.Table(
    "sla_marks",
    metadata,
    sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("deadline_name", sa.Text, primary_key=True),
    sa.Column("dispatch_no", sa.Integer, primary_key=True),
    sa.Column("generation", sa.Integer, primary_key=True),
    sa.Column("rung", sa.Integer, primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),  # sla_warning | sla_breached | escalated
    sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
)

# The latest rating a resident gave a case (from `feedback_received` status events).
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("rating", sa.Text, nullable=False),  # satisfied | basically_satisfied | dissatisfied
    sa.Column("dispatch_no", sa.Integer),  # the department task rated: the case's dispatch when it was rated
    sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

# The working calendar's own days (working_time.py): the district's days off and extra working days (scope
# "district"), and the national schedule of a year the chinesecalendar package does not know yet (scope "national",
# entered from the State Council's notice together with its calendar_years row).
calendar_days = sa.Table(
    "calendar_days",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("scope", sa.Text, primary_key=True),  # district | national
    sa.Column("working", sa.Boolean, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("entered_by", sa.Text, nullable=False),
    sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
)
calendar_years = sa.Table(
    "calendar_years",
    metadata,
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("source", sa.Text, nullable=False),  # e.g. the State Council notice's number
    sa.Column("entered_by", sa.Text, nullable=False),
    sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
)

# The weekly assessment report as published by the schedule (publishing.py): one row per ISO week, written once by
# whichever replica holds the advisory lock; the files are kept here so that every replica serves the same bytes,
# and copied to the reports directory (GRIDLOOP_DEPARTMENTS_WEEKLY_REPORT_DIR).
weekly_reports = sa.Table(
    "weekly_reports",
    metadata,
    sa.Column("week", sa.Text, primary_key=True),  # ISO week, e.g. 2026-W49 (sorts in time order)
    sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),  # the numbers are as of this moment
    sa.Column("paths", JSONB, nullable=False),  # where the files were written: [html, pdf, png]
    sa.Column("html", sa.LargeBinary, nullable=False),
    sa.Column("pdf", sa.LargeBinary, nullable=False),
    sa.Column("png", sa.LargeBinary, nullable=False),
)

outbox, inbox = add_delivery_tables(metadata)
auth_tables = add_auth_tables(metadata)  # audit_log, revoked_tokens
