"""case steps, feedback requests, message receipts and quiet-hours hold

Revision ID: notify_0002
Revises: notify_0001
Create Date: 2026-11-26 09:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'notify_0002'
down_revision: str | Sequence[str] | None = 'notify_0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('recipients', sa.Column('summary', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column('messages', sa.Column('urgent', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('messages', sa.Column('provider_message_id', sa.Text(), nullable=True))
    op.add_column('messages', sa.Column('receipt_at', sa.DateTime(timezone=True), nullable=True))
    op.create_unique_constraint('messages_provider_message_id_key', 'messages', ['provider_message_id'])
    op.drop_index('ix_messages_due', table_name='messages', postgresql_where=sa.text("state = 'pending'"))
    op.create_index(
        'ix_messages_due', 'messages', ['next_attempt_at'], postgresql_where=sa.text("state IN ('pending', 'held')")
    )
    op.create_table(
        'case_steps',
        sa.Column('event_id', sa.UUID(), nullable=False),
        sa.Column('case_id', sa.UUID(), nullable=False),
        sa.Column('status', sa.Text(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.Text(), nullable=False),
        sa.Column('department', sa.Text(), nullable=True),
        sa.Column('item_code', sa.Text(), nullable=True),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint('event_id'),
    )
    op.create_index(op.f('ix_case_steps_case_id'), 'case_steps', ['case_id'], unique=False)
    op.create_table(
        'feedback_requests',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('token', sa.Text(), nullable=False),
        sa.Column('case_id', sa.UUID(), nullable=False),
        sa.Column('resolved_event_id', sa.UUID(), nullable=False),
        sa.Column('department', sa.Text(), nullable=True),
        sa.Column('item_code', sa.Text(), nullable=True),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('state', sa.Text(), nullable=False),
        sa.Column('rating', sa.Text(), nullable=True),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('answered_via', sa.Text(), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('outcome', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('resolved_event_id'),
        sa.UniqueConstraint('token'),
    )
    op.create_index(op.f('ix_feedback_requests_case_id'), 'feedback_requests', ['case_id'], unique=False)
    op.create_index(
        'ix_feedback_awaiting_due', 'feedback_requests', ['due_at'], postgresql_where=sa.text("state = 'awaiting'")
    )


def downgrade() -> None:
    op.drop_index('ix_feedback_awaiting_due', table_name='feedback_requests', postgresql_where=sa.text("state = 'awaiting'"))
    op.drop_index(op.f('ix_feedback_requests_case_id'), table_name='feedback_requests')
    op.drop_table('feedback_requests')
    op.drop_index(op.f('ix_case_steps_case_id'), table_name='case_steps')
    op.drop_table('case_steps')
    op.drop_index('ix_messages_due', table_name='messages')
    op.create_index('ix_messages_due', 'messages', ['next_attempt_at'], postgresql_where=sa.text("state = 'pending'"))
    op.drop_constraint('messages_provider_message_id_key', 'messages', type_='unique')
    op.drop_column('messages', 'receipt_at')
    op.drop_column('messages', 'provider_message_id')
    op.drop_column('messages', 'urgent')
    op.drop_column('recipients', 'summary')
