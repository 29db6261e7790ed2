"""`db.reading` on real PostgreSQL: its reads run outside any transaction (no BEGIN, no ROLLBACK
round trip), and the pooled connection it used begins transactions again for the next session."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from services.evaluations.config import Settings
from shared.platform.db import ensure_database, make_engine, make_session_factory, reading
from tests.support import Env

pytestmark = pytest.mark.services


async def _driver(session: AsyncSession) -> asyncpg.Connection:
    driver = (await (await session.connection()).get_raw_connection()).driver_connection
    assert driver is not None
    return driver


async def test_a_read_runs_outside_a_transaction_and_the_connection_is_restored(env: Env) -> None:
    settings = env.settings(Settings)
    await ensure_database(settings.database_url)
    engine = make_engine(settings.database_url, pool_size=1)  # one connection: the next session gets the same
    sessions = make_session_factory(engine)
    try:
        async with reading(sessions) as session:
            assert (await session.execute(text("SELECT 1"))).scalar() == 1
            used = await _driver(session)
            assert not used.is_in_transaction(), "a read in `reading` opens no transaction"
        async with sessions() as session:
            await session.execute(text("SELECT 1"))
            again = await _driver(session)
            assert again is used, "the same pooled connection"
            assert again.is_in_transaction(), "a session after it has its transaction as before"
    finally:
        await engine.dispose()
