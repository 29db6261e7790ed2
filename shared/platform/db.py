"""Async database plumbing: engines and sessions are built by the app factory, never at import."""

from __future__ import annotations

import json
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

SessionFactory = async_sessionmaker[AsyncSession]


def _to_json(value: object) -> str:
    # JSON columns hold lists of ids (a recommendation's related_ids): UUIDs (and dates) go in as text.
    return json.dumps(value, default=str)


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True, pool_recycle=1800, json_serializer=_to_json
    )


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    # expire_on_commit=False: answers are built from objects after the commit.
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def with_database(url: str, name: str) -> str:
    """The same server URL, another database name."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def ensure_database(url: str) -> None:
    """Create the database named in `url` if the server does not have it yet."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    conn = await asyncpg.connect(admin)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                pass  # created meanwhile by another service instance
    finally:
        await conn.close()
