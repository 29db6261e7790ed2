"""Each consumer fast path writes exactly what the slow path writes for the same events.

The same Kafka messages are consumed twice, by two groups into two databases: once with the
routes' bulk handlers and the replay short-cut (the fast path), once one event at a time through
the one-event handlers (`fast_paths=False`). The second batch mixes new events, replays of
applied events, an event twice in one batch, a revision, a new version issued for a known
recommendation, and a poison message. The rows of both databases (replicas, follow-ups, history,
inbox) and their outbox events must match, up to the ids and clocks each run generates itself.
Not timed: speed is measured in bench/."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Text, cast, select
from sqlmodel import col

from services.evaluations import handlers
from services.evaluations.config import Settings
from services.evaluations.main import create_app
from services.evaluations.models import FollowUp, FollowUpChange, Inbox, Outbox, RecommendationReplica
from services.notifications import handlers as notification_handlers
from services.notifications.config import Settings as NotificationsSettings
from services.notifications.main import create_app as notifications_app
from services.notifications.models import Delivery, Stakeholder, Subscription
from services.notifications.models import Inbox as NotificationInbox
from shared.contracts.envelope import Event
from shared.contracts.recommendations import RecommendationIssued, RecommendationRevised
from shared.platform.consumer import EventConsumer
from shared.platform.db import with_database
from shared.platform.kafka import ensure_topics, make_consumer, make_producer
from shared.platform.routing import Router
from shared.platform.runtime import Runtime
from tests.factories import LEAD, issued, recommendation
from tests.support import Env, eventually, produce, read_topic

pytestmark = pytest.mark.services


def revised(rec_id: uuid.UUID, version: int = 2) -> Event:
    payload = RecommendationRevised(recommendation=recommendation(rec_id, version, "revised"), actor=LEAD, reason="clearer")
    return Event.of(payload, source="/test", subject=str(rec_id))


async def test_fast_and_slow_paths_write_the_same(env: Env) -> None:
    await ensure_topics(env.kafka, env.prefix)
    topic = env.topic("recommendations")
    first = [issued(due=None if i % 3 == 0 else date(2031, 1, i + 1)) for i in range(12)]
    known = [uuid.UUID(e.subject) for e in first]
    again = issued(title="issued twice in one batch")
    key, _, headers = issued().to_kafka()
    poison = (key, b'{"not": "a recommendation"}', headers)  # an issued event's headers, a body that is not one
    # and a good body under an id that is not a UUID: the replay pre-check's read fails on it, so
    # the whole batch takes the normal path, where decoding dead-letters it
    bad_id = (key, issued().to_kafka()[1], [(k, b"not-a-uuid" if k == "ce_id" else v) for k, v in headers])
    second = [
        *[issued(city=city) for city in ("lyon", "munich", "helsinki", "leipzig") for _ in range(5)],
        first[0],  # replays of applied events
        first[5],
        again,
        again,
        revised(known[1]),
        issued(known[2], version=3, title="a new version issued again"),
        *[issued() for _ in range(10)],
        first[7],
    ]
    spy = BulkSpy(handlers.router)
    runs = {"fast": await _runtime(env, "fast"), "slow": await _runtime(env, "slow")}
    dlq = make_producer(env.kafka, "test-dlq")
    await dlq.start()
    try:
        with spy.installed():
            await produce(env.kafka, topic, [e.to_kafka() for e in first])
            for name, runtime in runs.items():
                await _consume(env, runtime, name, topic, dlq, count=len(first))
            await produce(
                env.kafka, topic, [e.to_kafka() for e in second[:24]] + [poison, bad_id] + [e.to_kafka() for e in second[24:]]
            )
            for name, runtime in runs.items():
                await _consume(env, runtime, name, topic, dlq, count=len(first) + len(second) + 2)
        dead = await read_topic(env.kafka, topic + ".dlq", 4)
        fast, slow = await _rows(runs["fast"]), await _rows(runs["slow"])
    finally:
        await dlq.stop()
        for runtime in runs.values():
            await runtime.stop()

    assert spy.events > 0, "the fast path was taken"
    assert sorted(dict(r.headers)["dlq_group"] for r in dead) == [b"fast", b"fast", b"slow", b"slow"], "both poisons, by both"
    assert len(fast["replicas"]) == len(known) + 20 + 1 + 10
    assert fast["inbox"] == slow["inbox"] and len(fast["inbox"]) == len({e.id for e in first + second})
    for table in ("replicas", "followups", "history", "outbox"):
        assert fast[table] == slow[table], table


async def test_notifications_fast_and_slow_paths_write_the_same_deliveries(env: Env) -> None:
    await ensure_topics(env.kafka, env.prefix)
    topic = env.topic("recommendations")
    first = [issued(city=("leipzig", "lyon")[i % 2]) for i in range(10)]
    key, _, headers = issued().to_kafka()
    poison = (key, b"[1, 2]", headers)
    again = issued(city="leipzig")
    second = [
        *[issued(city=("leipzig", "lyon", "munich")[i % 3]) for i in range(15)],
        first[1],  # replays
        first[4],
        again,
        again,
        revised(uuid.UUID(first[2].subject)),
        *[issued() for _ in range(5)],
    ]
    spy = BulkSpy(notification_handlers.router)
    runs = {"fast": await _notifications(env, "nfast"), "slow": await _notifications(env, "nslow")}
    dlq = make_producer(env.kafka, "test-dlq")
    await dlq.start()
    try:
        with spy.installed():
            await produce(env.kafka, topic, [e.to_kafka() for e in first])
            for name, runtime in runs.items():
                await _consume(env, runtime, name, topic, dlq, len(first), notification_handlers.router)
            await produce(env.kafka, topic, [e.to_kafka() for e in second[:10]] + [poison] + [e.to_kafka() for e in second[10:]])
            for name, runtime in runs.items():
                await _consume(env, runtime, name, topic, dlq, len(first) + len(second) + 1, notification_handlers.router)
        dead = await read_topic(env.kafka, topic + ".dlq", 2)
        fast, slow = await _deliveries(runs["fast"]), await _deliveries(runs["slow"])
    finally:
        await dlq.stop()
        for runtime in runs.values():
            await runtime.stop()
    assert spy.events > 0, "the fast path was taken"
    assert sorted(dict(r.headers)["dlq_group"] for r in dead) == [b"fast", b"slow"], "the poison dead-lettered by both"
    events = {e.id for e in first + second}
    # every event matches the catch-all; Leipzig's also the city filter; digests only recommendation.issued ones
    assert len(fast["deliveries"]) > 2 * len(events)
    assert fast == slow


async def _notifications(env: Env, name: str) -> Runtime:
    settings = env.settings(
        NotificationsSettings, database_url=with_database(env.pg_server, f"{env.prefix}_{name}_notifications"), run_workers=False
    )
    runtime: Runtime = notifications_app(settings).state.runtime
    await runtime.start()
    async with runtime.sessions() as session:
        person = Stakeholder(name="Fast or slow", email="paths@clusnet.example")
        session.add(person)
        for url, filters in (
            ("http://127.0.0.1:9/all", {}),
            ("http://127.0.0.1:9/leipzig", {"cities": ["leipzig"]}),
            ("http://127.0.0.1:9/digest", {"event_types": ["recommendation.issued"], "mode": "digest"}),
        ):
            session.add(Subscription(stakeholder_id=person.id, channel="webhook", url=url, secret="whsec_x", **filters))
        session.add(Subscription(stakeholder_id=person.id, channel="email", cities=["munich"]))
        await session.commit()
    return runtime


async def _deliveries(runtime: Runtime) -> dict[str, Any]:
    async with runtime.sessions() as session:
        urls = {s.id: s.url or "email" for s in (await session.execute(select(Subscription))).scalars()}
        rows = [d.model_dump(mode="json") for d in (await session.execute(select(Delivery))).scalars()]
        # the event's stored copy as PostgreSQL holds it (a `json` column keeps the text it was given)
        texts = (await session.execute(select(cast(col(Delivery.event), Text)))).scalars().all()
        inbox = {i.event_id for i in (await session.execute(select(NotificationInbox))).scalars()}
    for row in rows:
        row["next_attempt_at"] = row["next_attempt_at"] is not None  # a clock of its own run
        row["subscription_id"] = urls[uuid.UUID(row["subscription_id"])]
        del row["id"], row["created_at"], row["stakeholder_id"]
    return {"deliveries": sorted(json.dumps(r, sort_keys=True) for r in rows), "stored": sorted(texts), "inbox": inbox}


class BulkSpy:
    """Counts the `recommendation.issued` events a router's bulk handler is given (the real handler still runs)."""

    def __init__(self, router: Router[Any]) -> None:
        self.router = router
        self.events = 0

    def installed(self) -> Any:
        found = self.router.route(RecommendationIssued.versioned_type())
        assert found is not None and found.bulk is not None
        route, real = found, found.bulk
        spy = self

        class Installed:
            def __enter__(self) -> None:
                async def counting(batch: Any, items: list[Any]) -> None:
                    spy.events += len(items)
                    await real(batch, items)

                route.bulk = counting

            def __exit__(self, *_: object) -> None:
                route.bulk = real

        return Installed()


