"""The shared consumer on real Kafka and PostgreSQL, with handlers written for the test: a batch
whose handler fails is rolled back and replayed one event per transaction; the failing event is
dead-lettered after its attempts and every other event is applied exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from services.evaluations.config import Settings
from services.evaluations.main import MIGRATIONS
from services.evaluations.models import Inbox
from shared.contracts.envelope import Event
from shared.contracts.recommendations import RecommendationIssued
from shared.platform import migrate
from shared.platform.consumer import EventConsumer
from shared.platform.db import ensure_database, make_engine, make_session_factory
from shared.platform.kafka import ensure_topics, make_consumer, make_producer, partition_of
from shared.platform.outbox import EventSink
from shared.platform.routing import Router
from tests.factories import issued
from tests.support import Env, eventually, partitions_of, produce, read_topic

E = TypeVar("E", bound=EventConsumer[Any])

pytestmark = pytest.mark.services


class NoEvents:
    """An event sink for handlers that emit nothing."""

    def publish(self, session: AsyncSession, event: Event) -> None:
        raise AssertionError("this test's handler emits no event")

    async def publish_many(self, session: AsyncSession, events: Sequence[Event]) -> None:
        raise AssertionError("this test's handler emits no event")

    def wake_workers(self) -> None:
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
    consumer = consumer_under_test(
        EventConsumer, env, f"{env.prefix}-test", topic, engine, dlq, router, max_attempts=3, retry_backoff_s=0.01
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


async def _inbox_rows_then_dispose(engine: AsyncEngine) -> int | None:
    """How many events the inbox holds, read once the test is done with `engine`."""
    async with make_session_factory(engine)() as session:
        count = (await session.execute(select(func.count()).select_from(Inbox))).scalar()
    await engine.dispose()
    return count


async def _true(value: bool) -> bool:
    return value


class CountingRouter(Router[AsyncSession]):
    """A router that counts the messages the consumer has routed, i.e. taken up for decoding."""

    routed = 0

    def route(self, event_type: str | None) -> Any:
        self.routed += 1
        return super().route(event_type)


async def test_the_next_poll_is_decoded_meanwhile_but_takes_effect_only_after_the_commit(env: Env) -> None:
    """Poll n+1 is fetched and decoded while poll n's transaction runs (so Python and PostgreSQL work
    at once), but nothing of it happens before poll n's transaction is committed: no effect, no
    dead letter, no offset; then everything, in order."""
    settings = env.settings(Settings)
    await ensure_database(settings.database_url)
    await asyncio.to_thread(migrate.upgrade, settings.database_url, MIGRATIONS)
    await ensure_topics(env.kafka, env.prefix)
    topic, group = env.topic("recommendations"), f"{env.prefix}-pipeline"
    key = uuid.uuid4()  # one key, one partition: the order is the partition's
    first, later = issued(key, title="held"), [issued(key, title=f"later {i}") for i in range(2)]
    poison = (str(key).encode(), b'{"not": "a recommendation"}', issued(key).to_kafka()[2])
    held, release = asyncio.Event(), asyncio.Event()
    applied: list[uuid.UUID] = []

    async def begin(session: AsyncSession, sink: EventSink, events: Sequence[Event]) -> AsyncSession:
        return session

    async def handler(_: AsyncSession, payload: RecommendationIssued, event: Event) -> None:
        if event.id == first.id:
            held.set()
            await release.wait()  # poll n's transaction stays open (its inbox row uncommitted)
        applied.append(event.id)

    router = CountingRouter(begin)
    router.add(RecommendationIssued, handler)
    async with consuming(env, settings, group, topic, router) as (_, engine):
        sessions = make_session_factory(engine)
        try:
            await produce(env.kafka, topic, [first.to_kafka()])
            await asyncio.wait_for(held.wait(), 20)
            await _produce_at_once(env, topic, [later[0].to_kafka(), poison, later[1].to_kafka()])  # so: one poll
            await eventually(lambda: _true(router.routed == 4), what="the next poll routed and decoded")
            await asyncio.sleep(0.5)  # were anything of it to happen before the commit, it would have by now
            assert applied == [], "nothing of the next poll applied"
            assert await _committed(env, group, topic) is None, "no offset committed"
            assert await read_topic(env.kafka, topic + ".dlq", 0, settle=0.5) == [], "its poison not dead-lettered yet"
            async with sessions() as session:
                assert (await session.execute(select(func.count()).select_from(Inbox))).scalar() == 0
            release.set()
            await eventually(lambda: _true(len(applied) == 3), what="everything applied")
            await eventually(lambda: _is(_committed(env, group, topic), 4), what="the offsets committed")
            dead = await read_topic(env.kafka, topic + ".dlq", 1)
        finally:
            release.set()  # the held transaction ends before the consumer stops
    await engine.dispose()
    assert applied == [first.id, later[0].id, later[1].id], "in the partition's order"
    assert [r.value for r in dead] == [poison[1]]


async def test_the_partitions_of_a_poll_are_applied_at_once(env: Env) -> None:
    """Order is a partition's: each partition of a poll gets its own transaction, all at the same
    time (one's Python work beside another's PostgreSQL work). Each handler here waits until the
    other partition's has begun too: applied one after the other, the first would wait in vain."""
    settings = env.settings(Settings)
    await ensure_database(settings.database_url)
    await asyncio.to_thread(migrate.upgrade, settings.database_url, MIGRATIONS)
    await ensure_topics(env.kafka, env.prefix)
    topic, group = env.topic("recommendations"), f"{env.prefix}-partitions"
    partitions = sorted(await partitions_of(env.kafka, topic))
    keys: dict[int, uuid.UUID] = {}
    while len(keys) < 2:  # two keys in two partitions
        key = uuid.uuid4()
        keys.setdefault(partition_of(str(key).encode(), partitions), key)
    events = {key: [issued(key, title=f"event {i}") for i in range(3)] for key in keys.values()}
    # Written before the consumer starts: its first fetch reads both partitions, one poll.
    await produce(env.kafka, topic, [e.to_kafka() for batch in events.values() for e in batch])
    begun: set[str] = set()
    both = asyncio.Event()
    applied: list[tuple[str, uuid.UUID, bool]] = []  # key, event, whether the other partition had begun

    async def begin(session: AsyncSession, sink: EventSink, events: Sequence[Event]) -> AsyncSession:
        return session

    async def handler(_: AsyncSession, payload: RecommendationIssued, event: Event) -> None:
        begun.add(event.subject)
        if len(begun) == 2:
            both.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await both.wait()
        applied.append((event.subject, event.id, both.is_set()))

    router: Router[AsyncSession] = Router(begin)
    router.add(RecommendationIssued, handler)
    async with consuming(env, settings, group, topic, router) as (consumer, engine):
        await eventually(lambda: _true(consumer.progress.applied == 6), what="all six applied")
    inbox = await _inbox_rows_then_dispose(engine)
    assert all(together for _, _, together in applied), "each partition's first event waited for the other's"
    for key, batch in events.items():
        assert [event for subject, event, _ in applied if subject == str(key)] == [e.id for e in batch], "in order"
    assert inbox == 6


