"""Admission by event loop lag: while the process's loop keeps running late (starved of CPU, here
by a task that blocks it again and again), new requests are refused at once with 503 + Retry-After
and do nothing; health, readiness and metrics still answer; once the loop keeps time again,
requests are accepted and applied. One long call that has ended is not overload.

A real ASGI app (FastAPI with the platform's operations middlewares) on the test's own event loop,
driven through httpx's ASGI transport: the loop that lags is the one serving the requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from shared.platform.http import install_operations

MAX_LAG_MS = 100
BLOCK_S = 0.3  # each time the starving task holds the loop: every probe tick comes late by about this


def hold_the_loop(seconds: float) -> None:
    """Blocks the calling thread, which is the event loop's: deliberately, that is what is tested."""
    time.sleep(seconds)


@pytest.fixture
async def served() -> AsyncIterator[tuple[httpx.AsyncClient, list[int]]]:
    applied: list[int] = []
    app = FastAPI()

    @app.post("/items/{number}")
    async def add(number: int) -> dict[str, int]:
        applied.append(number)
        return {"number": number}

    install_operations(app, "lagtest", max_body_bytes=1_000, max_in_flight=64, max_event_loop_lag_ms=MAX_LAG_MS)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.post("/items/0")).status_code == 200  # the first request starts the probe
        await asyncio.sleep(0.2)  # a few punctual ticks
        yield client, applied


async def test_a_starved_loop_refuses_new_requests_at_once_until_it_keeps_time_again(
    served: tuple[httpx.AsyncClient, list[int]],
) -> None:
    client, applied = served
    stop = asyncio.Event()

    async def starve() -> None:  # what a machine with no CPU left does to the loop
        while not stop.is_set():
            hold_the_loop(BLOCK_S)
            await asyncio.sleep(0)

    starving = asyncio.create_task(starve())
    try:
        await asyncio.sleep(4 * BLOCK_S)  # several late ticks in a row
        during = await asyncio.gather(*(client.post(f"/items/{n}") for n in range(1, 11)))
        health = await client.get("/healthz")
        exposition = (await client.get("/metrics")).text
    finally:
        stop.set()
        await starving

    for answer in during:
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert int(answer.headers["retry-after"]) >= 1
        assert "overloaded" in answer.json()["detail"], answer.json()
    assert applied == [0]  # a refused request did nothing
    assert health.status_code == 200  # operations endpoints are never refused
    lag_line = next(
        line for line in exposition.splitlines() if line.startswith('clusnet_event_loop_lag_seconds{service="lagtest"}')
    )
    assert float(lag_line.rsplit(" ", 1)[1]) > MAX_LAG_MS / 1000

    await asyncio.sleep(0.3)  # the loop keeps time again
    after = await client.post("/items/99")
    assert after.status_code == 200, after.text
    assert applied == [0, 99]


async def test_one_long_call_that_has_ended_refuses_nothing(served: tuple[httpx.AsyncClient, list[int]]) -> None:
    client, applied = served
    hold_the_loop(0.5)  # e.g. a large upload parsed in the loop: it held the loop once, then let go
    right_after = await client.post("/items/1")
    await asyncio.sleep(0.01)  # the late tick has run and recorded the 0.5 s
    next_one = await client.post("/items/2")
    assert (right_after.status_code, next_one.status_code) == (200, 200), (right_after.text, next_one.text)
    assert applied == [0, 1, 2]
