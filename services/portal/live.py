"""Live updates: the portal reads the follow-up events from Kafka and hands each to the pages
open at that moment (server-sent events, shown by the htmx SSE extension). No polling of the APIs.

Each portal process reads without a consumer group, from the end of the topic: it commits no
offset and misses nothing that matters (a page opened later reads the current state over HTTP),
and several portal processes each see every event. Only the `ce_type` header is read, and only
the types of `shared.contracts.followups.EVENTS` pass: the portal duplicates no rule and needs
no payload to know that a page should refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer

from shared.contracts import followups, topics
from shared.contracts.envelope import Event
from shared.platform.kafka import start_with_retry

log = logging.getLogger(__name__)
FOLLOWUP_TYPES = frozenset(model.versioned_type() for model in followups.EVENTS)
QUEUE_SIZE = 100  # a page that cannot keep up loses old notices, never blocks the reader


@dataclass
class Notice:
    """What an open page learns: which follow-up changed and how (it fetches the rest itself)."""

    event_type: str
    followup_id: str


@dataclass
class LiveFeed:
    """Fans the follow-up events out to every open page's queue."""

    listeners: set[asyncio.Queue[Notice]] = field(default_factory=set)

    def publish(self, notice: Notice) -> None:
        for queue in list(self.listeners):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(notice)

    @contextlib.asynccontextmanager
    async def listen(self) -> AsyncIterator[asyncio.Queue[Notice]]:
        queue: asyncio.Queue[Notice] = asyncio.Queue(QUEUE_SIZE)
        self.listeners.add(queue)
        try:
            yield queue
        finally:
            self.listeners.discard(queue)


async def read_followup_events(bootstrap: str, prefix: str, feed: LiveFeed, stop: asyncio.Event) -> None:
    """Read the evaluations stream from its end until `stop`, publishing each follow-up event."""
    consumer = AIOKafkaConsumer(
        topics.name(prefix, topics.EVALUATIONS),
        bootstrap_servers=bootstrap,
        group_id=None,  # no group: every portal process reads everything, nothing to commit
        auto_offset_reset="latest",  # only what happens while the portal runs matters to open pages
        isolation_level="read_committed",
        metadata_max_age_ms=5_000,  # the topic may be created after the portal starts
    )
    if not await start_with_retry(consumer, "portal live feed", stop):
        return
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    event_type = Event.type_of(record.headers)
                    if event_type in FOLLOWUP_TYPES:
                        key = record.key.decode() if isinstance(record.key, bytes) else ""
                        feed.publish(Notice(event_type=event_type, followup_id=key))
    except asyncio.CancelledError:
        raise
    except Exception:  # the pages still work without live updates; say so in the log
        log.exception("portal live feed stopped")
    finally:
        await consumer.stop()
