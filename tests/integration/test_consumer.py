"""The shared consumer on real Kafka and PostgreSQL, with handlers written for the test: a batch
whose handler fails is rolled back and replayed one event per transaction; the failing event is
dead-lettered after its attempts and every other event is applied exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest
from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.evaluations.config import Settings
from services.evaluations.main import MIGRATIONS
from services.evaluations.models import Inbox
from shared.contracts.envelope import Event
from shared.contracts.recommendations import RecommendationIssued
from shared.platform import migrate
from shared.platform.consumer import EventConsumer
from shared.platform.db import ensure_database, make_engine, make_session_factory
from shared.platform.kafka import ensure_topics, make_consumer, make_producer
from shared.platform.outbox import EventSink
from shared.platform.routing import Router
from tests.factories import issued
from tests.support import Env, eventually, produce, read_topic

pytestmark = pytest.mark.services


class NoEvents:
    """An event sink for handlers that emit nothing."""

    def publish(self, session: AsyncSession, event: Event) -> None:
        raise AssertionError("this test's handler emits no event")

    async def publish_many(self, session: AsyncSession, events: Sequence[Event]) -> None:
        raise AssertionError("this test's handler emits no event")

    def wake_relay(self) -> None:
        pass


NO_EVENTS = NoEvents()


async def test_a_failing_handler_is_isolated_from_its_batch(env: Env) -> None:
    settings = env.settings(Settings)
    await ensure_database(settings.database_url)
    await asyncio.to_thread(migrate.upgrade, settings.database_url, MIGRATIONS)
    await ensure_topics(env.kafka, env.prefix)
    topic = env.topic("recommendations")
    key = uuid.uuid4()  # one key, one partition: one batch, in order
    events = [issued(key, title=f"event {i}") for i in range(6)]
    poison = events[2]
    applied: list[str] = []
    calls: dict[str, int] = {}

    async def begin(session: AsyncSession, sink: EventSink, events: Sequence[Event]) -> AsyncSession:
        return session

    async def handler(_: AsyncSession, payload: RecommendationIssued, event: Event) -> None:
        calls[str(event.id)] = calls.get(str(event.id), 0) + 1
        if event.id == poison.id:
            raise RuntimeError("cannot apply this one")
        applied.append(str(event.id))

    router: Router[AsyncSession] = Router(begin)
    router.add(RecommendationIssued, handler)
    await produce(env.kafka, topic, [e.to_kafka() for e in events])
    engine = make_engine(settings.database_url)
    dlq = make_producer(env.kafka, "test-dlq")
    await dlq.start()
    consumer = EventConsumer(
        service="test",
        make_client=lambda: make_consumer(env.kafka, f"{env.prefix}-test", [topic]),
        bootstrap=env.kafka,
        dlq_producer=dlq,
        session_factory=make_session_factory(engine),
        inbox_model=Inbox,
        router=router,
        sink=NO_EVENTS,
        max_attempts=3,
        retry_backoff_s=0.01,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        dead = await read_topic(env.kafka, topic + ".dlq", 1)
        await eventually(lambda: _true(consumer.progress.applied == 5), what="the other five applied")
    finally:
        stop.set()
        await task
        await dlq.stop()
    assert [dict(r.headers)["ce_id"].decode() for r in dead] == [str(poison.id)]
    assert dict(dead[0].headers)["dlq_error"].decode() == "RuntimeError: cannot apply this one"
    assert dict(dead[0].headers)["dlq_attempts"] == b"3" and calls[str(poison.id)] == 1 + 3  # the batch, then 3 alone
    # the batch's first attempt was rolled back: every other event is in the inbox exactly once
    assert sorted(set(applied)) == sorted(str(e.id) for e in events if e is not poison)
    async with make_session_factory(engine)() as session:
        assert (await session.execute(select(func.count()).select_from(Inbox))).scalar() == 5
    await engine.dispose()


async def _true(value: bool) -> bool:
    return value
