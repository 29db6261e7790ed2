"""Readiness checks: each answers None when fine, else a short reason."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.platform.consumer_watch import ConsumerProgress
from shared.platform.http import ReadinessCheck
from shared.platform.kafka import broker_reachable

STALL_AFTER_S = 30.0


def database_check(engine: AsyncEngine, name: str = "database") -> ReadinessCheck:
    async def check() -> str | None:
        try:
            async with asyncio.timeout(2):
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception as exc:
            return f"{name} unreachable: {type(exc).__name__}"
        return None

    return check


def kafka_check(bootstrap: str) -> ReadinessCheck:
    async def check() -> str | None:
        return None if await broker_reachable(bootstrap) else f"kafka unreachable at {bootstrap}"

    return check


def consumer_check(state: ConsumerProgress) -> ReadinessCheck:
    """Ready when the group has partitions and the loop polled recently (aiokafka #1154, #847)."""

    async def check() -> str | None:
        if not state.last_poll:
            return "consumer has not polled yet"
        if time.monotonic() - state.last_poll > STALL_AFTER_S:
            return f"consumer has not polled for {time.monotonic() - state.last_poll:.0f}s"
        if state.lag_unknown_since is not None:
            return f"consumer lag unknown for {time.monotonic() - state.lag_unknown_since:.0f}s ({state.lag_unknown_reason})"
        if not state.assigned:
            return "consumer group has no partitions assigned"
        return None

    return check
