"""Alembic environment: runs on the connection `Store.migrate()` hands over.

On PostgreSQL a transaction-scoped advisory lock serialises concurrent `migrate()` calls (several
gunicorn workers or replicas starting at once); on SQLite the store's `BEGIN IMMEDIATE` does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

# an arbitrary, fixed 64-bit key for pg_advisory_xact_lock: "icaht-cds migrations"
MIGRATION_LOCK_KEY = 0x1CA47CD5


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run the store's migrations through cds_service.store.Store.migrate()")
    context.configure(
        connection=connection,
        target_metadata=None,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
