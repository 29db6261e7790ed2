"""Async database plumbing: engines and sessions are built by the app factory, never at import."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson
from sqlalchemy import JSON, ColumnElement, Table, bindparam, event, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

SessionFactory = async_sessionmaker[AsyncSession]
# SQLSTATE classes meaning "the server is not there right now" rather than "this statement is wrong":
# 08 connection exception, 53 insufficient resources, 57P01-57P03 shutting down / starting up.
UNAVAILABLE_STATES = ("08", "53", "57P01", "57P02", "57P03")


def to_json(value: object) -> str:
    """The engine's JSON serializer (JSON columns), also for text written without the ORM."""
    # JSON columns hold lists of ids (a recommendation's related_ids): UUIDs (and dates) go in as text.
    return orjson.dumps(value, default=str, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()


def any_of(column: Any, values: Sequence[Any], element_type: Any = None) -> ColumnElement[bool]:
    """`column = ANY($1)`: one array parameter for a whole batch's values, where `IN (…)` binds one
    parameter per value (each run through SQLAlchemy's bind processor, and a statement per count).
    `element_type` when the values are not of the column's Python type (UUIDs given as text)."""
    return column == func.any(bindparam(None, list(values), type_=ARRAY(element_type or column.type)))


async def copy_rows(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (all with the same keys) with PostgreSQL's COPY, in the session's transaction.
    For the consumers' bulk paths: asyncpg encodes the values in binary itself, where a Core
    executemany runs every value of every row through SQLAlchemy's bind processors in Python
    (a quarter of a bulk path's CPU). The values must already be what the columns take (UUIDs,
    aware datetimes, dates, str for enums); JSON columns are serialized here as the engine would."""
    if not rows:
        return
    # Column by column, then zipped (in C): a generator per row took twice as long.
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    for name, values in columns.items():
        if isinstance(table.c[name].type, JSON):
            columns[name] = [to_json(value) for value in values]
    records = list(zip(*columns.values(), strict=True))
    await (await driver_of(session)).copy_records_to_table(table.name, columns=list(columns), records=records)


@asynccontextmanager
async def autocommit_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection on which each statement is its own transaction: no BEGIN and no COMMIT
    round trips, nor an ORM session's bookkeeping, for a use case whose one write is one statement
    (the issue endpoint's, services/recommendations)."""
    async with engine.connect() as connection:
        yield await connection.execution_options(isolation_level="AUTOCOMMIT")


@asynccontextmanager
async def reading(sessions: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session for reads alone, each statement its own transaction (autocommit): one round trip
    a read, where a session's transaction adds a BEGIN and a ROLLBACK. For the reads that run all
    the time (the dispatcher's room before a consumer's poll, the outbox's backlog gauge every
    second, a consumer's inbox pre-check); a read that must see one snapshot with another takes
    a transaction."""
    async with sessions() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session


def after_commit(session: AsyncSession, action: Callable[[], None]) -> None:
    """Call `action` once `session`'s transaction has committed, and not if it rolls back: for a
    step that made work for something else in this process (new deliveries for the dispatcher)
    to wake it then, when its rows are visible, and only then (SQLAlchemy's own session event)."""
    event.listen(session.sync_session, "after_commit", lambda _: action(), once=True)


async def driver_of(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under `session`, in its transaction: for the few hot statements
    whose rows SQLAlchemy's result processing would cost more than the database (the relay's
    read, the consumers' COPY). SQLAlchemy sends BEGIN only with the first statement it runs
    itself, so one must have run in the transaction already: a statement sent here before that
    would commit on its own at once (a relay's deletes before their acks, say)."""
    driver = (await (await session.connection()).get_raw_connection()).driver_connection
    if driver is None or not driver.is_in_transaction():
        raise RuntimeError("driver_of: the session's transaction has not begun; run a statement through the session first")
    return driver


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An engine whose pool hands out live connections only. A service's pool is DATABASE_POOL_SIZE
    (40, docs/operations.md). Not SQLAlchemy's pre-ping: with asyncpg it costs three round trips
    per checkout (BEGIN, ";", ROLLBACK), a tenth of a worker's CPU at 50 issues/s in system calls
    alone. A connection that PostgreSQL closed (a restart) is known closed to asyncpg as soon as
    the loop reads the end of its stream, so `_drop_closed_connections` checks that, for free;
    without any check, such a stale connection answered a request with a 503 after the outage
    was over (tests/faults saw two)."""
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=20,
        pool_pre_ping=False,
        pool_recycle=1800,
        json_serializer=to_json,
        json_deserializer=orjson.loads,  # also asyncpg's codec for JSON columns on the engine's connections
    )
    event.listen(engine.sync_engine, "checkout", _drop_closed_connections)
    return engine


def _drop_closed_connections(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver.is_closed():
        raise DisconnectionError("the server closed this pooled connection")  # the pool replaces it


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    # expire_on_commit=False: answers are built from objects after the commit.
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def with_database(url: str, name: str) -> str:
    """The same server URL, another database name."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def driver_dsn(url: str) -> str:
    """The URL as asyncpg itself takes it (SQLAlchemy's `postgresql+asyncpg://` scheme dropped)."""
    return urlunsplit(urlsplit(url)._replace(scheme="postgresql"))


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


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None), exc.__cause__):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database cannot be reached now (stopped, restarting, network cut,
    pool exhausted): a condition to wait out and retry, never a fault of the request or event."""
    if isinstance(exc, PoolTimeout | OSError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        state = _sqlstate(exc)
        if exc.connection_invalidated or (state is not None and state.startswith(UNAVAILABLE_STATES)):
            return True
        return state is None and isinstance(exc, OperationalError | InterfaceError)
    # the driver's own errors, when raised outside SQLAlchemy's wrapping (connect)
    return isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.InterfaceError | asyncpg.CannotConnectNowError)
