"""Checks the invariants from the outside once the load has stopped and the system has drained:
it reads the services' databases, the Kafka topics and the receiver's log, never the services'
memory.

- every issued recommendation has exactly one follow-up per target city, with the latest text
  and version (and closed when withdrawn);
- every city update is in the follow-up history exactly once;
- every (subscription, notifiable event) has exactly one delivery, delivered, and the receiver
  got every webhook-id at least once (repeats are allowed by Standard Webhooks: counted);
- no dead letters but the harness's poison messages (one per consuming group each);
- outboxes empty; consumer lag zero.
An uncertain operation (error or no answer) must have happened at most once.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.notifications.rules import NOTIFIABLE
from shared.contracts import topics
from tests.faults.load import Ledger
from tests.faults.system import ChaosSystem
from tests.support import group_lag, partitions_of

NOTIFIABLE_TYPES = {p.versioned_type() for p in NOTIFIABLE}
CONSUMERS = {"evaluations": [topics.RECOMMENDATIONS], "notifications": [topics.RECOMMENDATIONS, topics.EVALUATIONS]}


@dataclass
class Finding:
    what: str
    at: float | None  # when the operation concerned was made (to attribute it to a fault window)


@dataclass
class Audit:
    lost: list[Finding] = field(default_factory=list)
    twice: list[Finding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # dead letters, outbox, lag: not tied to one operation
    webhook_repeats: int = 0
    webhooks: int = 0
    deliveries: int = 0
    events: int = 0
    drained_in_s: float = 0.0

    @property
    def clean(self) -> bool:
        return not (self.lost or self.twice or self.problems)


async def drain(system: ChaosSystem, timeout_s: float = 180.0) -> float:
    """Wait until outboxes are empty, every group's lag is zero and no delivery is pending."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if not await _pending(system):
            return time.monotonic() - started
        await asyncio.sleep(1)
    raise AssertionError(f"not drained after {timeout_s}s: {await _pending(system)}")


async def _pending(system: ChaosSystem) -> list[str]:
    waiting = []
    for service in ("recommendations", "evaluations", "notifications"):
        if n := await _scalar(system, service, "SELECT count(*) FROM outbox"):
            waiting.append(f"{service} outbox {n}")
    if n := await _scalar(system, "notifications", "SELECT count(*) FROM delivery WHERE status = 'pending'"):
        waiting.append(f"{n} deliveries pending")
    for service, streams in CONSUMERS.items():
        names = [topics.name(system.prefix, s) for s in streams]
        if lag := await group_lag(system.kafka.bootstrap, f"{system.prefix}-{service}", names):
            waiting.append(f"{service} lag {lag}")
    return waiting


async def _scalar(system: ChaosSystem, service: str, query: str) -> int:
    conn = await asyncpg.connect(system.database(service))
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


