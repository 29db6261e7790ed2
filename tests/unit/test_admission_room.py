"""Admission by the pipeline's room (shared/platform/http.py `AdmissionControl`, pipeline.py
`PipelineDelay.room`): between two measurements of the consumers downstream, an API admits no more
writes than the last one left room for; past it, writes are answered 503 with Retry-After and do
nothing, reads are answered; the next measurement gives a new room. A real ASGI app driven through
httpx's ASGI transport; the measurements are given (`PipelineDelay.note`), not probed."""

from __future__ import annotations

import time

import httpx
from fastapi import FastAPI

from shared.platform.http import install_operations
from shared.platform.pipeline import MIN_BACKLOG, Lateness, PipelineDelay


async def test_writes_past_the_room_wait_for_the_next_measurement() -> None:
    app, applied = FastAPI(), []
    pipeline = PipelineDelay("roomtest", "127.0.0.1:9", ["t"], "p-")  # never run: measurements are noted below

    @app.post("/items/{number}")
    async def add(number: int) -> dict[str, int]:
        applied.append(number)
        return {"number": number}

    @app.get("/items")
    async def items() -> list[int]:
        return applied

    install_operations(
        app, "roomtest", max_body_bytes=1_000, readiness=list, max_in_flight=64, pipeline=pipeline, max_pipeline_delay_ms=500
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.post("/items/0")).status_code == 200  # not measured yet: no bound
        # two groups: the one that drains slower (60 a second, the floor applies) bounds the room
        pipeline.note([Lateness(0.1, 40, 0.6, 60.0), Lateness(0.05, 10, 0.01, 5000.0)], at=time.monotonic())
        answers = [(await client.post(f"/items/{n}")).status_code for n in range(1, MIN_BACKLOG - 40 + 3)]
        assert answers == [200] * (MIN_BACKLOG - 40) + [503, 503]
        refused = await client.post("/items/999")
        assert refused.status_code == 503 and int(refused.headers["retry-after"]) >= 1
        assert "downstream are behind" in refused.json()["detail"] and "no more writes fit" in refused.json()["detail"]
        assert 999 not in (await client.get("/items")).json()  # reads are answered, the refused write did nothing
        pipeline.note([Lateness(0.1, 95, 0.9, 100.0)], at=time.monotonic())  # caught up to 95 waiting: room for 5
        assert [(await client.post(f"/items/{n}")).status_code for n in range(200, 207)] == [200] * 5 + [503] * 2
        pipeline.note([Lateness(0.0, 0, 0.0, 0.0)], at=time.monotonic())  # idle: nothing to bound by
        assert {(await client.post(f"/items/{n}")).status_code for n in range(300, 400)} == {200}
