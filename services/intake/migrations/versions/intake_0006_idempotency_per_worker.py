"""idempotency keys scoped to their worker, with the request's fingerprint

Revision ID: intake_0006
Revises: intake_0005
Create Date: 2026-12-08 01:10:00

Before, `client_report_id` was unique across all workers, so a worker posting another worker's report id was
answered with that worker's case and tracking token. Now the key is (worker_id, client_report_id). Every
existing row stays valid (a globally unique id is unique per worker too); rows keep their case ids and get no
fingerprint (NULL: a retry of a report stored before this is answered as the same report, as before).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'intake_0006'
down_revision: str | Sequence[str] | None = 'intake_0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('cases', sa.Column('request_fingerprint', sa.Text(), nullable=True))
    op.create_unique_constraint('cases_worker_id_client_report_id_key', 'cases', ['worker_id', 'client_report_id'])
    op.drop_constraint('cases_client_report_id_key', 'cases', type_='unique')


def downgrade() -> None:
    # Fails if two workers have used the same report id since the upgrade: resolve those rows first.
    op.create_unique_constraint('cases_client_report_id_key', 'cases', ['client_report_id'])
    op.drop_constraint('cases_worker_id_client_report_id_key', 'cases', type_='unique')
    op.drop_column('cases', 'request_fingerprint')
