"""4r, 4s. Where an issue's time goes, hop by hop, and what the chain costs at rest.

Row 4 gives one figure per issue, HTTP request to webhook. These rows split it, from timestamps the
chain already writes: the event's `time` (set by the API when it builds the event), the Kafka
message's CreateTime (set by the relay's producer when it sends), the delivery row's `created_at`
(set by the notifications consumer) and `delivered_at` (set by the dispatcher once the receiver
answered), and the receiver's own clock. All on one machine's clock. And, before any load, the
CPU each part of the chain uses per second with nothing to do: the floor every rate pays."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from bench.chain import Chain, cpu_by_part, drain, running_chain
from bench.common import Row, percentile
from shared.contracts import topics
from shared.contracts.envelope import Event
from shared.contracts.recommendations import RecommendationIssued
from shared.platform.db import driver_dsn, with_database

REST_S = 10.0
RATES = ((5, 60), (50, 600))  # (issues per second, issues)
HOPS = (
    "API answer",
    "API → Kafka (outbox, relay)",
    "Kafka → delivery row (notifications consumer)",
    "delivery row → webhook answered (dispatcher)",
    "whole chain",
)


async def bench_stages(kafka: str, pg: str) -> tuple[list[Row], dict[str, Any]]:
    prefix = f"bs{uuid.uuid4().hex[:6]}"
    rows: list[Row] = []
    details: dict[str, Any] = {}
    async with running_chain(kafka, pg, prefix, sum(count for _, count in RATES)) as chain:
        before = cpu_by_part(chain.pids)
        await asyncio.sleep(REST_S)
        at_rest = {part: round((spent - before[part]) * 1000 / REST_S) for part, spent in cpu_by_part(chain.pids).items()}
        at_rest.pop("client")
        details["at_rest_cpu_ms_per_s"] = at_rest
        rows.append(
            Row(
                "4r. the chain at rest: CPU per second with nothing to do",
                f"{sum(at_rest.values())} ms in all: " + ", ".join(f"{part} {ms}" for part, ms in at_rest.items()),
                "—",
                "—",
                "—",
                None,
            )
        )
        offset = 0
        for rate, count in RATES:
            hops = await _hops(chain, chain.drafts[offset : offset + count], rate, kafka, pg, prefix)
            offset += count
            details[f"stages_{rate}"] = {hop: _spread(ms) for hop, ms in hops.items()}
            rows.append(
                Row(
                    f"4s. where an issue's time goes at {rate}/s ({count} issues; p50 / p90 / p99 ms)",
                    "; ".join(f"{hop} {_text(ms)}" for hop, ms in hops.items()),
                    "—",
                    "—",
                    "—",
                    None,
                )
            )
    return rows, details


async def _hops(chain: Chain, ids: list[str], rate: int, kafka: str, pg: str, prefix: str) -> dict[str, list[float]]:
    """Issue `ids` at `rate` (one after another, each once the previous was answered or its time
    came), then each hop's duration per issue, in ms."""
    wall = time.time() - time.perf_counter()  # the receiver records perf_counter()
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}
    started = time.time()
    for i, rec_id in enumerate(ids):
        await asyncio.sleep(max(0.0, started + i / rate - time.time()))
        sent[rec_id] = time.time()
        assert await chain.client.post(f"/recommendations/{rec_id}/issue") == 200
        answered[rec_id] = time.time()
    await drain(chain.receiver, set(ids))
    bodies = [json.loads(body) for _, body in chain.receiver.requests]
    arrived = {b["data"]["recommendation"]["id"]: (at + wall, b) for b, at in zip(bodies, chain.receiver.arrived_at, strict=True)}
    relayed = await _sent_to_kafka(kafka, topics.name(prefix, topics.RECOMMENDATIONS))
    delivered = await _delivery_times(with_database(pg, f"{prefix}_notifications"))
    hops: dict[str, list[float]] = {hop: [] for hop in HOPS}
    for rec_id in ids:
        if rec_id not in arrived or rec_id not in relayed or rec_id not in delivered:
            continue
        at, body = arrived[rec_id]
        built = datetime.fromisoformat(body["time"]).timestamp()
        created, done = delivered[rec_id]
        kafka_at = relayed[rec_id]
        spans = (answered[rec_id] - sent[rec_id], kafka_at - built, created - kafka_at, done - created, at - sent[rec_id])
        for hop, seconds in zip(HOPS, spans, strict=True):
            hops[hop].append(seconds * 1000)
    return hops


async def _sent_to_kafka(kafka: str, topic: str) -> dict[str, float]:
    """Recommendation id → the CreateTime of its `recommendation.issued` message (s)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: dict[str, float] = {}
    try:
        while batches := await consumer.getmany(timeout_ms=1500):
            for record in (r for records in batches.values() for r in records):
                if Event.type_of(record.headers) == RecommendationIssued.versioned_type():
                    found[json.loads(record.value)["recommendation"]["id"]] = record.timestamp / 1000
    finally:
        await consumer.stop()
    return found


async def _delivery_times(database_url: str) -> dict[str, tuple[float, float]]:
    """Recommendation id → its webhook delivery's (created_at, delivered_at) (s)."""
    connection = await asyncpg.connect(driver_dsn(database_url))
    try:
        rows = await connection.fetch(
            "SELECT event->'data'->'recommendation'->>'id' AS rec, extract(epoch FROM created_at) AS created,"
            " extract(epoch FROM delivered_at) AS done FROM delivery WHERE delivered_at IS NOT NULL"
        )
    finally:
        await connection.close()
    return {row["rec"]: (float(row["created"]), float(row["done"])) for row in rows}


def _spread(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), **{f"p{p}": round(percentile(ms, p), 1) for p in (50, 90, 99)}}


def _text(ms: list[float]) -> str:
    return "/".join(f"{percentile(ms, p):.0f}" for p in (50, 90, 99))
