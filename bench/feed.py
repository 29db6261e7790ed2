"""7. The HTTP event feed (GET /events as server-sent events): events/s to one client and to 20
clients at once, beside a raw aiokafka consumer reading the same topic in the same run. The
clients are Python (httpx) on the same 2 cores, so the figures include their cost."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.common import Row
from bench.services import SCALE, start, token
from shared.platform import auth
from shared.platform.db import with_database
from shared.platform.kafka import ensure_topics, make_producer, partitions_of
from tests.factories import issued


async def _produce(kafka: str, topic: str, count: int) -> None:
    producer = make_producer(kafka, "bench-feed")
    await producer.start()
    futures = []
    for event in (issued() for _ in range(count)):
        key, value, headers = event.to_kafka()
        futures.append(await producer.send(topic, value=value, key=key, headers=headers))
    await asyncio.gather(*futures)
    await producer.stop()


async def _sse_client(url: str, token: str, count: int) -> float:
    """Read `count` events from the start; answer the seconds it took from the first byte."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    seen, started = 0, None
    async with httpx.AsyncClient(timeout=120) as client, client.stream("GET", f"{url}/events", headers=headers) as answer:
        async for line in answer.aiter_lines():
            started = started or time.perf_counter()
            if line.startswith("data: "):
                seen += 1
                if seen == count:
                    break
    assert started is not None
    return time.perf_counter() - started


async def _raw(kafka: str, topic: str, count: int) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=None, enable_auto_commit=False)
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in (await partitions_of(kafka, [topic]))[topic]]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    seen, started = 0, time.perf_counter()
    while seen < count:
        seen += sum(len(batch) for batch in (await consumer.getmany(timeout_ms=500)).values())
    elapsed = time.perf_counter() - started
    await consumer.stop()
    return count / elapsed


async def bench_feed(kafka: str, pg: str) -> tuple[list[Row], dict[str, Any]]:
    prefix = f"bf{uuid.uuid4().hex[:6]}"
    one, many, clients = max(100, int(20_000 * SCALE)), max(100, int(5_000 * SCALE)), 20
    await ensure_topics(kafka, prefix)
    topic = f"{prefix}.recommendations"
    await _produce(kafka, topic, one)
    svc = start("notifications", kafka, pg, prefix)
    try:
        auth_url = with_database(pg, f"{prefix}_auth")
        key = await token(auth_url, auth.Role.integration)
        single = one / await _sse_client(svc.url, key, one)
        durations = await asyncio.gather(*(_sse_client(svc.url, key, many) for _ in range(clients)))
        aggregate = clients * many / max(durations)
    finally:
        svc.stop()
    raw = await _raw(kafka, topic, one)
    baseline = f"{raw:,.0f} msg/s (raw aiokafka consumer, same topic)"
    rows = [
        Row(
            f"7. event feed (SSE), 1 client, {one} events", f"{single:,.0f} events/s", baseline, f"{single / raw:.3f}", "—", None
        ),
        Row(
            f"7. event feed (SSE), {clients} clients × {many} events",
            f"{aggregate:,.0f} events/s in all ({aggregate / clients:,.0f} each)",
            baseline,
            f"{aggregate / raw:.3f}",
            "—",
            None,
        ),
    ]
    return rows, {
        "feed_1_client_events_per_s": round(single),
        "feed_20_clients_events_per_s": round(aggregate),
        "raw": round(raw),
    }
