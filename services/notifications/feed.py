"""The HTTP event feed, `GET /events`: the domain events for integrations that cannot reach Kafka.

Read from Kafka itself, never from a copy table: each request reads the domain topics with a
group-less consumer from a position the client holds. A position (a cursor) is the next offset of
every partition, written `recommendations:0:12,evaluations:2:40`: it does not depend on this
process, so a client resumes after our restart, or after its own, exactly where it stopped.
Within a partition events come in offset order, and every event of one aggregate is in one
partition (the key), so the order per aggregate holds; deduplicate by `id` as with Kafka.

Two forms: server-sent events (each event's `id:` is the position after it; `Last-Event-ID` or
`?after=` resumes) and a JSON page up to the end of the topics as they were when it was asked.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.notifications import rules
from shared.contracts import topics
from shared.contracts.envelope import Event, EventDecodeError
from shared.platform.auth import Principal
from shared.platform.errors import Forbidden, Invalid
from shared.platform.kafka import partitions_of

KEEPALIVE_S = 15.0
RECHECK_S = 5.0  # how often a stream asks whether its reader may still read (AUTH_CACHE_S's default)


def scope(principal: Principal, types: list[str], city: str | None, seminar: str | None) -> FeedFilter:
    """What this caller may read: a city official only their own city's events; others all."""
    own = principal.city_scope()
    if own is not None and city not in (None, own):
        raise Forbidden(f"a city official of {own} may not read the events of {city}")
    unknown = [t for t in types if t not in rules.EVENT_NAMES and t not in rules.NAME_OF_TYPE]  # notification.* is not fed
    if unknown:
        raise Invalid(f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(rules.EVENT_NAMES)}")
    private = principal.sees_private_evidence()
    return FeedFilter(types=frozenset(types), city=own or city, seminar=seminar, private_evidence=private)


@dataclass(frozen=True)
class FeedFilter:
    """Which events a client asked for (and may see): empty means all."""

    types: frozenset[str] = frozenset()  # `recommendation.issued` or `eu.clusnet.recommendation.issued.v1`
    city: str | None = None
    seminar: str | None = None
    private_evidence: bool = False  # whether the reader may see private evidence (`rules.is_private`)

    def admits(self, event: Event) -> bool:
        if self.types and event.name not in self.types and event.type not in self.types:
            return False
        summary = rules.summarize(event)
        if summary.private and not self.private_evidence:
            return False
        in_city = self.city is None or self.city in summary.cities  # a link concerns each of its cities
        return in_city and (self.seminar is None or summary.seminar_id == self.seminar)


@dataclass
class Cursor:
    """The next offset to read of each (stream, partition); a partition not named starts at 0."""

    offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None, streams: Iterable[str]) -> Cursor:
        cursor = cls()
        known = set(streams)
        for part in filter(None, (text or "").split(",")):
            stream, _, rest = part.partition(":")
            partition, _, offset = rest.partition(":")
            if stream not in known or not partition.isdigit() or not offset.isdigit():
                raise Invalid(f"not a feed position: {part!r} (expected stream:partition:offset, e.g. recommendations:0:12)")
            cursor.offsets[(stream, int(partition))] = int(offset)
        return cursor

    def __str__(self) -> str:
        return ",".join(f"{s}:{p}:{o}" for (s, p), o in sorted(self.offsets.items()))


def cloudevent(event: Event, position: str) -> dict[str, Any]:
    """The event in CloudEvents' JSON format, with the feed position after it."""
    body: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(event.id),
        "type": event.type,
        "source": event.source,
        "subject": event.subject,
        "time": event.time.isoformat(),
        "datacontenttype": "application/json",
        "data": event.data,
        "position": position,
    }
    if event.traceparent:
        body["traceparent"] = event.traceparent
    return body


