"""A Kafka broker SIGKILLed under a consumer and restarted from the same data directory
(aiokafka #1154, #847): the consumer resumes by itself, and while the broker is gone its lag
gauge says "unknown" instead of reading 0."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from provision.kafka import KafkaProcess
from services.evaluations.config import Settings as EvaluationsSettings
from services.evaluations.main import create_app as evaluations_app
from tests.factories import issued
from tests.support import Env, eventually, produce, running

pytestmark = pytest.mark.services


@pytest.fixture
def own_kafka() -> Iterator[KafkaProcess]:
    broker = KafkaProcess()
    broker.start()
    yield broker
    broker.remove()


def _gauge(text: str, name: str, **labels: str) -> list[float]:
    return [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items())
    ]


async def test_consumer_resumes_after_broker_sigkill_and_restart(own_kafka: KafkaProcess, pg_server: str) -> None:
    env = Env(kafka=own_kafka.bootstrap, pg_server=pg_server, prefix=f"k{uuid.uuid4().hex[:8]}")
    app = evaluations_app(env.settings(EvaluationsSettings))
    topic = env.topic("recommendations")
    async with running(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as ops:
        consumer = app.state.runtime.consumers[0]

        async def ready() -> bool:
            return (await ops.get("/readyz")).status_code == 200

        async def applied(n: int) -> bool:
            return consumer.progress.applied >= n

        await eventually(ready, timeout=60, what="ready")
        await produce(env.kafka, topic, [issued().to_kafka() for _ in range(6)])
        await eventually(lambda: applied(6), timeout=30, what="6 events applied before the crash")

        # killed mid-burst: batches in flight, commits pending
        await produce(env.kafka, topic, [issued().to_kafka() for _ in range(300)])
        await eventually(lambda: applied(20), timeout=30, what="the burst to be under way")
        own_kafka.kill()
        killed_at = time.monotonic()

        async def lag_unknown() -> bool:
            text = (await ops.get("/metrics")).text
            unknown = _gauge(text, "clusnet_consumer_lag_unknown", service="evaluations")
            lags = _gauge(text, "clusnet_consumer_lag", service="evaluations", topic=topic)
            return unknown == [1.0] and bool(lags) and all(math.isnan(v) for v in lags)

        await eventually(lag_unknown, timeout=30, what="lag gauge to say unknown while the broker is gone")
        reasons = (await ops.get("/readyz")).json().get("reasons", [])
        assert any("lag" in r and "unknown" in r for r in reasons), reasons
        await asyncio.sleep(max(0.0, 8 - (time.monotonic() - killed_at)))

        own_kafka.start()
        await produce(env.kafka, topic, [issued().to_kafka() for _ in range(20)])
        await eventually(
            lambda: applied(326), timeout=90, what="the burst and the 20 events sent after the restart to be applied"
        )
        await eventually(ready, timeout=60, what="ready again")

        async def lag_zero() -> bool:
            text = (await ops.get("/metrics")).text
            lags = _gauge(text, "clusnet_consumer_lag", service="evaluations", topic=topic)
            return _gauge(text, "clusnet_consumer_lag_unknown", service="evaluations") == [0.0] and bool(lags) and sum(lags) == 0

        await eventually(lag_zero, timeout=30, what="lag measured again, and zero")
        assert consumer.progress.applied == 326, "each event applied once"


async def test_watchdog_replaces_a_client_that_makes_no_progress(env: Env) -> None:
    """A client that polls but fetches nothing while records wait (what the stall looks like from
    outside; here made by pausing its partitions) is replaced, and the records are applied."""
    app = evaluations_app(env.settings(EvaluationsSettings, consumer_stall_after_s=3.0))
    async with running(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as ops:
        consumer = app.state.runtime.consumers[0]
        await eventually(lambda: _ready(ops), timeout=60, what="ready")
        wedged = consumer.consumer
        wedged.pause(*wedged.assignment())
        await produce(env.kafka, env.topic("recommendations"), [issued().to_kafka() for _ in range(5)])

        async def applied() -> bool:
            return consumer.progress.applied >= 5

        await eventually(applied, timeout=40, what="the waiting records applied by a new client")
        assert consumer.progress.client_restarts >= 1 and consumer.consumer is not wedged
        assert consumer.progress.applied == 5


async def _ready(ops: httpx.AsyncClient) -> bool:
    return (await ops.get("/readyz")).status_code == 200
