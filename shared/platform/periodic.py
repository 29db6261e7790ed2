"""Background work: a worker that runs `work` every `interval_s` until stopped, logging (not dying
on) errors; and the sleep that such loops take between two turns."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


def every(interval_s: float, work: Callable[[], Awaitable[object]], what: str) -> Callable[[asyncio.Event], Awaitable[None]]:
    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await work()
            except Exception:
                log.exception("%s failed; retrying at the next tick", what)
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
            except TimeoutError:
                pass

    return run


async def sleep_unless(stop: asyncio.Event, seconds: float, woken: asyncio.Event | None = None) -> None:
    """Sleep `seconds`, or less when `stop` (or `woken`) is set meanwhile."""
    waits = [asyncio.ensure_future(event.wait()) for event in (stop, woken) if event is not None]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