class FeedReader:
    """One client's read of the feed: a group-less consumer positioned at its cursor."""

    def __init__(self, bootstrap: str, prefix: str, streams: list[str], cursor: Cursor, wanted: FeedFilter) -> None:
        self.bootstrap = bootstrap
        self.streams = {topics.name(prefix, s): s for s in streams}
        self.cursor = cursor
        self.wanted = wanted
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, isolation_level="read_committed"
        )
        self.ends: dict[TopicPartition, int] = {}

    async def __aenter__(self) -> FeedReader:
        partitions = await partitions_of(self.bootstrap, self.streams)
        await self.consumer.start()
        try:
            assigned = [TopicPartition(topic, p) for topic, numbers in sorted(partitions.items()) for p in numbers]
            self.consumer.assign(assigned)
            for tp in assigned:
                self.consumer.seek(tp, self.cursor.offsets.get((self.streams[tp.topic], tp.partition), 0))
            self.ends = await self.consumer.end_offsets(assigned) if assigned else {}
        except BaseException:
            await self.consumer.stop()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.consumer.stop()

    async def seek_to_time(self, when: datetime) -> None:
        """Start each partition at its first event at or after `when` (its end if there is none)."""
        assigned = list(self.ends)
        found = await self.consumer.offsets_for_times({tp: int(when.timestamp() * 1000) for tp in assigned})
        for tp in assigned:
            offset = found[tp].offset if found.get(tp) is not None else self.ends[tp]
            self.consumer.seek(tp, offset)
            self.cursor.offsets[(self.streams[tp.topic], tp.partition)] = offset

    def at_end(self) -> bool:
        """True when every partition has been read up to where it ended when this read began."""
        return all(self.cursor.offsets.get((self.streams[tp.topic], tp.partition), 0) >= end for tp, end in self.ends.items())

    async def next_events(self, timeout_ms: int, max_records: int = 500) -> list[dict[str, Any]]:
        """The admitted events of the next fetch, each with the position after it (may be empty)."""
        fetched = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        records: list[ConsumerRecord[Any, Any]] = sorted(
            (r for batch in fetched.values() for r in batch), key=lambda r: (r.timestamp, r.topic, r.partition, r.offset)
        )
        out = []
        for record in records:
            self.cursor.offsets[(self.streams[record.topic], record.partition)] = record.offset + 1
            event = _decode(record)
            if event is not None and self.wanted.admits(event):
                out.append(cloudevent(event, str(self.cursor)))
        return out

    async def page(self, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` events, stopping at the end of the topics as they were when the read began."""
        items: list[dict[str, Any]] = []
        empty_fetches = 0
        while len(items) < limit and not self.at_end() and empty_fetches < 3:
            before = str(self.cursor)
            items += await self.next_events(timeout_ms=500, max_records=limit - len(items))
            empty_fetches = empty_fetches + 1 if str(self.cursor) == before else 0
        return items

    async def stream(self, still_allowed: Callable[[], Awaitable[bool]] | None = None) -> AsyncIterator[str]:
        """Server-sent events, until the client goes away, with keep-alive comments; and until the
        reader may no longer read (`still_allowed`, asked every RECHECK_S: a token revoked or
        expired ends the stream, as it would refuse the next request)."""
        yield f": clusnet event feed; position {self.cursor}\n\n"
        idle, checked = 0.0, time.monotonic()
        while True:
            if still_allowed is not None and time.monotonic() - checked >= RECHECK_S:
                if not await still_allowed():
                    yield ": the token is no longer valid; the stream ends\n\n"
                    return
                checked = time.monotonic()
            events = await self.next_events(timeout_ms=1000)
            for item in events:
                yield f"id: {item['position']}\ndata: {json.dumps(item, separators=(',', ':'))}\n\n"
            idle = 0.0 if events else idle + 1.0
            if idle >= KEEPALIVE_S:
                idle = 0.0
                yield ": keep-alive\n\n"


def _decode(record: ConsumerRecord[Any, Any]) -> Event | None:
    """The envelope only: the feed passes on every well-formed event, even of types it has no model for."""
    try:
        return Event.from_kafka(record.headers, record.value)
    except EventDecodeError:
        return None