async def _rows(system: ChaosSystem, service: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(system.database(service))
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


async def read_all(bootstrap: str, topic: str) -> list[tuple[dict[str, bytes], bytes]]:
    """Every message of `topic` (headers, value), read from the start without a group."""
    partitions = await partitions_of(bootstrap, topic)
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        messages: list[tuple[dict[str, bytes], bytes]] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                messages.extend((dict(r.headers), r.value) for r in batch)
        return messages
    finally:
        await consumer.stop()


async def audit(system: ChaosSystem, ledger: Ledger) -> Audit:
    result = Audit(drained_in_s=await drain(system))
    await _recommendations(system, ledger, result)
    await _updates(system, ledger, result)
    await _notifications(system, ledger, result)
    await _dead_letters(system, ledger, result)
    for service in ("recommendations", "evaluations", "notifications"):
        if n := await _scalar(system, service, "SELECT count(*) FROM outbox"):
            result.problems.append(f"{service}: {n} outbox rows left")
    return result


async def _recommendations(system: ChaosSystem, ledger: Ledger, result: Audit) -> None:
    followups = Counter(
        (str(r["recommendation_id"]), r["city"])
        for r in await _rows(system, "evaluations", "SELECT recommendation_id, city FROM followup")
    )
    closed = {
        str(r["recommendation_id"])
        for r in await _rows(system, "evaluations", "SELECT recommendation_id FROM followup WHERE closed")
    }
    replicas = {
        str(r["id"]): r
        for r in await _rows(system, "evaluations", "SELECT id, version, text, status FROM recommendation_replica")
    }
    for rec in ledger.recs.values():
        n = followups.get((rec.id, rec.city), 0)
        if n > 1:
            result.twice.append(Finding(f"recommendation {rec.id}: {n} follow-ups for {rec.city}", rec.issued_at))
        if not rec.certain:
            continue
        if n == 0:
            result.lost.append(Finding(f"recommendation {rec.id}: no follow-up for {rec.city}", rec.issued_at))
            continue
        replica = replicas.get(rec.id)
        if replica is None or replica["version"] != rec.version or replica["text"] != rec.text:
            seen = (replica["version"], replica["text"]) if replica else None
            result.lost.append(Finding(f"recommendation {rec.id}: v{rec.version} {rec.text!r} expected, {seen}", rec.issued_at))
        if rec.withdrawn and rec.id not in closed:
            result.lost.append(Finding(f"recommendation {rec.id}: withdrawn but its follow-up is open", rec.issued_at))


async def _updates(system: ChaosSystem, ledger: Ledger, result: Audit) -> None:
    history = Counter(
        r["new"] for r in await _rows(system, "evaluations", "SELECT new FROM followup_history WHERE field = 'notes'")
    )
    for update in ledger.updates:
        n = history.get(update.tag, 0)
        if n > 1:
            result.twice.append(Finding(f"city update {update.tag!r}: {n} times in the history", update.at))
        elif n == 0 and update.certain:
            result.lost.append(Finding(f"city update {update.tag!r}: not in the history", update.at))


async def _notifications(system: ChaosSystem, ledger: Ledger, result: Audit) -> None:
    notifiable: dict[str, str] = {}  # event id: type
    for stream in (topics.RECOMMENDATIONS, topics.EVALUATIONS):
        for headers, _ in await read_all(system.kafka.bootstrap, topics.name(system.prefix, stream)):
            if (kind := headers.get("ce_type", b"").decode()) in NOTIFIABLE_TYPES:
                notifiable[headers["ce_id"].decode()] = kind
    for poison in ledger.poison:
        notifiable.pop(poison, None)
    result.events = len(notifiable)
    rows = await _rows(system, "notifications", "SELECT id, subscription_id, event_id, status FROM delivery")
    result.deliveries = len(rows)
    per_pair = Counter((str(r["subscription_id"]), str(r["event_id"])) for r in rows)
    for sub in ledger.subscriptions:
        for event_id, kind in notifiable.items():
            n = per_pair.get((sub, event_id), 0)
            if n == 0:
                result.lost.append(Finding(f"event {event_id} ({kind}): no delivery for subscription {sub}", None))
            elif n > 1:
                result.twice.append(Finding(f"event {event_id} ({kind}): {n} deliveries for subscription {sub}", None))
    received = Counter(system.receiver.received)
    result.webhooks = sum(received.values())
    result.webhook_repeats = sum(n - 1 for n in received.values() if n > 1)
    for r in rows:
        if r["status"] != "delivered":
            result.lost.append(Finding(f"delivery {r['id']}: {r['status']}", None))
        elif received.get(f"msg_{uuid.UUID(str(r['id'])).hex}", 0) == 0:
            result.lost.append(Finding(f"delivery {r['id']}: delivered, but the receiver never got it", None))


async def _dead_letters(system: ChaosSystem, ledger: Ledger, result: Audit) -> None:
    dead: Counter[str] = Counter()
    for stream in (topics.RECOMMENDATIONS, topics.EVALUATIONS):
        for headers, _ in await read_all(system.kafka.bootstrap, topics.dead_letter(topics.name(system.prefix, stream))):
            dead[headers.get("ce_id", b"?").decode()] += 1
            if headers.get("ce_id", b"").decode() not in ledger.poison:
                error = headers.get("dlq_error", b"").decode()
                group = headers.get("dlq_group", b"").decode()
                result.problems.append(f"dead letter of a good event: {json.dumps(error)[:200]} (group {group})")
    for poison in ledger.poison:
        if dead.get(poison, 0) != len(CONSUMERS):
            result.problems.append(f"poison {poison}: dead-lettered {dead.get(poison, 0)} times, {len(CONSUMERS)} expected")
