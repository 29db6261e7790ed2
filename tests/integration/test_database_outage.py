"""PostgreSQL stopped under load: the API answers 503 with Retry-After (problem+json), never 500,
and serves again once PostgreSQL is back, without a restart of the service."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from provision.postgres import PostgresProcess
from services.evaluations.config import Settings as EvaluationsSettings
from services.evaluations.main import create_app as evaluations_app
from services.recommendations.config import Settings as RecommendationsSettings
from services.recommendations.main import create_app as recommendations_app
from services.recommendations.seed import load_demo_data
from shared.platform import consumer as consumer_module
from tests.factories import issued
from tests.support import Env, eventually, produce, running

pytestmark = pytest.mark.services


@pytest.fixture
def own_postgres() -> Iterator[PostgresProcess]:
    server = PostgresProcess()
    server.start()
    yield server
    server.remove()


async def test_api_answers_503_with_retry_after_while_postgres_is_down(own_postgres: PostgresProcess, kafka: str) -> None:
    env = Env(kafka=kafka, pg_server=own_postgres.url, prefix=f"d{uuid.uuid4().hex[:8]}")
    settings = env.settings(RecommendationsSettings, auth_cache_s=0.0)  # every request reads the token database too
    await load_demo_data(settings)
    app = recommendations_app(settings)
    token = await env.token("lead_partner")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # a 500 must show as a 500, not an exception
    async with (
        running(app),
        httpx.AsyncClient(transport=transport, base_url="http://test", headers={"Authorization": f"Bearer {token}"}) as lead,
    ):
        seminar = (await lead.get("/seminars")).json()["items"][0]["id"]
        answers: list[httpx.Response] = []
        stop = asyncio.Event()

        async def load(n: int) -> None:
            while not stop.is_set():
                if n % 2:
                    answers.append(await lead.get("/recommendations", params={"limit": 5}))
                else:
                    draft = {"title": "Under load", "text": "t", "dimension": "setting"}
                    answers.append(await lead.post(f"/seminars/{seminar}/recommendations", json=draft))
                await asyncio.sleep(0.05)

        workers = [asyncio.create_task(load(n)) for n in range(4)]
        await asyncio.sleep(1)
        await asyncio.to_thread(own_postgres.stop)
        await asyncio.sleep(4)
        await asyncio.to_thread(own_postgres.start)

        async def served_again() -> bool:
            return len(answers) > 10 and all(a.status_code in (200, 201) for a in answers[-10:])

        await eventually(served_again, timeout=30, what="the API to serve again after PostgreSQL came back")
        stop.set()
        await asyncio.gather(*workers)

    statuses = Counter(a.status_code for a in answers)
    assert not [s for s in statuses if s >= 500 and s != 503], f"only 503 while the database is away: {statuses}"
    unavailable = [a for a in answers if a.status_code == 503]
    assert unavailable, f"the outage was seen: {statuses}"
    for answer in unavailable:
        assert answer.headers["content-type"] == "application/problem+json"
        assert int(answer.headers["retry-after"]) > 0
        assert "database" in answer.json()["detail"]


async def test_consumer_waits_for_postgres_instead_of_dead_lettering(own_postgres: PostgresProcess, kafka: str) -> None:
    """Events that arrive while PostgreSQL is away are applied once it is back: the outage is not
    the events' fault, so it uses none of their attempts and dead-letters nothing."""
    env = Env(kafka=kafka, pg_server=own_postgres.url, prefix=f"w{uuid.uuid4().hex[:8]}")
    settings = env.settings(EvaluationsSettings)
    app = evaluations_app(settings)
    waits = Waits()
    consumer_log = logging.getLogger(consumer_module.__name__)
    consumer_log.addHandler(waits)
    try:
        async with running(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as ops:
            consumer = app.state.runtime.consumers[0]

            async def ready() -> bool:
                return (await ops.get("/readyz")).status_code == 200

            await eventually(ready, timeout=60, what="ready")
            await asyncio.to_thread(own_postgres.stop)
            await produce(env.kafka, env.topic("recommendations"), [issued().to_kafka() for _ in range(8)])

            async def outage_outlasted_the_attempts() -> bool:  # each wait is one try the outage refused
                return waits.count > settings.consumer_max_attempts

            what = "the consumer to meet the outage, more times than an event has attempts"
            await eventually(outage_outlasted_the_attempts, timeout=60, what=what)
            await asyncio.to_thread(own_postgres.start)

            async def all_applied() -> bool:
                return consumer.progress.applied == 8

            await eventually(all_applied, timeout=60, what="the 8 events applied after PostgreSQL came back")
            assert consumer.progress.dead_lettered == 0
    finally:
        consumer_log.removeHandler(waits)


class Waits(logging.Handler):
    """Counts the consumer's waits for the database (its warning each time an event waits)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "database unavailable" in record.getMessage():
            self.count += 1
