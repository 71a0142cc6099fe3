"""the rates read the window's work items: an index on the latest of dispatch, resolution and deadline

The rate gauges (every 15 s) and GET /v1/rates scanned every work item ever dispatched; with this index they read
the items dispatched, resolved or due in the window, and the open ones (rates.touched_since). Built
CONCURRENTLY, so dispatches are not blocked while it builds on a large table.

Revision ID: departments_0006
Revises: departments_0005
Create Date: 2026-11-25 20:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'departments_0006'
down_revision: str | Sequence[str] | None = 'departments_0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOUCHED = "greatest(dispatched_at, coalesce(resolved_at, 'infinity'::timestamptz), resolve_deadline)"


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_work_items_touched",
            "work_items",
            [sa.text(TOUCHED)],
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_work_items_touched", table_name="work_items", postgresql_concurrently=True, if_exists=True)
