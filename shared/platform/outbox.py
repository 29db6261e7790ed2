"""Transactional outbox: state change and event in one transaction; a relay publishes in order.

Per-aggregate order: services lock the aggregate row before writing its event, so a later event
of the same aggregate always has a higher outbox id and commits later. One relay at a time is
active per database (a transaction-level advisory lock); other instances stand by, so a row is
never published twice by two relays. A crash between publish and commit republishes the batches
of that transaction: consumers drop the duplicates by event id (inbox). Sent rows are deleted in
the publishing transaction: Kafka is the log, and the relay's query stays a short primary-key scan.
The relay pipelines (see `publish_pass`): the database and Kafka work at the same time.

A relay learns of new rows at once, whichever process wrote them: every insert into an outbox
notifies `clusnet_outbox` (a statement trigger, delivered at commit; outbox_migrations.py) and
`OutboxListener` wakes the relay on it. Polling every `poll_interval_s` stays as the fallback
for a lost notification or listening connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaProducer
from sqlalchemy import JSON, BigInteger, LargeBinary, func, select, text
from sqlalchemy.orm import instrumentation
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.contracts.envelope import Event
from shared.platform import metrics, tracing
from shared.platform.db import SessionFactory, copy_rows, driver_of, reading
from shared.platform.kafka import partition_of
from shared.platform.periodic import sleep_unless

log = logging.getLogger(__name__)
RELAY_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtext('clusnet.outbox.relay'))")
OUTBOX_CHANNEL = "clusnet_outbox"  # notified by every insert into an outbox (outbox_migrations.py)
PASS_SPACING_S = 0.005  # the least time from one pass's start to the next one's (see `run`)
BUSY_PASS_SPACING_S = 0.015  # the same after a pass that carried BUSY_PASS_EVENTS or more
BUSY_PASS_EVENTS = 3
PIPELINE_DEPTH = 4  # batches handed to the producer whose acks are not yet awaited
LISTEN_CHECK_S = 10.0  # how often an idle listening connection is checked to be alive
LISTENER_NAME = "clusnet-outbox-listener"  # its application_name, as pg_stat_activity shows it


class OutboxFields(SQLModel):
    """Columns of a service's `outbox` table (each service declares the table on its own metadata)."""

    id: int | None = Field(default=None, sa_column_kwargs={"autoincrement": True}, sa_type=BigInteger, primary_key=True)
    topic: str
    key: str
    event_id: UUID
    event_type: str
    # The Kafka message, serialized when written: the relay's hot path does no JSON work.
    headers: dict[str, str] = Field(sa_type=JSON)
    value: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def add_event(session: AsyncSession, outbox_model: type[OutboxFields], topic: str, event: Event) -> None:
    """Queue `event` for publication; it becomes visible to the relay when the session commits."""
    session.add(_new_row(outbox_model, **_row_values(topic, event, datetime.now(UTC))))


async def add_events(session: AsyncSession, outbox_model: type[OutboxFields], topic: str, events: Sequence[Event]) -> None:
    """`add_event` for many events at once, written now with one COPY (no ORM object per row) in
    the caller's transaction. The rows take their ids now: the caller flushes what it queued
    before (an earlier event of the same aggregate must keep the lower id)."""
    now = datetime.now(UTC)
    await copy_rows(session, outbox_model.__table__, [_row_values(topic, event, now) for event in events])  # type: ignore[attr-defined]


def row_values(topic: str, event: Event) -> dict[str, Any]:
    """The columns of `event`'s outbox row, exactly as `add_event` writes them, for a statement that
    inserts the row itself (e.g. a data-modifying CTE with the state change it records: one round
    trip, no ORM flush at commit). Like `add_event`, it continues the current trace."""
    return _row_values(topic, event, datetime.now(UTC))


