"""Outbox relays: every event published exactly once, in order per key, also with two relays at
once and with transactions that commit out of id order; woken by commits in other processes."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.recommendations.config import Settings
from services.recommendations.main import MIGRATIONS
from services.recommendations.models import Outbox
from shared.platform import migrate
from shared.platform.db import SessionFactory, driver_dsn, driver_of, ensure_database, make_engine, make_session_factory
from shared.platform.kafka import ensure_topics, make_producer
from shared.platform.outbox import OutboxListener, OutboxRelay, add_event
from tests.factories import issued
from tests.support import Env, eventually, listening_backend, read_topic, watch_relays

pytestmark = pytest.mark.services
EVENTS = 600


async def test_two_relays_publish_each_event_once_in_order(env: Env) -> None:
    settings = env.settings(Settings)
    engine = await _migrated_engine(env, settings)
    sessions = make_session_factory(engine)
    topic = env.topic("recommendations")
    sent = await _fill_outbox(sessions, topic, EVENTS, keys=20)

    stop = asyncio.Event()
    relays = []
    for n in range(2):
        producer = make_producer(env.kafka, f"relay-{n}")
        await producer.start()
        relays.append(
            (
                producer,
                OutboxRelay(
                    service="test",
                    session_factory=sessions,
                    producer=producer,
                    outbox_model=Outbox,
                    batch_size=50,
                    poll_interval_s=0.01,
                ),
            )
        )
    tasks = [asyncio.create_task(relay.run(stop)) for _, relay in relays]
    try:
        await eventually(lambda: _outbox_empty(sessions), what="the outbox to drain")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        for producer, _ in relays:
            await producer.stop()
        await engine.dispose()

    records = await read_topic(env.kafka, topic, EVENTS, settle=2.0)
    ids = [dict(r.headers)["ce_id"].decode() for r in records]
    assert len(ids) == EVENTS and len(set(ids)) == EVENTS, "each event exactly once"
    assert _ids_per_key(records) == sent, "per key, the order of the outbox"


async def test_a_batch_larger_than_the_producers_batches_goes_out_whole_and_in_order(env: Env) -> None:
    """One relay batch of 300 events of about 4.5 KB, 50 for each of 6 keys: on 3 partitions one
    has at least 2 keys, 450 KB, more than a producer batch (256 KiB), so its rows go out in
    several batches, one after the other."""
    settings = env.settings(Settings)
    engine = await _migrated_engine(env, settings)
    sessions = make_session_factory(engine)
    topic = env.topic("recommendations")
    sent = await _fill_outbox(sessions, topic, 300, keys=6, text="x" * 4000)
    producer = make_producer(env.kafka, "relay-large")
    await producer.start()
    relay = OutboxRelay(service="test", session_factory=sessions, producer=producer, outbox_model=Outbox, batch_size=500)
    try:
        assert (await relay.publish_pass()).published == 300
        assert await _outbox_empty(sessions)
    finally:
        await producer.stop()
        await engine.dispose()
    records = await read_topic(env.kafka, topic, 300)
    assert len(records) == 300, "each event once"
    assert _ids_per_key(records) == sent, "per key, the order of the outbox"


async def test_a_row_committed_late_goes_out_before_the_next_event_of_its_aggregate(env: Env) -> None:
    """A transaction holds the outbox's next id while later rows commit; the relay's pass sends
    those, then the transaction commits and the same aggregate's next event commits too, before
    the pass's next select. That select must not send the next event ahead of the late one."""
    settings = env.settings(Settings)
    engine = await _migrated_engine(env, settings)
    sessions = make_session_factory(engine)
    topic = env.topic("recommendations")
    producer = make_producer(env.kafka, "relay-late-commit")
    await producer.start()
    relay = _RelayWithAMeanwhile(
        service="test", session_factory=sessions, producer=producer, outbox_model=Outbox, batch_size=2, poll_interval_s=600
    )
    aggregate = uuid.uuid4()
    first, second = issued(aggregate, title="first"), issued(aggregate, title="second")
    try:
        async with sessions() as session:
            add_event(session, Outbox, topic, issued(title="before"))
            await session.commit()
        assert (await relay.publish_pass()).published == 1  # the relay knows where the outbox stands
        async with sessions() as running:
            add_event(running, Outbox, topic, first)
            await running.flush()  # `first` holds the next id, uncommitted
            async with sessions() as session:
                for n in range(4):
                    add_event(session, Outbox, topic, issued(title=f"other {n}"))
                await session.commit()

            async def meanwhile() -> None:
                await running.commit()
                async with sessions() as session:
                    add_event(session, Outbox, topic, second)
                    await session.commit()

            relay.meanwhile = meanwhile
            while (await relay.publish_pass()).published:
                pass
        assert relay.meanwhile is None, "the pass ran what happens between its selects"
    finally:
        await producer.stop()
        await engine.dispose()
    records = await read_topic(env.kafka, topic, 7)
    assert len(records) == 7, "each event once"
    of_aggregate = [json.loads(r.value)["recommendation"]["title"] for r in records if r.key == str(aggregate).encode()]
    assert of_aggregate == ["first", "second"]


