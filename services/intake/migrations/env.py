from gridloop.delivery.alembic_env import run_migrations
from services.intake.tables import metadata

run_migrations(metadata)