def _row_values(topic: str, event: Event, now: datetime) -> dict[str, Any]:
    """An outbox row's columns: the Kafka message serialized once, here. An event without trace
    context continues the current one (the request's or consumed event's)."""
    if event.traceparent is None:
        event.traceparent = tracing.current_child()
    key, value, headers = event.to_kafka()
    return {
        "topic": topic,
        "key": key.decode(),
        "event_id": event.id,
        "event_type": event.type,
        "headers": {k: v.decode() for k, v in headers},
        "value": value,
        "created_at": now,
    }


def _new_row(model: type[OutboxFields], **values: Any) -> OutboxFields:
    """A pending outbox row built through SQLAlchemy's class manager: SQLModel's constructor costs
    about 125 µs per row (pydantic and SQLAlchemy attribute events for every field), this about
    4 µs. The values are already of the columns' types; an insert reads them from the instance's
    dict, and the row is never validated or serialized as a model (the relay reads it with Core)."""
    row: OutboxFields = instrumentation.manager_of_class(model).new_instance()
    object.__setattr__(row, "__pydantic_fields_set__", set(values))
    object.__setattr__(row, "__pydantic_extra__", None)
    object.__setattr__(row, "__pydantic_private__", None)
    row.__dict__.update(values)
    return row


class OutboxRelay:
    def __init__(
        self,
        *,
        service: str,
        session_factory: SessionFactory,
        producer: AIOKafkaProducer,
        outbox_model: type[OutboxFields],
        batch_size: int = 500,
        poll_interval_s: float = 0.2,
        max_batches: int = 20,
    ) -> None:
        self.service = service
        self.session_factory = session_factory
        self.producer = producer
        self.outbox = outbox_model
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.max_batches = max_batches
        self._wake = asyncio.Event()
        self._next_id: int | None = None  # the id after the last row published (see `_unbroken`)
        table = outbox_model.__tablename__
        self._take = (  # ANY(ARRAY(…)): an index scan of the batch's ids, whatever the table's statistics
            f"DELETE FROM {table} WHERE id = ANY(ARRAY(SELECT id FROM {table} WHERE id > $1 ORDER BY id LIMIT $2))"
            " RETURNING id, topic, key, event_type, headers, value"
        )
        self.last_success: datetime | None = None

    def wake(self) -> None:
        """Called after a commit that wrote outbox rows, so they go out without waiting a poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        backoff = self.poll_interval_s
        while not stop.is_set():
            self._wake.clear()  # before publishing: a wake that comes during it is not lost
            started = time.monotonic()
            try:
                done = await self.publish_pass()
                backoff = self.poll_interval_s
            except Exception as exc:  # Kafka or the database is away: the rows wait, we retry
                log.warning("outbox relay: publish failed, will retry: %r", exc, exc_info=log.isEnabledFor(logging.DEBUG))
                done = Pass(0, more=False)
                backoff = min(backoff * 2, 5.0)
            if not done.more:
                await sleep_unless(stop, backoff, self._wake)
                # Woken by a commit: under a stream of them (one each per issued recommendation),
                # a pass per commit costs four round trips for one event. Spaced passes carry
                # what came meanwhile; an event waits at most the spacing more, and not at all
                # when commits are further apart than that. Wider once a pass carries several
                # events (commits come faster than passes): at 290 issues a second, 15 ms
                # instead of 5 took the issue API's CPU per request from 2.1 to 1.8 ms (bench
                # row 1), while at 50 a second passes mostly carry one event and keep 5 ms.
                least = BUSY_PASS_SPACING_S if done.published >= BUSY_PASS_EVENTS else PASS_SPACING_S
                if (spacing := started + least - time.monotonic()) > 0:
                    await sleep_unless(stop, spacing)

    async def publish_pass(self) -> Pass:
        """Publish what waits in the outbox, pipelined: batch n+1 is read from the database while
        batch n goes to the producer, so the database and Kafka work at the same time. All of it is
        one transaction holding the relay lock (one active relay, so order per key holds: rows are
        sent in id order by one producer). A batch's rows are deleted as they are read; the
        transaction commits only once every ack of the pass came back, so a failed send rolls the
        rows back into the outbox. It commits after at most `max_batches` batches, so that a crash
        republishes a bounded amount (the consumers' inboxes drop the duplicates).

        Batch n+1 is the rows after batch n's ids (`id > last`), read only while every id so far
        came without a gap (`_unbroken`): a gap may be a row whose transaction is still running.
        Were it to commit, and a later event of its aggregate after it, before the next read,
        that read would send the later event first. Stopped at a gap, the pass ends, and the next
        one reads from the outbox's start, the late row included, in order."""
        async with self.session_factory() as session, session.begin():
            if not (await session.execute(RELAY_LOCK)).scalar():
                return Pass(0, more=False)  # another instance is the active relay
            acks: deque[asyncio.Future[list[Any]]] = deque()
            published: list[asyncpg.Record] = []
            following: asyncio.Future[list[asyncpg.Record]] | None = None
            try:
                rows = await self._take_after(session, 0)
                for n in range(1, self.max_batches + 1):
                    more = len(rows) == self.batch_size
                    last = n == self.max_batches or not (more and _unbroken(self._next_id, [row["id"] for row in rows]))
                    if rows:
                        self._next_id = rows[-1]["id"] + 1
                    # The next batch is read while this one goes to the producer (its query is sent
                    # when `_send` first waits): the database and Kafka work at the same time.
                    following = None if last else asyncio.ensure_future(self._take_after(session, rows[-1]["id"]))
                    if rows:
                        acks.append(await self._send(rows))
                        published += rows
                    rows = await following if following else []
                    following = None
                    while acks and (last or len(acks) > PIPELINE_DEPTH):
                        await acks.popleft()  # came back meanwhile, mostly: bounds what is in flight
                    if last:
                        break
            finally:
                if following is not None:  # failed while the next batch was read: the session is free only after
                    await asyncio.gather(following, return_exceptions=True)
                if acks:  # failed half way: collect the outcomes so no error goes unseen
                    await asyncio.gather(*acks, return_exceptions=True)
        for event_type, count in Counter(row["event_type"] for row in published).items():
            metrics.EVENTS_PUBLISHED.labels(self.service, event_type).inc(count)
        if published:
            self.last_success = datetime.now(UTC)
        return Pass(len(published), more=more)

    async def _take_after(self, session: AsyncSession, last_id: int) -> list[asyncpg.Record]:
        """The batch of rows after `last_id`, in id order, deleted as they are read (one round
        trip), in the pass's transaction, which commits only after their acks. Straight through
        asyncpg: SQLAlchemy's result rows cost 7 µs a row, more than the statement itself."""
        taken = await (await driver_of(session)).fetch(self._take, last_id, self.batch_size)
        return sorted(taken, key=lambda row: row["id"])

    async def _send(self, rows: Sequence[asyncpg.Record]) -> asyncio.Future[list[Any]]:
        """Hand `rows` to the producer; answers the future of all their acks. Each partition's rows
        go in id order into the producer's own batches (the key's partition, as `send` would
        choose it with `make_producer`'s partitioner): a row costs an append to a batch, not a
        future and a timer of its own as with `send`. The partitions are filled at once."""
        partitions = {topic: sorted(await self.producer.partitions_for(topic)) for topic in {row["topic"] for row in rows}}
        by_partition: dict[tuple[str, int], list[asyncpg.Record]] = {}
        for row in rows:
            of_topic = partitions[row["topic"]]
            by_partition.setdefault((row["topic"], partition_of(row["key"].encode(), of_topic)), []).append(row)
        sent = await asyncio.gather(*(self._send_to(topic, partition, part) for (topic, partition), part in by_partition.items()))
        return asyncio.gather(*(ack for acks in sent for ack in acks))

    async def _send_to(self, topic: str, partition: int, rows: list[asyncpg.Record]) -> list[asyncio.Future[Any]]:
        acks, batch = [], self.producer.create_batch()
        for row in rows:
            message = {"timestamp": None, "key": row["key"].encode(), "value": row["value"]}
            headers = [(k, v.encode()) for k, v in row["headers"].items()]  # decoded by the engine's codec
            if batch.append(**message, headers=headers) is None:  # full: it goes, the row starts the next
                acks.append(await self.producer.send_batch(batch, topic, partition=partition))
                batch = self.producer.create_batch()
                batch.append(**message, headers=headers)  # an empty batch takes any first message
        acks.append(await self.producer.send_batch(batch, topic, partition=partition))
        return acks

    async def measure_backlog(self) -> None:
        """Refresh the backlog gauges; runs on its own, since publishing blocks while Kafka is away."""
        async with reading(self.session_factory) as session:
            count, oldest = (await session.execute(select(func.count(), func.min(self.outbox.created_at)))).one()
        metrics.OUTBOX_BACKLOG.labels(self.service).set(count)
        metrics.OUTBOX_OLDEST_AGE.labels(self.service).set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0)