async def _runtime(env: Env, name: str) -> Runtime:
    settings = env.settings(
        Settings, database_url=with_database(env.pg_server, f"{env.prefix}_{name}_evaluations"), run_workers=False
    )
    runtime: Runtime = create_app(settings).state.runtime
    await runtime.start()
    return runtime


async def _consume(
    env: Env, runtime: Runtime, name: str, topic: str, dlq: Any, count: int, router: Router[Any] = handlers.router
) -> None:
    """Run a consumer of group `name` until it has gone past `count` messages of the topic."""
    assert runtime.inbox_model is not None
    consumer = EventConsumer(
        service=name,
        make_client=lambda: make_consumer(env.kafka, f"{env.prefix}-{name}", [topic]),
        bootstrap=env.kafka,
        dlq_producer=dlq,
        session_factory=runtime.sessions,
        inbox_model=runtime.inbox_model,
        router=router,
        sink=runtime,
        retry_backoff_s=0.01,
        fast_paths=name == "fast",
        precheck_from=1,  # the replay short-cut on this test's small batches too
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await eventually(lambda: _past(consumer, count), what=f"{name} to consume {count} messages")
    finally:
        stop.set()
        await task


async def _past(consumer: EventConsumer[Any], count: int) -> bool:
    return sum(consumer._done.values()) >= count


async def _rows(runtime: Runtime) -> dict[str, Any]:
    """Every row the consumer wrote, with the ids and clocks of this run replaced by what they stand for."""
    async with runtime.sessions() as session:
        replicas = [r.model_dump() for r in (await session.execute(select(RecommendationReplica))).scalars()]
        followups = [f.model_dump() for f in (await session.execute(select(FollowUp))).scalars()]
        history = [h.model_dump() for h in (await session.execute(select(FollowUpChange))).scalars()]
        outbox = [o.model_dump() for o in (await session.execute(select(Outbox))).scalars()]
        inbox = {i.event_id for i in (await session.execute(select(Inbox))).scalars()}
    rec_of = {f["id"]: f["recommendation_id"] for f in followups}
    for f in followups:
        del f["id"], f["created_at"], f["updated_at"]
    for h in history:
        h["followup_id"] = rec_of[h.pop("followup_id")]
        del h["id"], h["at"]
    events = []
    for o in outbox:
        data = json.loads(o["value"])
        followup_id = uuid.UUID(data["followup"].pop("id"))
        del data["followup"]["updated_at"]
        headers = {k: v for k, v in o["headers"].items() if k not in ("ce_id", "ce_time", "traceparent", "ce_subject")}
        assert o["key"] == str(followup_id) == o["headers"]["ce_subject"]
        assert o["headers"]["traceparent"].split("-")[1] != "0" * 32
        events.append(
            (
                o["topic"].rsplit(".", 1)[-1],
                o["event_type"],
                rec_of[followup_id],
                json.dumps(headers, sort_keys=True),
                json.dumps(data, sort_keys=True),
            )
        )
    return {
        "replicas": sorted(replicas, key=lambda r: r["id"]),
        "followups": sorted(followups, key=lambda f: (f["recommendation_id"], f["city"])),
        "history": sorted(history, key=lambda h: (h["followup_id"], h["field"], str(h["new"]))),
        "outbox": sorted(events),
        "inbox": inbox,
    }
