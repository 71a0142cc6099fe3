"""grid boundaries, deactivated grids and workers, reports placed outside their grid

Revision ID: intake_0003
Revises: intake_0002
Create Date: 2026-12-08 01:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'intake_0003'
down_revision: str | Sequence[str] | None = 'intake_0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('grids', sa.Column('boundary', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column('grids', sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column('workers', sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column('cases', sa.Column('outside_grid_m', sa.Float(), nullable=True))
    op.add_column('cases', sa.Column('located_grid_id', sa.Text(), nullable=True))
    op.create_index(
        'ix_cases_outside_grid', 'cases', ['reported_at'], postgresql_where=sa.text('outside_grid_m IS NOT NULL')
    )


def downgrade() -> None:
    op.drop_index('ix_cases_outside_grid', table_name='cases')
    op.drop_column('cases', 'located_grid_id')
    op.drop_column('cases', 'outside_grid_m')
    op.drop_column('workers', 'active')
    op.drop_column('grids', 'active')
    op.drop_column('grids', 'boundary')
