"""residents' SMS replies taken from provider callbacks, once each

Revision ID: notify_0005
Revises: notify_0004
Create Date: 2026-12-08 01:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'notify_0005'
down_revision: str | Sequence[str] | None = 'notify_0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'sms_replies',
        sa.Column('provider', sa.Text(), nullable=False),
        sa.Column('reply_key', sa.Text(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('outcome', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('provider', 'reply_key'),
    )


def downgrade() -> None:
    op.drop_table('sms_replies')
