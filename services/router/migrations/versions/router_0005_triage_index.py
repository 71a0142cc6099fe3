"""the triage queue's index: triage decisions only, by decision time

The queue (and its gauge, refreshed every 5 s) read the latest decision of every case ever routed; they now read
the triage decisions (from the index alone) and look for a later round of each: 154 -> 20 ms on
60,000 cases. Built CONCURRENTLY, so routing is not blocked while it
builds on a large table.

Revision ID: router_0005
Revises: router_0004
Create Date: 2026-11-25 19:50:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'router_0005'
down_revision: str | Sequence[str] | None = 'router_0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_decisions_triage",
            "decisions",
            ["decided_at"],
            postgresql_include=["case_id", "round"],
            postgresql_where=sa.text("outcome = 'triage'"),
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_decisions_triage", table_name="decisions", postgresql_concurrently=True, if_exists=True)
