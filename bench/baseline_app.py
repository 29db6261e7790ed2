"""The baseline of the issue benchmark: a bare FastAPI endpoint doing one comparable insert
(one row with a JSON payload), on the same uvicorn settings (uvloop, httptools), process settings
(`tune_garbage_collector`) and database server."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.platform.process import tune_garbage_collector


def create_app() -> FastAPI:
    engine = create_async_engine(os.environ["DATABASE_URL"], pool_size=10, max_overflow=20)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE IF NOT EXISTS bench_row (id uuid PRIMARY KEY, payload json NOT NULL)"))
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/baseline")
    async def insert(body: dict[str, Any] | None = None) -> dict[str, str]:
        row_id = uuid.uuid4()
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO bench_row (id, payload) VALUES (:id, CAST(:p AS json))"),
                {"id": row_id, "p": '{"status": "issued"}'},
            )
        return {"id": str(row_id)}

    tune_garbage_collector()  # as `clusnet serve` does once the service's app is built: the same process settings
    return app
