"""Transactional outbox: state change and event in one transaction; a relay publishes in order.

Per-aggregate order: services lock the aggregate row before writing its event, so a later event
of the same aggregate always has a higher outbox id and commits later. One relay at a time is
active per database (a transaction-level advisory lock); other instances stand by, so a row is
never published twice by two relays. A crash between publish and commit republishes the batches
of that transaction: consumers drop the duplicates by event id (inbox). Sent rows are deleted in
the publishing transaction: Kafka is the log, and the relay's query stays a short primary-key scan.
The relay pipelines (see `publish_batch`): the database and Kafka work at the same time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from aiokafka import AIOKafkaProducer
from sqlalchemy import JSON, BigInteger, LargeBinary, delete, func, select, text
from sqlalchemy.orm import instrumentation
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.contracts.envelope import Event
from shared.platform import metrics, tracing
from shared.platform.db import SessionFactory

log = logging.getLogger(__name__)
RELAY_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtext('clusnet.outbox.relay'))")


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
    """Queue `event` for publication; it becomes visible to the relay when the session commits.
    An event without trace context continues the current one (the request's or consumed event's)."""
    if event.traceparent is None:
        event.traceparent = tracing.current_child()
    key, value, headers = event.to_kafka()
    session.add(
        _new_row(
            outbox_model,
            topic=topic,
            key=key.decode(),
            event_id=event.id,
            event_type=event.type,
            headers={k: v.decode() for k, v in headers},
            value=value,
            created_at=datetime.now(UTC),
        )
    )


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
        self.last_success: datetime | None = None

    def wake(self) -> None:
        """Called after a commit that wrote outbox rows, so they go out without waiting a poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        backoff = self.poll_interval_s
        while not stop.is_set():
            self._wake.clear()  # before publishing: a wake that comes during it is not lost
            try:
                sent = await self.publish_batch()
                backoff = self.poll_interval_s
            except Exception as exc:  # Kafka or the database is away: the rows wait, we retry
                log.warning("outbox relay: publish failed, will retry: %r", exc, exc_info=log.isEnabledFor(logging.DEBUG))
                sent = 0
                backoff = min(backoff * 2, 5.0)
            if sent < self.batch_size * self.max_batches:  # the outbox was drained
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=backoff)
                except TimeoutError:
                    pass

    async def publish_batch(self) -> int:
        """Publish what waits in the outbox, pipelined: batch n+1 is selected and handed to the
        producer while batch n's acks come back and its rows are deleted, so the database and
        Kafka work at the same time. All of it is one transaction holding the relay lock (one
        active relay, so order per key holds: rows are sent in id order by one producer), committed
        once after at most `max_batches` batches so a crash republishes a bounded amount (the
        consumers' inboxes drop the duplicates). Answers the number of rows published."""
        async with self.session_factory() as session, session.begin():
            if not (await session.execute(RELAY_LOCK)).scalar():
                return 0  # another instance is the active relay
            table = self.outbox.__table__  # type: ignore[attr-defined]
            columns = (table.c.id, table.c.topic, table.c.key, table.c.event_type, table.c.headers, table.c.value)
            in_flight: _Sent | None = None
            published: list[Any] = []
            try:
                for _ in range(self.max_batches):
                    after = published[-1].id if published else 0
                    query = select(*columns).where(table.c.id > after).order_by(table.c.id).limit(self.batch_size)
                    rows = (await session.execute(query)).all()
                    sent = await self._send(rows) if rows else None
                    if in_flight is not None:  # batch n's acks arrived while batch n+1 was being sent
                        await in_flight.done(session, table)
                    in_flight = sent
                    published += rows
                    if len(rows) < self.batch_size:
                        break
                if in_flight is not None:
                    await in_flight.done(session, table)
                    in_flight = None
            finally:
                if in_flight is not None:  # failed half way: collect its outcome so no error goes unseen
                    await asyncio.gather(in_flight.acks, return_exceptions=True)
        for event_type, count in Counter(r.event_type for r in published).items():
            metrics.EVENTS_PUBLISHED.labels(self.service, event_type).inc(count)
        if published:
            self.last_success = datetime.now(UTC)
        return len(published)

    async def _send(self, rows: Sequence[Any]) -> _Sent:
        futures = []
        for row in rows:
            headers = [(k, v.encode()) for k, v in row.headers.items()]
            futures.append(await self.producer.send(row.topic, value=row.value, key=row.key.encode(), headers=headers))
        return _Sent([row.id for row in rows], asyncio.gather(*futures))

    async def measure_backlog(self) -> None:
        """Refresh the backlog gauges; runs on its own, since publishing blocks while Kafka is away."""
        async with self.session_factory() as session:
            count, oldest = (await session.execute(select(func.count(), func.min(self.outbox.created_at)))).one()
        metrics.OUTBOX_BACKLOG.labels(self.service).set(count)
        metrics.OUTBOX_OLDEST_AGE.labels(self.service).set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0)


@dataclass
class _Sent:
    """A batch handed to the producer: its row ids and the future of all its acks."""

    ids: list[int]
    acks: asyncio.Future[list[Any]]

    async def done(self, session: AsyncSession, table: Any) -> None:
        """Wait for every ack, then delete the batch's rows (in the relay's transaction)."""
        await self.acks
        await session.execute(delete(table).where(table.c.id.in_(self.ids)))


class EventSink(Protocol):
    """What the service layer needs to emit events: queue in the transaction, wake after commit."""

    def publish(self, session: AsyncSession, event: Event) -> None: ...

    def wake_relay(self) -> None: ...


async def commit(session: AsyncSession, sink: EventSink) -> None:
    """The one commit of a unit of work; the relay is woken only once the events are durable."""
    await session.commit()
    sink.wake_relay()
