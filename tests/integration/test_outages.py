"""Outages, on brokers this test can stop: the outbox keeps events while Kafka is away and
delivers all of them in order when it returns; /readyz follows Kafka and PostgreSQL going away
and coming back; the backlog and lag metrics move while the relay or consumer cannot work.

These tests start their own local Kafka / PostgreSQL processes (provision), because they
stop them; the other tests use whatever the environment provides."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from provision.kafka import KafkaProcess
from provision.postgres import PostgresProcess
from services.evaluations.config import Settings as EvaluationsSettings
from services.evaluations.main import create_app as evaluations_app
from services.recommendations.config import Settings as RecommendationsSettings
from services.recommendations.main import create_app as recommendations_app
from services.recommendations.seed import load_demo_data
from shared.contracts.recommendations import RecommendationIssued
from tests.factories import issued
from tests.support import Env, eventually, produce, read_topic, running

pytestmark = pytest.mark.services


@pytest.fixture
def own_kafka() -> Iterator[KafkaProcess]:
    broker = KafkaProcess()
    broker.start()
    yield broker
    broker.remove()


@pytest.fixture
def own_postgres() -> Iterator[PostgresProcess]:
    server = PostgresProcess()
    server.start()
    yield server
    server.remove()


def metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def readiness(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    answer = await client.get("/readyz")
    return answer.status_code, answer.json()


async def test_outbox_waits_for_kafka_and_delivers_in_order(own_kafka: KafkaProcess, pg_server: str) -> None:
    env = Env(kafka=own_kafka.bootstrap, pg_server=pg_server, prefix=f"o{uuid.uuid4().hex[:8]}")
    settings = env.settings(RecommendationsSettings)
    await load_demo_data(settings)
    app = recommendations_app(settings)
    async with running(app), await env.client(app, "lead_partner") as lead:
        await eventually(lambda: _ready(lead), what="ready")
        seeded = await read_topic(env.kafka, env.topic("recommendations"), 11 + 6)
        own_kafka.stop()
        status, body = await eventually(lambda: _unready(lead), what="unready without Kafka")
        assert status == 503 and any("kafka" in r for r in body["reasons"])
        seminar = (await lead.get("/seminars")).json()["items"][0]
        ids = []
        for i in range(5):  # the API keeps working: changes and their events wait in the outbox
            rec = (
                await lead.post(
                    f"/seminars/{seminar['id']}/recommendations", json={"title": f"R{i}", "text": "t", "dimension": "setting"}
                )
            ).json()
            assert (await lead.post(f"/recommendations/{rec['id']}/issue")).status_code == 200
            assert (
                await lead.post(f"/recommendations/{rec['id']}/revise", json={"reason": "sharper", "text": f"v2 of R{i}"})
            ).status_code == 200
            ids.append(rec["id"])
        backlog = await eventually(
            lambda: _metric_at_least(lead, "clusnet_outbox_backlog", 10, service="recommendations"), what="backlog"
        )
        assert backlog == 10
        own_kafka.start()
        await eventually(lambda: _ready(lead), timeout=60, what="ready again")
        await eventually(
            lambda: _metric_equals(lead, "clusnet_outbox_backlog", 0, service="recommendations"),
            timeout=60,
            what="backlog drained",
        )
        records = await read_topic(env.kafka, env.topic("recommendations"), len(seeded) + 10)
    after = [r for r in records if r.key.decode() in ids]
    assert len(after) == 10, "each event exactly once"
    for rec_id in ids:
        types = [dict(r.headers)["ce_type"].decode() for r in after if r.key.decode() == rec_id]
        assert types == ["eu.clusnet.recommendation.issued.v1", "eu.clusnet.recommendation.revised.v1"]
        bodies = [json.loads(r.value) for r in after if r.key.decode() == rec_id]
        assert [b["recommendation"]["version"] for b in bodies] == [1, 2]


async def test_readyz_follows_postgres(own_postgres: PostgresProcess, kafka: str) -> None:
    env = Env(kafka=kafka, pg_server=own_postgres.url, prefix=f"p{uuid.uuid4().hex[:8]}")
    app = evaluations_app(env.settings(EvaluationsSettings))
    async with running(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as ops:
            await eventually(lambda: _ready(ops), what="ready")
            own_postgres.stop()
            _, body = await eventually(lambda: _unready(ops), what="unready without PostgreSQL")
            assert any("database" in r for r in body["reasons"])
            own_postgres.start()
            await eventually(lambda: _ready(ops), timeout=30, what="ready again")


async def test_lag_moves_while_the_consumer_cannot_work(env: Env) -> None:
    app = evaluations_app(env.settings(EvaluationsSettings))
    gate = asyncio.Event()
    async with running(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as ops:
            await eventually(lambda: _ready(ops), what="ready")
            route = app.state.runtime.consumers[0].router.route(RecommendationIssued.versioned_type())
            original = route.handler

            async def stalled(batch: Any, payload: Any, event: Any) -> None:
                await gate.wait()
                await original(batch, payload, event)

            route.handler = stalled  # the router is the module's: put the real handler back after
            try:
                key = uuid.uuid4()  # one key: one partition, so the whole backlog is behind the stalled handler
                await produce(env.kafka, env.topic("recommendations"), [issued(key).to_kafka() for _ in range(5)])
                lagging = await eventually(lambda: _total_lag_at_least(ops, env.topic("recommendations"), 5), what="lag to show")
                assert lagging == 5
                gate.set()
                await eventually(lambda: _total_lag_is_zero(ops, env.topic("recommendations")), what="lag back to zero")
            finally:
                route.handler = original


async def _ready(c: httpx.AsyncClient) -> bool:
    return (await c.get("/readyz")).status_code == 200


async def _unready(c: httpx.AsyncClient) -> tuple[int, dict[str, Any]] | None:
    status, body = await readiness(c)
    return (status, body) if status == 503 else None


async def _metric_at_least(c: httpx.AsyncClient, name: str, n: float, **labels: str) -> float | None:
    value = metric((await c.get("/metrics")).text, name, **labels)
    return value if value is not None and value >= n else None


async def _metric_equals(c: httpx.AsyncClient, name: str, n: float, **labels: str) -> bool:
    return metric((await c.get("/metrics")).text, name, **labels) == n


def _lags(text: str, topic: str) -> list[float]:
    return [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("clusnet_consumer_lag{") and re.search(f'topic="{re.escape(topic)}"', line)
    ]


async def _total_lag_at_least(c: httpx.AsyncClient, topic: str, n: float) -> float | None:
    total = sum(_lags((await c.get("/metrics")).text, topic))
    return total if total >= n else None


async def _total_lag_is_zero(c: httpx.AsyncClient, topic: str) -> bool:
    lags = _lags((await c.get("/metrics")).text, topic)
    return bool(lags) and sum(lags) == 0
