"""Async Alembic environment; the URL comes from the caller or the service's settings."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from sqlalchemy.engine import Connection

from alembic import context
from service.config import Settings, get_settings
from service.database import create_engine
from service.models import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata

# Held for the migration's transaction on PostgreSQL: instances migrating at once (the
# pods of one rollout) take turns, and the later ones find the schema at head.
MIGRATION_LOCK_ID = 0x5E41C3_0001


def _settings() -> Settings:
    settings: Settings = config.attributes.get("settings") or get_settings()
    return settings


def run_migrations_offline() -> None:
    context.configure(
        url=_settings().database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    # Batch mode lets ALTER-style migrations run on SQLite too.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = create_engine(_settings(), command_timeout=False)  # DDL may run long
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                # SQLite rebuilds a table to alter it (batch mode); with foreign keys on,
                # dropping the old copy of a parent cascades into its children. The
                # pragma only takes effect outside a transaction: first, before any DML.
                await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await connection.run_sync(_run)
            await connection.commit()
            if connection.dialect.name == "sqlite":
                broken = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()
                if broken:
                    raise RuntimeError(f"migration left dangling foreign keys: {broken[:5]}")
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
