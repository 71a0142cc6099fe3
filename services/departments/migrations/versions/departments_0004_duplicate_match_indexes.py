"""indexes for duplicate matching: same item in the same grid, or in the latitude band around a location

Revision ID: departments_0004
Revises: departments_0003
Create Date: 2026-11-25 14:20:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'departments_0004'
down_revision: str | Sequence[str] | None = 'departments_0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_work_items_item_grid", "work_items", ["item_code", "grid_id", "dispatched_at"])
    op.create_index(
        "ix_work_items_item_lat",
        "work_items",
        ["item_code", sa.text("(CAST((location ->> 'lat') AS DOUBLE PRECISION))")],
    )


def downgrade() -> None:
    op.drop_index("ix_work_items_item_lat", table_name="work_items")
    op.drop_index("ix_work_items_item_grid", table_name="work_items")
