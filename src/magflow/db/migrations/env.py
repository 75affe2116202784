"""Alembic environment: uses the URL handed over by ``magflow.db.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from magflow.db.models import Base

config = context.config
url = config.attributes.get("sync_url") or config.get_main_option("sqlalchemy.url")
if not url:
    raise RuntimeError("no database URL given to Alembic")

connectable = create_engine(url, poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
connectable.dispose()