def _unbroken(next_id: int | None, ids: Sequence[int]) -> bool:
    """Whether `ids` (ascending) continue from `next_id`, the id after the last row published,
    without a gap. Outbox ids come from one sequence, so a gap is a rolled-back row, or a row of a
    transaction still running; the relay cannot tell which, so it takes every gap for the second
    (see `OutboxRelay.publish_pass`). After a restart or a takeover `next_id` is unknown: a gap too."""
    return next_id is not None and ids[0] == next_id and ids[-1] - ids[0] == len(ids) - 1


@dataclass
class Pass:
    """What one relay pass did: rows published, and whether more may wait (its last batch was full)."""

    published: int
    more: bool


class OutboxListener:
    """Wakes a relay whenever any process commits outbox rows to its database (LISTEN on a
    connection of its own). Losing the connection costs only latency: the relay still polls; it
    is reconnected, and the relay woken once for what was written meanwhile."""

    def __init__(self, dsn: str, wake: Callable[[], None]) -> None:
        self.dsn = dsn
        self.wake = wake

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                connection = await asyncpg.connect(self.dsn, timeout=5, server_settings={"application_name": LISTENER_NAME})
            except Exception as exc:  # PostgreSQL away: the relay polls meanwhile
                log.info("outbox listener: cannot connect (%s); retrying", type(exc).__name__)
                await sleep_unless(stop, 2.0)
                continue
            try:
                await self._listen(connection, stop)
            except Exception as exc:
                log.info("outbox listener: connection lost (%s); reconnecting", type(exc).__name__)
            finally:
                with contextlib.suppress(Exception):
                    await connection.close(timeout=2)

    async def _listen(self, connection: asyncpg.Connection, stop: asyncio.Event) -> None:
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _: lost.set())
        await connection.add_listener(OUTBOX_CHANNEL, lambda *_: self.wake())
        self.wake()  # rows written while nobody listened
        while not stop.is_set() and not lost.is_set():
            await sleep_unless(stop, LISTEN_CHECK_S, lost)
            if not stop.is_set() and not lost.is_set():
                await connection.execute("SELECT 1", timeout=5)  # a silently dead connection raises here


class EventSink(Protocol):
    """What the service layer needs to emit events (queued in the unit of work's transaction; the
    relay learns of them from PostgreSQL at its commit, `OutboxListener`), and to wake this
    process's workers for the rows a unit of work made for them (`wake_workers`, asked with
    `db.after_commit`: a dispatcher for new deliveries, a job runner for a queued job)."""

    def publish(self, session: AsyncSession, event: Event) -> None: ...

    async def publish_many(self, session: AsyncSession, events: Sequence[Event]) -> None: ...

    def wake_workers(self) -> None: ...
