"""The portal's migrations on a real PostgreSQL: they build exactly the tables its models declare,
and the held-upload step can be undone and redone."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from services.portal.models import Base
from shared.platform.db import ensure_database, make_engine, with_database
from shared.platform.migrate import alembic_config

pytestmark = pytest.mark.services
MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "portal" / "migrations"


async def test_portal_migrations_match_its_models_and_the_upload_step_can_be_undone(pg_server: str) -> None:
    db = with_database(pg_server, f"mig{uuid.uuid4().hex[:8]}")
    await ensure_database(db)
    config = alembic_config(db, MIGRATIONS)
    engine = make_engine(db)

    def differences(connection: Any) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    async def has_table() -> bool:
        async with engine.connect() as conn:
            return bool((await conn.execute(text("SELECT to_regclass('held_upload') IS NOT NULL"))).scalar())

    try:
        await asyncio.to_thread(command.upgrade, config, "head")
        async with engine.connect() as conn:
            assert await conn.run_sync(differences) == []
        await asyncio.to_thread(command.downgrade, config, "d7a1f0c3b201")
        assert not await has_table()
        await asyncio.to_thread(command.upgrade, config, "head")
        assert await has_table()
    finally:
        await engine.dispose()
