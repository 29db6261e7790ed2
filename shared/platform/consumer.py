"""The consumer loop every service uses: inbox, bounded retries, dead letters, commit after effect.

For each fetched batch of a partition: skip, unread, every message whose type (or version) the
service's router does not handle, so that a producer can add event types without poisoning this
consumer (counted as "skipped"); decode the others against the contract their handler declared (a
message that cannot be decoded is dead-lettered at once, never retried); record their ids in the
inbox and apply their handlers, in order, all in one transaction with one batch context (the
partitions of a poll each in their own, at the same time). If anything in the batch fails,
it is rolled back and replayed one event per transaction: a failing handler is retried a bounded
number of times, then dead-lettered with the error in headers, and the partition moves on. The
database being away is not the event's fault: that is waited out, never counted as an attempt.
Offsets are committed only after all of that, so a crash means redelivery, and the inbox turns
a redelivery into a no-op. The loop overlaps two polls: poll n+1 is fetched and decoded while poll
n's transactions run (Python's work and PostgreSQL's at the same time), and is applied, dead
letters included, only once poll n's effects are committed. The offsets follow in the background,
at most one commit in flight and one every COMMIT_EVERY_S (offsets.py), so no poll waits for Kafka
to record the one before.

Fast paths (`fast_paths=True`, the default): before decoding, the batch's `ce_id` headers are
checked against the inbox in one read, and events already applied are counted as duplicates
without being decoded (a batch of replays opens no transaction at all). Replays come in runs
(a new group, a restart's redeliveries), so the read is made for a partition's first batch and
after a batch that had replays, not for a run of new events; a run of consecutive
events whose route has a bulk handler is applied by it at once (routing.py). Replays of a failed
batch, one event per transaction, always take the one-event handlers.

The Kafka client itself is disposable. aiokafka can stop making progress after a broker is killed
and restarted (aiokafka #1154, #847: a poll or commit that never returns, a coordinator or fetcher
that never recovers, or an error that ends the loop). A watchdog therefore judges the client by
what it achieves, not by its private state: when a poll or commit hangs, when one raises, or when
the partitions are behind (or their lag cannot be measured) although the broker is reachable, and
no record has arrived for `stall_after_s`, the client is closed and a new one joins the group.
That is safe because of the rule above: whatever was applied but not committed is redelivered and
dropped by the inbox. While the lag cannot be measured the gauge reads NaN and
`clusnet_consumer_lag_unknown` reads 1 (never a reassuring 0), and readiness says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from shared.contracts import topics
from shared.contracts.envelope import Event, EventDecodeError, Payload
from shared.platform import metrics
from shared.platform.consumer_watch import LAG_PROBE_S, STALL_AFTER_S, ConsumerProgress, ConsumerStalled, measure_lag
from shared.platform.db import SessionFactory, database_unavailable, reading
from shared.platform.inbox import InboxFields, already_applied, first_deliveries, first_delivery
from shared.platform.kafka import broker_reachable, start_with_retry
from shared.platform.offsets import OffsetCommits, Offsets
from shared.platform.outbox import EventSink
from shared.platform.periodic import every
from shared.platform.routing import C, Route, Router, applying

log = logging.getLogger(__name__)
COMMIT_TIMEOUT_S = 15.0  # aiokafka retries a commit forever while the coordinator is away
CLOSE_TIMEOUT_S = 10.0
PRECHECK_FROM = 50  # records in a partition's batch from which the inbox is asked first (replays)
MAX_BATCH = 2000  # records per poll: one inbox read, one transaction and one commit per partition's share
# While the service's work after the consumer has no room: one event per this long, each partition
# in turn, so each moves within pipeline.STALLED_AFTER_S (1.5 s) for up to 15 assigned partitions.
HOLD_S = 0.1
# How long an answer of `room` holds while the consumer spends it: at 50 events a second, polls of
# one or two events each asked the dispatcher's table again (a transaction of three round trips).
ROOM_FRESH_S = 0.25
YIELD_EVERY = 100  # records decoded between two turns of the event loop (see `_prepare`)
DATABASE_WAIT_S = 1.0  # between tries while PostgreSQL is away (a dead letter would lose a good event)


@dataclass
class Decoded(Generic[C]):
    """A message this service handles, decoded against its route's contract."""

    record: ConsumerRecord[Any, Any]
    event: Event
    payload: Payload
    route: Route[C]


@dataclass
class Undecodable:
    """A message of a type this service handles that is not a valid event of it."""

    record: ConsumerRecord[Any, Any]
    reason: str