async def test_offsets_are_committed_behind_the_work_and_all_of_them_at_a_clean_stop(env: Env) -> None:
    """The offsets follow the effects in the background (shared/platform/offsets.py): held back
    here for an hour between two commits, the events are applied all the same, and a clean stop
    commits every one of them, so that a restart redelivers nothing."""
    settings = env.settings(Settings)
    await ensure_database(settings.database_url)
    await asyncio.to_thread(migrate.upgrade, settings.database_url, MIGRATIONS)
    await ensure_topics(env.kafka, env.prefix)
    topic, group = env.topic("recommendations"), f"{env.prefix}-offsets"
    key = uuid.uuid4()  # one partition
    first, later = issued(key, title="first"), [issued(key, title=f"later {i}") for i in range(3)]

    async def begin(session: AsyncSession, sink: EventSink, events: Sequence[Event]) -> AsyncSession:
        return session

    async def handler(_: AsyncSession, payload: RecommendationIssued, event: Event) -> None:
        pass

    router: Router[AsyncSession] = Router(begin)
    router.add(RecommendationIssued, handler)
    async with consuming(env, settings, group, topic, router) as (consumer, engine):
        consumer.offsets.every_s = 3600.0
        await produce(env.kafka, topic, [first.to_kafka()])
        await eventually(lambda: _is(_committed(env, group, topic), 1), what="the first offset committed at once")
        for n, event in enumerate(later, start=2):  # one poll each: each would commit, were commits not spaced
            await produce(env.kafka, topic, [event.to_kafka()])
            await eventually(lambda n=n: _true(consumer.progress.applied == n), what=f"event {n} applied")
        assert await _committed(env, group, topic) == 1, "the later offsets wait for their turn"
    await engine.dispose()
    assert await _committed(env, group, topic) == 4, "the stop committed them"


