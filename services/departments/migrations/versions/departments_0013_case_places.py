"""work items and department tasks keep the case's place by the registry's boundaries: street, reported grid

Revision ID: departments_0013
Revises: departments_0012
Create Date: 2026-12-08 04:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'departments_0013'
down_revision: str | Sequence[str] | None = 'departments_0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('work_items', sa.Column('street', sa.Text(), server_default='', nullable=False))
    op.add_column('work_items', sa.Column('reported_grid_id', sa.Text(), nullable=True))
    op.add_column('department_tasks', sa.Column('street', sa.Text(), server_default='', nullable=False))


def downgrade() -> None:
    op.drop_column('department_tasks', 'street')
    op.drop_column('work_items', 'reported_grid_id')
    op.drop_column('work_items', 'street')
