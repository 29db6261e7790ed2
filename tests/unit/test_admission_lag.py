"""Admission by event loop lag: while the process's loop keeps running late (starved of CPU, here
by a task that blocks it again and again) with requests piling up in it, new requests are refused
at once with 503 + Retry-After and do nothing; health and metrics still answer; the requests
already accepted complete and are applied; once the loop keeps time again, requests are accepted.
One long call that has ended is not overload, nor is a lagging loop serving a trickle.

A real ASGI app (FastAPI with the platform's operations middlewares) on the test's own event loop,
driven through httpx's ASGI transport: the loop that lags is the one serving the requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI

from shared.platform.http import AdmissionControl, install_operations
from tests.support import eventually

MAX_LAG_MS = 100
BLOCK_S = 0.3  # each time the starving task holds the loop: every probe tick comes late by about this


def hold_the_loop(seconds: float) -> None:
    """Blocks the calling thread, which is the event loop's: deliberately, that is what is tested."""
    time.sleep(seconds)


@dataclass
class Served:
    client: httpx.AsyncClient
    applied: list[int] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)  # lets the slow requests finish
    slow_started: int = 0


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    app = FastAPI()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        state = Served(client)

        @app.post("/items/{number}")
        async def add(number: int) -> dict[str, int]:
            state.applied.append(number)
            return {"number": number}

        @app.post("/slow-items/{number}")
        async def add_slowly(number: int) -> dict[str, int]:  # stays in progress until released
            state.slow_started += 1
            await state.release.wait()
            state.applied.append(number)
            return {"number": number}

        install_operations(
            app, "lagtest", max_body_bytes=1_000, readiness=list, max_in_flight=64, max_event_loop_lag_ms=MAX_LAG_MS
        )
        assert (await client.post("/items/0")).status_code == 200  # the first request starts the probe
        await asyncio.sleep(0.2)  # a few punctual ticks
        yield state


@asynccontextmanager
async def starved() -> AsyncIterator[None]:
    """The loop starved of CPU, as on a saturated machine: it keeps running late."""
    stop = asyncio.Event()

    async def starve() -> None:
        while not stop.is_set():
            hold_the_loop(BLOCK_S)
            await asyncio.sleep(0)

    starving = asyncio.create_task(starve())
    try:
        await asyncio.sleep(4 * BLOCK_S)  # several late ticks in a row
        yield
    finally:
        stop.set()
        await starving


def slow_numbers() -> Iterator[int]:
    return iter(range(100, 100 + AdmissionControl.LAG_PRESSURE + 2))


async def punctual(client: httpx.AsyncClient) -> bool:
    """The probe's last tick came on time (the lag gauge, as /metrics shows it)."""
    exposition = (await client.get("/metrics")).text
    return lag_of(exposition) <= MAX_LAG_MS / 1000


def lag_of(exposition: str) -> float:
    prefix = 'clusnet_event_loop_lag_seconds{service="lagtest"}'
    return float(next(line for line in exposition.splitlines() if line.startswith(prefix)).rsplit(" ", 1)[1])


async def _true(value: bool) -> bool:
    return value


async def test_a_starved_loop_under_pressure_refuses_new_requests_at_once_until_it_keeps_time_again(served: Served) -> None:
    client = served.client
    in_progress = [asyncio.create_task(client.post(f"/slow-items/{n}")) for n in slow_numbers()]
    while served.slow_started < len(in_progress):  # all of them admitted and in progress
        await asyncio.sleep(0.01)

    async with starved():
        during = await asyncio.gather(*(client.post(f"/items/{n}") for n in range(1, 11)))
        health = await client.get("/healthz")
        exposition = (await client.get("/metrics")).text

    for answer in during:
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert int(answer.headers["retry-after"]) >= 1
        assert "overloaded" in answer.json()["detail"], answer.json()
    assert served.applied == [0]  # a refused request did nothing
    assert health.status_code == 200  # operations endpoints are never refused
    assert lag_of(exposition) > MAX_LAG_MS / 1000

    served.release.set()  # the requests accepted before the overload complete, and are applied
    assert [a.status_code for a in await asyncio.gather(*in_progress)] == [200] * len(in_progress)
    assert sorted(served.applied) == [0, *slow_numbers()]

    await eventually(lambda: punctual(client), timeout=5, what="the loop to keep time again")
    served.release = asyncio.Event()  # the same pressure again (LAG_PRESSURE and more in progress)
    again = [asyncio.create_task(client.post(f"/slow-items/{n}")) for n in slow_numbers()]
    try:  # each of them either in progress or answered (refused)
        started = len(in_progress)
        await eventually(lambda: _true(served.slow_started - started + sum(t.done() for t in again) == len(again)), 5)
        after = await client.post("/items/99")  # judged on the lag, as under the starvation
    finally:
        served.release.set()
    answers = await asyncio.gather(*again)
    assert after.status_code == 200, after.text  # the loop keeps time: accepted again
    assert [a.status_code for a in answers] == [200] * len(again), [a.text for a in answers if a.status_code != 200]
    assert 99 in served.applied


async def test_a_lagging_loop_serving_a_trickle_refuses_nothing(served: Served) -> None:
    async with starved():  # slowed by a neighbour, not by its own backlog: refusing would relieve nothing
        answers = [await served.client.post(f"/items/{n}") for n in (1, 2, 3)]
    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
    assert served.applied == [0, 1, 2, 3]


async def test_one_long_call_that_has_ended_refuses_nothing(served: Served) -> None:
    in_progress = [asyncio.create_task(served.client.post(f"/slow-items/{n}")) for n in slow_numbers()]
    while served.slow_started < len(in_progress):  # enough pressure that a lasting lag would refuse
        await asyncio.sleep(0.01)
    hold_the_loop(0.5)  # e.g. a large upload parsed in the loop: it held the loop once, then let go
    right_after = await served.client.post("/items/1")
    await asyncio.sleep(0.01)  # the late tick has run and recorded the 0.5 s
    next_one = await served.client.post("/items/2")
    served.release.set()
    await asyncio.gather(*in_progress)
    assert (right_after.status_code, next_one.status_code) == (200, 200), (right_after.text, next_one.text)
    assert served.applied[:3] == [0, 1, 2]