async def _produce_at_once(env: Env, topic: str, messages: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]) -> None:
    """Send the messages as one producer batch: the broker appends them together, a fetch reads them together."""
    producer = make_producer(env.kafka, "tests")
    await producer.start()
    try:
        sent = [await producer.send(topic, value=value, key=key, headers=headers) for key, value, headers in messages]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def _committed(env: Env, group: str, topic: str) -> int | None:
    """The group's committed offset for the topic's partition that has the records (None: none)."""
    reader = AIOKafkaConsumer(bootstrap_servers=env.kafka, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        offsets = [await reader.committed(TopicPartition(topic, p)) for p in await partitions_of(env.kafka, topic)]
    finally:
        await reader.stop()
    return max((o for o in offsets if o is not None), default=None)


async def _is(value: Awaitable[int | None], expected: int) -> bool:
    return await value == expected


class CountingPrechecks(EventConsumer[AsyncSession]):
    """Counts the inbox pre-reads (`_already_applied`) the consumer makes."""

    prechecks = 0

    async def _already_applied(self, ids: list[str | None]) -> set[str]:
        self.prechecks += 1
        return await super()._already_applied(ids)


async def test_the_inbox_is_asked_first_only_while_replays_come(env: Env) -> None:
    """The pre-read of the inbox pays for replays only: made for a partition's first batch and after
    a batch that had replays, not during a run of new events. A replay it did not look for is
    still caught by the inbox insert, and makes the next batch look."""
    settings = env.settings(Settings)
    await ensure_database(settings.database_url)
    await asyncio.to_thread(migrate.upgrade, settings.database_url, MIGRATIONS)
    await ensure_topics(env.kafka, env.prefix)
    topic = env.topic("recommendations")
    key = uuid.uuid4()  # one partition
    runs = [[issued(key, title=f"run {r} event {i}") for i in range(5)] for r in range(2)]
    applied: list[uuid.UUID] = []

    async def begin(session: AsyncSession, sink: EventSink, events: Sequence[Event]) -> AsyncSession:
        return session

    async def handler(_: AsyncSession, payload: RecommendationIssued, event: Event) -> None:
        applied.append(event.id)

    router: Router[AsyncSession] = Router(begin)
    router.add(RecommendationIssued, handler)
    engine = make_engine(settings.database_url)
    dlq = make_producer(env.kafka, "test-dlq")
    await dlq.start()
    consumer = consumer_under_test(CountingPrechecks, env, f"{env.prefix}-precheck", topic, engine, dlq, router, precheck_from=1)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    seen: list[int] = []  # pre-reads made after each batch

    async def consumed(batch: list[Event], past: int) -> None:
        await _produce_at_once(env, topic, [e.to_kafka() for e in batch])
        await eventually(lambda: _true(sum(consumer._done.values()) == past), what=f"{past} messages consumed")
        seen.append(consumer.prechecks)

    try:
        await consumed(runs[0], 5)  # new, the partition's first batch: looked
        await consumed(runs[1], 10)  # new after new: not looked
        await consumed(runs[0], 15)  # replays, not looked for: caught by the inbox insert
        await consumed(runs[1], 20)  # replays after replays: looked, short-circuited
    finally:
        stop.set()
        await task
        await dlq.stop()
    inbox = await _inbox_rows_then_dispose(engine)
    assert seen == [1, 1, 1, 2]
    assert applied == [e.id for e in runs[0] + runs[1]], "each event applied once, in order"
    assert inbox == 10 and consumer.progress.applied == 10


@asynccontextmanager
async def consuming(
    env: Env, settings: Settings, group: str, topic: str, router: Router[Any]
) -> AsyncIterator[tuple[EventConsumer[Any], AsyncEngine]]:
    """A consumer of `topic` in `group` (`consumer_under_test`) running until the block ends; its
    engine stays open after, for the test to read the database and dispose of it."""
    engine = make_engine(settings.database_url)
    dlq = make_producer(env.kafka, "test-dlq")
    await dlq.start()
    consumer = consumer_under_test(EventConsumer, env, group, topic, engine, dlq, router)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        yield consumer, engine
    finally:
        stop.set()
        await task
        await dlq.stop()


def consumer_under_test(
    cls: type[E],
    env: Env,
    group: str,
    topic: str,
    engine: AsyncEngine,
    dlq: AIOKafkaProducer,
    router: Router[Any],
    **options: Any,
) -> E:
    """A consumer of `topic` in `group`, on the evaluations inbox, emitting nothing."""
    return cls(
        service="test",
        make_client=lambda: make_consumer(env.kafka, group, [topic]),
        bootstrap=env.kafka,
        dlq_producer=dlq,
        session_factory=make_session_factory(engine),
        inbox_model=Inbox,
        router=router,
        sink=NO_EVENTS,
        **options,
    )
