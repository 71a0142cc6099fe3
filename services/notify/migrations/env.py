from gridloop.delivery.alembic_env import run_migrations
from services.notify.tables import metadata

run_migrations(metadata)
