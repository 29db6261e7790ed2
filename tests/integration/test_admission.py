"""Admission control: flooded past its limit of requests in progress, a service refuses the excess at
once with 503 + Retry-After (problem+json), answers no other 5xx, and applies every request it
accepted (and none it refused)."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.recommendations.config import Settings
from services.recommendations.main import create_app
from services.recommendations.seed import load_demo_data
from shared.platform import metrics, pipeline
from shared.platform.kafka import ensure_topics
from shared.platform.pipeline import MIN_BACKLOG, PipelineDelay
from tests.support import Env, eventually, message_count, produce, running

pytestmark = pytest.mark.services
LIMIT = 3
FLOOD = 60


async def test_flood_past_the_limit_is_refused_at_once_and_accepted_requests_are_applied(env: Env) -> None:
    settings = env.settings(Settings, max_in_flight_requests=LIMIT)
    await load_demo_data(settings)
    app = create_app(settings)
    async with running(app), await env.client(app, "lead_partner") as lead:
        ids = await drafts_of_a_seminar(lead, "Flood", FLOOD)  # one at a time: within the limit, all accepted

        refused_before = await refused_count(lead)
        answers = await asyncio.gather(*(lead.post(f"/recommendations/{rec_id}/issue") for rec_id in ids))

        statuses = Counter(a.status_code for a in answers)
        assert set(statuses) == {200, 503}, statuses  # no other outcome, no other 5xx
        assert statuses[200] >= LIMIT and statuses[503] > 0, statuses
        for refused in (a for a in answers if a.status_code == 503):
            assert refused.headers["content-type"] == "application/problem+json"
            assert int(refused.headers["retry-after"]) >= 1
            assert "at capacity" in refused.json()["detail"]
        for rec_id, answer in zip(ids, answers, strict=True):
            now = (await lead.get(f"/recommendations/{rec_id}")).json()["status"]
            assert now == ("issued" if answer.status_code == 200 else "draft"), (rec_id, answer.status_code, now)
        assert (await lead.get("/healthz")).status_code == 200
        assert await refused_count(lead) - refused_before == statuses[503]  # /metrics is exempt, and counts them


async def drafts_of_a_seminar(lead: httpx.AsyncClient, theme: str, count: int) -> list[str]:
    """A seminar in Leipzig and `count` draft recommendations of it, made one at a time: their ids."""
    body = {"host_city": "leipzig", "theme": theme, "cluster": "leipzig-biocluster", "held_on": "2026-01-01"}
    seminar = (await lead.post("/seminars", json=body)).json()
    ids = []
    for i in range(count):
        draft = await lead.post(
            f"/seminars/{seminar['id']}/recommendations",
            json={"title": f"{theme} {i}", "text": "Issue me.", "dimension": "processes"},
        )
        assert draft.status_code == 201, draft.text
        ids.append(draft.json()["id"])
    return ids


async def refused_count(client: httpx.AsyncClient) -> float:
    metrics = (await client.get("/metrics")).text
    line = 'clusnet_http_requests_refused_total{service="recommendations"} '
    return next((float(row.removeprefix(line)) for row in metrics.splitlines() if row.startswith(line)), 0.0)


async def test_writes_are_refused_while_the_consumers_downstream_run_behind_and_accepted_once_they_catch_up(env: Env) -> None:
    """A running consumer group of the deployment (named <prefix>-…) that applies 60 events a
    second, given a burst of MIN_BACKLOG + 100: writes are refused (503, Retry-After, reason given,
    nothing applied), reads still answered; once it catches up, writes are accepted again, though
    a group outside the deployment (an integration's) runs far behind all along: it does not count."""
    settings = env.settings(Settings, max_pipeline_delay_ms=300)
    await load_demo_data(settings)
    app = create_app(settings)
    async with running(app), await env.client(app, "lead_partner") as lead:
        drafts = await drafts_of_a_seminar(lead, "Backlog", 40)
        topic = env.topic("recommendations")
        await eventually(lambda: message_count(env.kafka, topic), what="the seminar's event on the topic")
        async with (
            consumer_group(env.kafka, f"{env.prefix}-evaluations", topic) as downstream,
            consumer_group(env.kafka, f"elsewhere-{env.prefix}", topic) as integration,
        ):
            slow = asyncio.create_task(downstream.apply(per_partition_per_tick=2))  # 3 partitions: 60 a second
            also_late = asyncio.create_task(integration.commit_far_behind())
            first = await lead.post(f"/recommendations/{drafts.pop(0)}/issue")
            assert first.status_code == 200, first.text  # the group keeps up with a trickle
            burst = [(f"k{i % 7}".encode(), b"{}", []) for i in range(MIN_BACKLOG + 100)]  # another instance's writes
            await produce(env.kafka, topic, burst)
            answers: dict[str, httpx.Response] = {}
            for rec_id in drafts[:30]:
                answers[rec_id] = await lead.post(f"/recommendations/{rec_id}/issue")
                if answers[rec_id].status_code == 503:
                    break
                await asyncio.sleep(0.1)
            refused = [rec_id for rec_id, answer in answers.items() if answer.status_code == 503]
            assert refused, "no write was refused while the group ran behind"
            answer = answers[refused[0]]
            assert answer.headers["content-type"] == "application/problem+json"
            assert int(answer.headers["retry-after"]) >= 1
            assert "downstream are behind" in answer.json()["detail"]
            assert (await lead.get(f"/recommendations/{refused[0]}")).json()["status"] == "draft"  # reads answered
            assert {answers[r].status_code for r in answers if r not in refused} <= {200}

            slow.cancel()
            caught_up = asyncio.create_task(downstream.apply(per_partition_per_tick=None))
            rest = [rec_id for rec_id in drafts if rec_id not in answers or rec_id in refused]

            async def accepted() -> bool:
                return bool(rest) and (await lead.post(f"/recommendations/{rest.pop(0)}/issue")).status_code == 200

            await eventually(accepted, timeout=10, what="a write accepted once the group caught up")
            caught_up.cancel()
            also_late.cancel()


class Group:
    """A member of a consumer group that commits offsets as a consumer would, without reading."""

    def __init__(self, consumer: AIOKafkaConsumer, topic: str) -> None:
        self.consumer = consumer
        self.topic = topic
        self.done: dict[TopicPartition, int] = {}

    async def apply(self, per_partition_per_tick: int | None) -> None:
        """Every 0.1 s, commit up to `per_partition_per_tick` more events of each partition (None:
        all there are): a consumer applying that many a second, starting where it was (or caught up)."""
        while True:
            await self.consumer.getmany(timeout_ms=50)  # stays a member; what it reads does not matter
            ends = await self.consumer.end_offsets(list(self.consumer.assignment()))
            for tp, end in ends.items():
                done = self.done.setdefault(tp, end)
                self.done[tp] = end if per_partition_per_tick is None else min(end, done + per_partition_per_tick)
            await self.consumer.commit(dict(self.done))
            await asyncio.sleep(0.1)

    async def commit_far_behind(self) -> None:
        """Running (its offsets move) but never past the first two events of each partition."""
        for offset in itertools.cycle((0, 1)):
            await self.consumer.getmany(timeout_ms=50)
            await self.consumer.commit(dict.fromkeys(self.consumer.assignment(), offset))
            await asyncio.sleep(0.1)


@asynccontextmanager
async def consumer_group(bootstrap: str, group: str, topic: str) -> AsyncIterator[Group]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        await eventually(lambda: _joined(consumer), what=f"{group} assigned its partitions")
        yield Group(consumer, topic)
    finally:
        await consumer.stop()


async def _joined(consumer: AIOKafkaConsumer) -> bool:
    await consumer.getmany(timeout_ms=100)
    return bool(consumer.assignment())


class CountingProbe(PipelineDelay):
    """A pipeline probe that counts its measurements (each asks Kafka for offsets)."""

    measured = 0

    async def measure(self, admin: AIOKafkaAdminClient, ends: AIOKafkaConsumer) -> None:
        self.measured += 1
        await super().measure(admin, ends)


async def test_the_pipeline_probe_asks_kafka_only_while_writes_come(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """An API given no writes does not measure its pipeline: its probe rests (from the start, and
    again IDLE_AFTER_S after the last write), its gauges read NaN, and the next write wakes it."""
    monkeypatch.setattr(pipeline, "IDLE_AFTER_S", 0.6)
    await ensure_topics(env.kafka, env.prefix)
    probe = CountingProbe("restingprobe", env.kafka, [env.topic("recommendations")], f"{env.prefix}-")
    stop = asyncio.Event()
    task = asyncio.create_task(probe.run(stop))
    try:
        await asyncio.sleep(1.0)
        assert probe.measured == 0, "no write yet: nothing asked"
        probe.wanted()
        await eventually(lambda: _true(probe.measured >= 2), what="measurements once a write came")
        assert probe.late() is not None
        # IDLE_AFTER_S without a write: the probe rests (its gauges NaN, set by nothing but its rest)
        await eventually(lambda: _true(probe.late() is None and _delay_unknown("restingprobe")), what="the probe resting")
        rested_at = probe.measured
        await asyncio.sleep(1.0)  # four of its intervals: it stays resting
        assert probe.measured == rested_at, "resting: nothing asked"
        assert probe.late() is None, "unknown while resting, not the last value"
        assert _delay_unknown("restingprobe")
        probe.wanted()
        await eventually(lambda: _true(probe.measured > rested_at), what="a measurement after the next write")
    finally:
        stop.set()
        await task


async def _true(value: bool) -> bool:
    return value


def _delay_unknown(service: str) -> bool:
    return math.isnan(metrics.PIPELINE_DELAY.labels(service)._value.get())