class _RelayWithAMeanwhile(OutboxRelay):
    """A relay that runs `meanwhile` once, right after handing its first batch to the producer:
    what other transactions do between two selects of one pass."""

    meanwhile: Callable[[], Awaitable[None]] | None = None

    async def _send(self, rows: Sequence[asyncpg.Record]) -> asyncio.Future[list[Any]]:
        sent = await super()._send(rows)
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            await meanwhile()
        return sent


async def test_the_driver_connection_is_handed_out_only_inside_the_sessions_transaction(env: Env) -> None:
    """The relay reads and deletes on the asyncpg connection itself (`db.driver_of`). SQLAlchemy
    sends BEGIN with the first statement it runs, so before one, a raw delete would commit at
    once, before its rows' acks: `driver_of` refuses then, and joins the transaction after."""
    engine = await _migrated_engine(env, env.settings(Settings))
    sessions = make_session_factory(engine)
    try:
        async with sessions() as session, session.begin():
            with pytest.raises(RuntimeError, match="has not begun"):
                await driver_of(session)
            await session.execute(text("SELECT 1"))
            driver = await driver_of(session)
            await driver.execute("DELETE FROM outbox")
            assert driver.is_in_transaction()
            await session.rollback()
    finally:
        await engine.dispose()


async def _fill_outbox(sessions: SessionFactory, topic: str, count: int, *, keys: int, **fields: Any) -> dict[str, list[str]]:
    """`count` events on `keys` aggregates in one transaction; answers each key's event ids in order."""
    aggregates = [uuid.uuid4() for _ in range(keys)]
    sent: dict[str, list[str]] = defaultdict(list)
    async with sessions() as session:
        for i in range(count):
            event = issued(aggregates[i % keys], title=f"event {i}", **fields)
            sent[event.subject].append(str(event.id))
            add_event(session, Outbox, topic, event)
        await session.commit()
    return sent


def _ids_per_key(records: list[Any]) -> dict[str, list[str]]:
    """Each key's event ids in the order Kafka holds them (a key's events share a partition)."""
    received: dict[str, list[str]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        received[record.key.decode()].append(dict(record.headers)["ce_id"].decode())
    return received


async def _outbox_empty(sessions: SessionFactory) -> bool:
    async with sessions() as session:
        return (await session.execute(select(func.count()).select_from(Outbox))).scalar() == 0


async def test_a_commit_in_another_process_wakes_the_relay_at_once(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API process writes the outbox, the worker process publishes it: the insert's
    notification wakes the worker's relay (its poll, 10 minutes here, never fires), also after
    its listening connection was cut."""
    settings = env.settings(Settings)
    watch = watch_relays(monkeypatch)
    engine = await _migrated_engine(env, settings)
    sessions = make_session_factory(engine)
    producer = make_producer(env.kafka, "relay-listening")
    await producer.start()
    relay = OutboxRelay(service="test", session_factory=sessions, producer=producer, outbox_model=Outbox, poll_interval_s=600)
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(relay.run(stop)),
        asyncio.create_task(OutboxListener(driver_dsn(settings.database_url), relay.wake).run(stop)),
    ]
    topic = env.topic("recommendations")
    try:
        listened = 1  # the wakes once the listener listens: it wakes the relay as it begins to
        for round_ in range(2):
            listener = await eventually(lambda: listening_backend(sessions), what="the relay to listen")
            # that wake's pass over, the relay waits: only a wake brings the next pass (its poll is 10 minutes)
            await eventually(partial(watch.settled, listened), what="the relay's passes to settle")
            woken = watch.wakes
            async with sessions() as session:  # as another process would: nobody calls relay.wake()
                add_event(session, Outbox, topic, issued(title=f"round {round_}"))
                await session.commit()
            await eventually(lambda: _outbox_empty(sessions), timeout=30, what="the notified relay to publish")
            assert watch.wakes == woken + 1, "published on the insert's notification"
            listened = watch.wakes + 1
            async with sessions() as session:  # cut the listening connection: the listener reconnects
                await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": listener})
            await eventually(partial(_another_listener, sessions, listener), what="the listener to reconnect")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await producer.stop()
        await engine.dispose()
    titles = [json.loads(r.value)["recommendation"]["title"] for r in await read_topic(env.kafka, topic, 2)]
    assert sorted(titles) == ["round 0", "round 1"]  # one event per round, none twice


async def _another_listener(sessions: SessionFactory, old: int) -> bool:
    pid = await listening_backend(sessions)
    return pid is not None and pid != old


async def _migrated_engine(env: Env, settings: Settings) -> AsyncEngine:
    """The recommendations database, migrated, and the topics: what a relay needs."""
    await ensure_database(settings.database_url)
    await asyncio.to_thread(migrate.upgrade, settings.database_url, MIGRATIONS)
    await ensure_topics(env.kafka, env.prefix)
    return make_engine(settings.database_url)
