"""The HTTP event feed (GET /events on notifications) on real Kafka: server-sent events resumed
with Last-Event-ID across a restart of the service, a city official's scope, and JSON pages
through 10,000 events."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from provision.processes import service_env, start_service, wait_ready
from provision.system import free_port
from services.notifications.config import Settings
from services.notifications.main import create_app
from shared.contracts.envelope import Event
from shared.contracts.recommendations import RecommendationRevised
from shared.platform import auth
from shared.platform.db import make_engine, make_session_factory
from shared.platform.kafka import ensure_topics, make_producer
from tests.factories import LEAD, issued, recommendation
from tests.support import Env, running

pytestmark = pytest.mark.services


async def produce_fast(bootstrap: str, topic: str, events: list[Event]) -> None:
    """Send many events and wait once for all (order per key is kept by the idempotent producer)."""
    producer = make_producer(bootstrap, "tests-feed")
    await producer.start()
    try:
        futures = []
        for event in events:
            key, value, headers = event.to_kafka()
            futures.append(await producer.send(topic, value=value, key=key, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def revision(rec_id: uuid.UUID, version: int, city: str = "leipzig") -> Event:
    payload = RecommendationRevised(
        recommendation=recommendation(rec_id, version=version, status="revised", city=city), reason=f"v{version}", actor=LEAD
    )
    return Event.of(payload, source="/test", subject=str(rec_id))


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(id, data) of each server-sent event of a streaming response."""
    event_id, data = None, None
    async for line in response.aiter_lines():
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
        elif line == "" and event_id is not None and data is not None:
            yield event_id, data
            event_id, data = None, None


async def read_sse(url: str, token: str, count: int, last_event_id: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    got: list[tuple[str, dict[str, Any]]] = []
    async with httpx.AsyncClient(timeout=30) as client, client.stream("GET", f"{url}/events", headers=headers) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        async for item in sse_events(response):
            got.append(item)
            if len(got) == count:
                break  # leaving the block disconnects, as a client going away would
    return got


async def test_sse_resumes_after_a_restart_with_exactly_the_events_after_the_last_id(env: Env, tmp_path: Path) -> None:
    await ensure_topics(env.kafka, env.prefix)
    keys = [uuid.uuid4() for _ in range(4)]
    events = [issued(k) for k in keys] + [revision(k, v) for v in (2, 3, 4) for k in keys]  # 16 events, 4 per key
    await produce_fast(env.kafka, env.topic("recommendations"), events)
    token = await env.token("integration")
    port = free_port()
    environment = service_env("notifications", env.kafka, env.pg_server, env.prefix, TOPIC_PREFIX=env.prefix, LOG_JSON="false")
    service = start_service("notifications", port, environment, tmp_path)
    try:
        wait_ready([service])
        first = await read_sse(service.url, token, 6)
        service.stop()  # the service restarts: the client keeps only the id of the last event it saw
        service = start_service("notifications", port, environment, tmp_path)
        wait_ready([service])
        rest = await read_sse(service.url, token, 10, last_event_id=first[-1][0])
    finally:
        service.stop()
    received = [data["id"] for _, data in first + rest]
    assert sorted(received) == sorted(str(e.id) for e in events), "every event exactly once, none missing"
    per_key: dict[str, list[int]] = defaultdict(list)
    for _, data in first + rest:
        per_key[data["subject"]].append(data["data"]["recommendation"]["version"])
    assert all(versions == [1, 2, 3, 4] for versions in per_key.values()), per_key


async def test_a_city_official_sees_only_their_city_and_json_pages_cover_10000_events(env: Env) -> None:
    await ensure_topics(env.kafka, env.prefix)
    lyon = [issued(city="lyon") for _ in range(20)]
    leipzig = [issued(city="leipzig") for _ in range(9_980)]
    await produce_fast(env.kafka, env.topic("recommendations"), lyon + leipzig)
    app = create_app(env.settings(Settings))
    json_only = {"Accept": "application/json"}
    async with (
        running(app),
        await env.client(app, "integration") as integration,
        await env.client(app, "city_official", "leipzig") as official,
    ):
        seen: list[str] = []
        after, pages = "", 0
        while True:
            page = (await integration.get("/events", params={"limit": 1000, "after": after}, headers=json_only)).json()
            seen += [item["id"] for item in page["items"]]
            after, pages = page["next"], pages + 1
            if not page["more"]:
                break
        assert len(seen) == len(set(seen)) == 10_000 and pages >= 10
        assert set(seen) == {str(e.id) for e in lyon + leipzig}
        again = (await integration.get("/events", params={"after": after}, headers=json_only)).json()
        assert again["items"] == [] and again["more"] is False  # the end position reads nothing more

        mine = (await official.get("/events", params={"limit": 1000}, headers=json_only)).json()
        assert mine["items"] and {i["data"]["recommendation"]["target_city"] for i in mine["items"]} == {"leipzig"}
        refused = await official.get("/events", params={"city": "lyon"}, headers=json_only)
        assert refused.status_code == 403 and "may not read the events of lyon" in refused.json()["detail"]
        lyon_only = (await integration.get("/events", params={"city": "lyon", "limit": 1000}, headers=json_only)).json()
        assert sorted(i["id"] for i in lyon_only["items"]) == sorted(str(e.id) for e in lyon)  # ordered per key only
        bad = await integration.get("/events", params={"after": "recommendations:x:1"}, headers=json_only)
        assert bad.status_code == 422 and "not a feed position" in bad.json()["detail"]


async def test_a_stream_ends_once_its_token_is_revoked(env: Env, tmp_path: Path) -> None:
    """A revoked token is refused at the next request; a stream it opened ends too, within the
    recheck and the token cache (RECHECK_S + AUTH_CACHE_S), not whenever the client goes away."""
    await ensure_topics(env.kafka, env.prefix)
    token = await env.token("integration")
    port = free_port()
    environment = service_env("notifications", env.kafka, env.pg_server, env.prefix, TOPIC_PREFIX=env.prefix, LOG_JSON="false")
    service = start_service("notifications", port, environment, tmp_path)
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    try:
        wait_ready([service])
        async with (
            httpx.AsyncClient(timeout=30) as client,
            client.stream("GET", f"{service.url}/events", headers=headers) as response,
        ):
            assert response.status_code == 200
            lines = response.aiter_lines()
            assert (await anext(lines)).startswith(": clusnet event feed")
            engine = make_engine(env.auth_url, pool_size=1)
            async with make_session_factory(engine)() as session:
                assert await auth.revoke_token(session, token.split("_")[1])
            await engine.dispose()
            async with asyncio.timeout(30):  # keep-alives would hold it open for ever: the server must end it
                rest = [line async for line in lines]
            assert (await client.get(f"{service.url}/events", headers=headers)).status_code == 401
        assert ": the token is no longer valid; the stream ends" in rest
    finally:
        service.stop()
