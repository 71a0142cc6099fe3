"""duplicate matching inside the box: one index on item, latitude, longitude and dispatch time

Replaces ix_work_items_item_lat (item, latitude): with the time and longitude in the index, the box's candidates
outside the 24 h window or the longitude band are skipped in the index instead of being fetched from the table
(a busy box collects every case of its item for months). Built CONCURRENTLY, so dispatches are not blocked while
it builds on a large table.

Revision ID: departments_0005
Revises: departments_0004
Create Date: 2026-11-25 19:40:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'departments_0005'
down_revision: str | Sequence[str] | None = 'departments_0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LAT = "(CAST((location ->> 'lat') AS DOUBLE PRECISION))"
LON = "(CAST((location ->> 'lon') AS DOUBLE PRECISION))"


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_work_items_item_box",
            "work_items",
            ["item_code", sa.text(LAT), sa.text(LON), "dispatched_at"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        op.drop_index("ix_work_items_item_lat", table_name="work_items", postgresql_concurrently=True, if_exists=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_work_items_item_lat",
            "work_items",
            ["item_code", sa.text(LAT)],
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        op.drop_index("ix_work_items_item_box", table_name="work_items", postgresql_concurrently=True, if_exists=True)
