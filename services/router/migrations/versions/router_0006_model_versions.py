"""classifier models, model version and danger signals on decisions

Revision ID: router_0006
Revises: router_0005
Create Date: 2026-12-08 00:50:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = 'router_0006'
down_revision: str | Sequence[str] | None = 'router_0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('decisions', sa.Column('model_version', sa.Text(), server_default='', nullable=False))
    op.add_column(
        'decisions',
        sa.Column('danger', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"),
                  nullable=False),
    )
    op.create_table('classifier_models',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('model_version', sa.Text(), nullable=False),
    sa.Column('list_version', sa.Text(), nullable=False),
    sa.Column('model', sa.LargeBinary(), nullable=False),
    sa.Column('metrics', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('trained_by', sa.Text(), nullable=False),
    sa.Column('trained_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('model_version')
    )
    op.create_index('uq_classifier_models_active', 'classifier_models', ['active'], unique=True,
                    postgresql_where=sa.text('active'))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('uq_classifier_models_active', table_name='classifier_models', postgresql_where=sa.text('active'))
    op.drop_table('classifier_models')
    op.drop_column('decisions', 'danger')
    op.drop_column('decisions', 'model_version')
