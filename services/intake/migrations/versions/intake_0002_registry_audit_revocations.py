"""managed grid registry, audit log, revoked tokens

Revision ID: intake_0002
Revises: intake_0001
Create Date: 2026-11-27 09:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gridloop.auth.tables import create_auth_tables, drop_auth_tables

revision: str = 'intake_0002'
down_revision: str | Sequence[str] | None = 'intake_0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('communities',
    sa.Column('community_id', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('street', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('community_id')
    )
    op.create_table('grids',
    sa.Column('grid_id', sa.Text(), nullable=False),
    sa.Column('community_id', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('households', sa.Integer(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.community_id']),
    sa.PrimaryKeyConstraint('grid_id')
    )
    op.create_index(op.f('ix_grids_community_id'), 'grids', ['community_id'], unique=False)
    op.create_table('workers',
    sa.Column('worker_id', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('phone', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('worker_id')
    )
    op.create_table('worker_grids',
    sa.Column('worker_id', sa.Text(), nullable=False),
    sa.Column('grid_id', sa.Text(), nullable=False),
    sa.Column('position', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['grid_id'], ['grids.grid_id']),
    sa.ForeignKeyConstraint(['worker_id'], ['workers.worker_id']),
    sa.PrimaryKeyConstraint('worker_id', 'grid_id')
    )
    op.create_index('ix_worker_grids_grid_id', 'worker_grids', ['grid_id'], unique=False)
    op.create_table('registry_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    create_auth_tables(op)


def downgrade() -> None:
    drop_auth_tables(op)
    op.drop_table('registry_state')
    op.drop_index('ix_worker_grids_grid_id', table_name='worker_grids')
    op.drop_table('worker_grids')
    op.drop_table('workers')
    op.drop_index(op.f('ix_grids_community_id'), table_name='grids')
    op.drop_table('grids')
    op.drop_table('communities')
