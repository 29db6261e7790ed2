"""Alembic, run by each service at start (and by the CLI). Migrations live beside each service."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

# Two instances starting at once must not both migrate: they queue on this lock.
MIGRATION_LOCK = text("SELECT pg_advisory_lock(hashtext('clusnet.migrations'))")


def alembic_config(database_url: str, script_location: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def upgrade(database_url: str, script_location: Path) -> None:
    """Upgrade to head (blocking: call it through asyncio.to_thread from async code)."""
    command.upgrade(alembic_config(database_url, script_location), "head")


def run_env(metadata: MetaData) -> None:
    """The body of every service's migrations/env.py (online mode, asyncpg)."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None, "alembic_config() always sets sqlalchemy.url"

    def migrate(connection: Connection) -> None:
        connection.execute(MIGRATION_LOCK)
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run())
