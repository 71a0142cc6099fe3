"""provider message id: a plain index instead of a unique constraint

Revision ID: notify_0003
Revises: notify_0002
Create Date: 2026-11-26 11:00:00

"""
from collections.abc import Sequence

from alembic import op

revision: str = 'notify_0003'
down_revision: str | Sequence[str] | None = 'notify_0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint('messages_provider_message_id_key', 'messages', type_='unique')
    op.create_index(op.f('ix_messages_provider_message_id'), 'messages', ['provider_message_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_messages_provider_message_id'), table_name='messages')
    op.create_unique_constraint('messages_provider_message_id_key', 'messages', ['provider_message_id'])