@dataclass
class Prepared(Generic[C]):
    """A partition's batch, decoded and not yet applied: in record order, the events to apply
    and the messages to dead-letter; apart, the routes of the replays the inbox already has
    (undecoded: only counted)."""

    partition: TopicPartition
    decoded: list[Decoded[C] | Undecodable] = field(default_factory=list)
    replayed: list[Route[C]] = field(default_factory=list)


class EventConsumer(Generic[C]):
    def __init__(
        self,
        *,
        service: str,
        make_client: Callable[[], AIOKafkaConsumer],
        bootstrap: str,
        dlq_producer: AIOKafkaProducer,
        session_factory: SessionFactory,
        inbox_model: type[InboxFields],
        router: Router[C],
        sink: EventSink,
        max_attempts: int = 3,
        retry_backoff_s: float = 0.2,
        stall_after_s: float = STALL_AFTER_S,
        fast_paths: bool = True,
        precheck_from: int = PRECHECK_FROM,
        room: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self.service = service
        self.make_client = make_client
        self.bootstrap = bootstrap
        self.consumer = make_client()
        self.stall_after_s = stall_after_s
        self.dlq_producer = dlq_producer
        self.session_factory = session_factory
        self.inbox = inbox_model
        self.router = router
        self.sink = sink
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s
        self.fast_paths = fast_paths  # the routes' bulk handlers; off only to compare with the slow path
        self.precheck_from = precheck_from
        # How many events the service's own work after this consumer has room for now (the
        # notifications dispatcher's): past it, events wait in Kafka, where admission sees them.
        self.room = None if room is None else IntakeRoom(room)
        self._held_turn = 0
        self.progress = ConsumerProgress()
        self._done: dict[TopicPartition, int] = {}  # next offset to process, per partition
        # Whether a partition's next batch asks the inbox first: replays come in runs, so after a
        # batch with events already applied (or before the first batch since the partition was
        # assigned, when a restart redelivers); a run of new events skips the read.
        self._replaying: dict[TopicPartition, bool] = {}
        self.offsets = OffsetCommits(self._commit)  # the applied offsets, committed behind the loop

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until stopped, replacing the Kafka client whenever the watchdog finds it stuck."""
        # Lag is probed on its own: a stuck handler must not freeze the gauge that reveals it.
        probe: asyncio.Task[None] = asyncio.ensure_future(every(LAG_PROBE_S, self._record_lag, f"{self.service} lag probe")(stop))
        try:
            while not stop.is_set():
                if not await start_with_retry(self.consumer, f"{self.service} consumer", stop):
                    return
                self.progress.last_record = time.monotonic()
                try:
                    await self._consume(stop)
                except Exception as exc:  # whatever ends the loop, the consumer must not end with it
                    known = isinstance(exc, ConsumerStalled | KafkaError | TimeoutError)
                    log.log(
                        logging.WARNING if known else logging.ERROR,
                        "%s: Kafka consumer client replaced: %s: %s",
                        *(self.service, type(exc).__name__, exc),
                        exc_info=not known,
                    )
                    self.progress.client_restarts += 1
                    await self.offsets.drop()
                    await self._close_client()
                    self._done.clear()  # the new client starts from the committed offsets
                    self._replaying.clear()  # and redelivers what was applied but not committed
                    self.consumer = self.make_client()
                    await asyncio.sleep(0.5)
        finally:
            probe.cancel()
            await self.offsets.drop()  # nothing, after a clean stop (see `_consume`)
            await self._close_client()

    async def _consume(self, stop: asyncio.Event) -> None:
        """Poll, decode, apply: poll n+1 is fetched and decoded while poll n's transactions run
        (`applying`), so that Python's work and PostgreSQL's overlap. Poll n+1 is applied only once
        poll n's effects are committed, so order per partition holds, and its dead letters go out
        only then, as they would without the overlap. A clean stop commits the offsets applied."""
        applying: asyncio.Future[None] | None = None  # the previous poll's effects
        try:
            while not stop.is_set():
                self.offsets.raise_failure()  # a commit that failed behind the loop fails the loop
                # (the room is asked while the previous poll may still be applying: one poll over it at most)
                take, only = MAX_BATCH if self.room is None else min(MAX_BATCH, await self.room.left()), []
                if take <= 0:  # full: one event of one partition at a time, in turn (see `_next_held`)
                    await asyncio.sleep(HOLD_S)
                    take, only = 1, self._next_held()
                async with asyncio.timeout(self.stall_after_s):  # a poll that never returns is a stall
                    batches = await self.consumer.getmany(*only, timeout_ms=300, max_records=take)
                now = time.monotonic()
                self.progress.last_poll = now
                self._note_assignment(set(self.consumer.assignment()))
                if batches:
                    self.progress.last_record = now
                    if self.room is not None:
                        self.room.spend(sum(len(records) for records in batches.values()))
                prepared = [(tp, records, await self._prepare(records)) for tp, records in batches.items()]
                if applying is not None:
                    previous, applying = applying, None  # its error, if any, is raised here, once
                    await previous
                if batches:
                    applying = asyncio.ensure_future(self._apply_poll(prepared))
                else:
                    await self._check_stalled(now)
        except BaseException:
            if applying is not None:
                await self._settle(applying)
            raise
        if applying is not None:
            await applying
        await self.offsets.flush()

    def _next_held(self) -> list[TopicPartition]:
        """The partition whose turn it is while the consumer is held: each keeps moving (slowly),
        so the group reads as running and late, not as stopped, to admission upstream
        (shared/platform/pipeline.py ignores a partition whose offset stands still)."""
        assigned = sorted(self.progress.assigned)
        if not assigned:
            return []
        self._held_turn = (self._held_turn + 1) % len(assigned)
        return [assigned[self._held_turn]]

    async def _apply_poll(self, prepared: list[tuple[TopicPartition, list[ConsumerRecord[Any, Any]], Prepared[C]]]) -> None:
        """The poll's partitions at once, each in its own transaction (on its own connection): order
        is a partition's, and one partition's Python work runs while PostgreSQL works on another's.
        Then their offsets go to the commits behind the loop, after all their effects."""
        try:
            # One failing cancels the others; the offsets stay uncommitted, so the whole poll comes
            # again (and the inbox drops what was applied).
            async with asyncio.TaskGroup() as partitions:
                for tp, records, batch in prepared:
                    partitions.create_task(self._apply_partition(tp, records, batch))
        except BaseExceptionGroup as failed:  # raised as itself, as one partition after another would
            raise failed.exceptions[0] from None
        # (a partition moved to another instance meanwhile is theirs to commit: see `_apply_partition`)
        self.offsets.applied({tp: records[-1].offset + 1 for tp, records, _ in prepared if tp in self.progress.assigned})

    async def _apply_partition(self, tp: TopicPartition, records: list[ConsumerRecord[Any, Any]], batch: Prepared[C]) -> None:
        await self._apply_batch(batch)
        if tp in self.progress.assigned:  # else moved to another instance meanwhile: its state is theirs
            self._done[tp] = records[-1].offset + 1
        else:
            self._replaying.pop(tp, None)

    async def _settle(self, applying: asyncio.Future[None]) -> None:
        """Let the poll in flight finish (or fail) while another error or a cancellation ends the
        loop: the error being raised is the one that counts, this one is only logged. A second
        cancellation while waiting cancels the poll in flight too (its effects then roll back,
        and its records are redelivered)."""
        try:
            await applying
        except Exception as exc:
            log.info("%s: the poll in flight failed as the loop ended: %s: %s", self.service, type(exc).__name__, exc)

    async def _check_stalled(self, now: float) -> None:
        """The watchdog (see the module's docstring): raise ConsumerStalled when the progress says
        stalled although the broker accepts connections."""
        if (why := self.progress.stalled(now, self.stall_after_s)) and await broker_reachable(self.bootstrap):
            raise ConsumerStalled(why)

    def _note_assignment(self, assigned: set[TopicPartition]) -> None:
        moved = self.progress.assigned - assigned
        self.offsets.forget(moved)
        for tp in moved:  # moved to another instance: its gauge is theirs now
            self._done.pop(tp, None)
            self._replaying.pop(tp, None)
            with contextlib.suppress(KeyError):  # never measured here
                metrics.CONSUMER_LAG.remove(self.service, tp.topic, str(tp.partition))
        self.progress.assigned = assigned

    async def _close_client(self) -> None:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self.consumer.stop()
        except Exception as exc:  # a broken client may fail to close; it is dropped all the same
            log.info("%s: closing the Kafka consumer client failed: %s", self.service, exc)

    async def process_batch(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        """Decode, then apply one partition's batch (the loop does both steps apart, overlapped)."""
        await self._apply_batch(await self._prepare(records))

    async def _prepare(self, records: list[ConsumerRecord[Any, Any]]) -> Prepared[C]:
        """Route and decode a partition's batch, changing nothing: its dead letters, its counts and
        its effects come with `_apply_batch`, once the previous poll is committed."""
        routed = [(record, route) for record in records if (route := self._route(record)) is not None]
        # Replays come in full polls; live traffic in small ones, where the read would only cost a
        # round trip (the inbox insert in the transaction catches a duplicate all the same).
        precheck = self.fast_paths and len(routed) >= self.precheck_from and self._replaying.get(_partition(records), True)
        ids = [_event_id(record) for record, _ in routed] if precheck else []
        seen = await self._already_applied(ids) if ids else set()
        prepared: Prepared[C] = Prepared(_partition(records))
        for n, (record, route) in enumerate(routed, start=1):
            if seen and ids[n - 1] in seen:
                prepared.replayed.append(route)
            else:
                prepared.decoded.append(self._decode(record, route))
            if n % YIELD_EVERY == 0:  # let the transaction in flight take its replies as they come
                await asyncio.sleep(0)
        return prepared

    async def _apply_batch(self, prepared: Prepared[C]) -> None:
        handled: list[Decoded[C]] = []
        for item in prepared.decoded:
            if isinstance(item, Undecodable):  # in their place in the batch, before its transaction
                await self._dead_letter(item.record, item.reason, attempts=1)
            else:
                handled.append(item)
        if prepared.replayed:  # short-circuited: no decoding, no transaction, no batch context
            self._count_duplicates(prepared.replayed)
        self._replaying[prepared.partition] = bool(prepared.replayed)
        if not handled:
            return
        applied: list[bool] = []
        try:
            async with self.session_factory() as session, session.begin():
                new = await first_deliveries(session, self.inbox, [d.event for d in handled])
                batch = await self.router.begin(session, self.sink, [d.event for d in handled if d.event.id in new])
                fresh = []
                for item in handled:
                    applied.append(item.event.id in new)
                    if applied[-1]:
                        new.discard(item.event.id)  # the same event twice in one batch: applied once
                        fresh.append(item)
                for run in _runs(fresh):
                    if (bulk := run[0].route.fast_path) is not None and self.fast_paths:
                        await bulk(batch, [(item.payload, item.event) for item in run])
                    else:
                        for item in run:
                            await self._apply(batch, item)
        except Exception as exc:
            log.info("%s: batch of %d failed (%s); replaying it one event at a time", self.service, len(handled), exc)
            for item in handled:
                await self.process_one(item)
            return
        self.progress.applied += sum(applied)
        if not all(applied):  # replays the pre-check did not look for (or came meanwhile): look next time
            self._replaying[prepared.partition] = True
        outcomes = Counter(
            (item.event.type, "applied" if first else "duplicate") for item, first in zip(handled, applied, strict=True)
        )
        for (event_type, outcome), count in outcomes.items():
            metrics.EVENTS_CONSUMED.labels(self.service, event_type, outcome).inc(count)

    async def _already_applied(self, ids: list[str | None]) -> set[str]:
        """Which of the batch's event ids (the `ce_id` headers, undecoded) the inbox already has,
        in one read. Safe outside the effect's transaction: the inbox only grows, and an event
        applied elsewhere meanwhile is still caught by the insert in that transaction. When the
        database cannot answer, or an id is not a UUID (a poison message's header), nothing is
        assumed seen: the normal path waits an outage out and dead-letters the poison."""
        known = [event_id for event_id in ids if event_id is not None]
        if not known:
            return set()
        try:
            async with reading(self.session_factory) as session:
                return await already_applied(session, self.inbox, known)
        except Exception as exc:
            log.info("%s: inbox pre-check failed (%s); the batch takes the normal path", self.service, type(exc).__name__)
            return set()

    def _count_duplicates(self, routes: list[Route[C]]) -> None:
        for route, count in Counter(routes).items():  # a route is one event type and version
            metrics.EVENTS_CONSUMED.labels(self.service, route.payload.versioned_type(), "duplicate").inc(count)

    def _route(self, record: ConsumerRecord[Any, Any]) -> Route[C] | None:
        """The record's route; None (counted as skipped) when this service does not handle its type."""
        event_type = Event.type_of(record.headers)
        route = self.router.route(event_type)
        if route is None:  # not ours (another service's type, or a version we do not know): skip unread
            self.progress.skipped += 1
            metrics.EVENTS_CONSUMED.labels(self.service, event_type or "none", "skipped").inc()
        return route

    def _decode(self, record: ConsumerRecord[Any, Any], route: Route[C]) -> Decoded[C] | Undecodable:
        """The message decoded against its route's contract, or why it cannot be (dead-lettered
        when its batch is applied, never retried)."""
        try:
            event = Event.from_kafka(record.headers, record.value)
            return Decoded(record, event, event.decode(route.payload), route)
        except EventDecodeError as exc:
            return Undecodable(record, f"undecodable: {exc}")

    async def _apply(self, batch: C, item: Decoded[C]) -> None:
        with applying(item.event):
            await item.route.handler(batch, item.payload, item.event)  # what it emits continues the trace

    async def process_one(self, item: Decoded[C]) -> None:
        """One event in its own transaction, with bounded retries and then the dead-letter topic."""
        event = item.event
        attempt = 0
        while True:
            try:
                async with self.session_factory() as session, session.begin():
                    first = await first_delivery(session, self.inbox, event)
                    if first:
                        await self._apply(await self.router.begin(session, self.sink, [event]), item)
                self.progress.applied += first
                metrics.EVENTS_CONSUMED.labels(self.service, event.type, "applied" if first else "duplicate").inc()
                return
            except Exception as exc:
                if database_unavailable(exc):  # no fault of the event's: wait, and do not count it as an attempt
                    log.warning("%s: database unavailable (%s); event %s waits", self.service, type(exc).__name__, event.id)
                    await asyncio.sleep(DATABASE_WAIT_S)
                    continue
                attempt += 1
                log.warning(
                    "%s: event %s (%s) failed, attempt %d/%d: %s",
                    *(self.service, event.id, event.type, attempt, self.max_attempts, exc),
                    extra={"event_id": str(event.id)},
                )
                if attempt == self.max_attempts:
                    await self._dead_letter(item.record, f"{type(exc).__name__}: {exc}", attempts=attempt)
                    return
                await asyncio.sleep(self.retry_backoff_s * 2 ** (attempt - 1))

    async def _dead_letter(self, record: ConsumerRecord[Any, Any], reason: str, attempts: int) -> None:
        headers = [
            *list(record.headers),
            ("dlq_error", reason[:2000].encode()),
            ("dlq_group", self.service.encode()),
            ("dlq_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode()),
            ("dlq_attempts", str(attempts).encode()),
        ]
        while True:  # the partition must not move on before the dead letter is safely written
            try:
                await self.dlq_producer.send_and_wait(
                    topics.dead_letter(record.topic), value=record.value, key=record.key, headers=headers
                )
                break
            except KafkaError as exc:
                log.warning("%s: dead-letter publish failed, retrying: %s", self.service, exc)
                await asyncio.sleep(1)
        self.progress.dead_lettered += 1
        metrics.EVENTS_CONSUMED.labels(self.service, "unknown", "dead_lettered").inc()
        log.error("%s: dead-lettered %s[%d]@%d: %s", self.service, record.topic, record.partition, record.offset, reason)

    async def _commit(self, offsets: Offsets) -> None:
        try:
            async with asyncio.timeout(COMMIT_TIMEOUT_S):
                await self.consumer.commit(offsets)
        except CommitFailedError as exc:  # partition moved to another instance: it redelivers, the inbox drops
            log.info("%s: commit refused after rebalance: %s", self.service, exc)

    async def _record_lag(self) -> None:
        await measure_lag(self.service, self.bootstrap, self.consumer, self.progress, self._done)


def _event_id(record: ConsumerRecord[Any, Any]) -> str | None:
    """The `ce_id` header as text, without decoding the message; None when absent (such a message
    takes the normal path, where decoding dead-letters it). Compared as text with the inbox's ids,
    which PostgreSQL prints in the canonical form the services write; any other spelling only
    misses the pre-check, and the inbox insert catches the duplicate."""
    for key, value in record.headers:
        if key == "ce_id":
            return value.decode(errors="replace")
    return None


class IntakeRoom:
    """The room the work after a consumer has (`ask`), spent as the consumer takes events and asked
    again once spent or ROOM_FRESH_S old. The consumer never takes more than one answer allowed;
    an answer of none is asked again before every poll."""

    def __init__(self, ask: Callable[[], Awaitable[int]]) -> None:
        self.ask = ask
        self._left = 0
        self._asked_at = float("-inf")

    async def left(self) -> int:
        now = time.monotonic()
        if self._left <= 0 or now - self._asked_at > ROOM_FRESH_S:
            self._left, self._asked_at = await self.ask(), now
        return self._left

    def spend(self, events: int) -> None:
        self._left -= events


def _partition(records: list[ConsumerRecord[Any, Any]]) -> TopicPartition:
    """The partition of a batch (the records of one fetch, all of one partition)."""
    return TopicPartition(records[0].topic, records[0].partition)


def _runs(items: list[Decoded[C]]) -> list[list[Decoded[C]]]:
    """Consecutive events of the same route, or of routes sharing one bulk handler, in order (a
    bulk handler takes a run at once)."""
    runs: list[list[Decoded[C]]] = []
    for item in items:
        if runs and (runs[-1][0].route.fast_path or runs[-1][0].route) is (item.route.fast_path or item.route):
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs
