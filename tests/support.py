"""Helpers for tests on real services: isolated settings, in-process apps, tokens, topic reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import FastAPI
from sqlalchemy import text

from shared.platform import auth
from shared.platform.db import SessionFactory, ensure_database, make_engine, make_session_factory, with_database
from shared.platform.migrate import upgrade
from shared.platform.outbox import LISTENER_NAME, OutboxRelay, Pass
from shared.platform.runtime import AUTH_MIGRATIONS
from shared.platform.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)
T = TypeVar("T")


@dataclass
class Env:
    kafka: str
    pg_server: str
    prefix: str

    @property
    def auth_url(self) -> str:
        return with_database(self.pg_server, f"{self.prefix}_auth")

    def settings(self, cls: type[S], **overrides: Any) -> S:
        base = cls()
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": self.kafka,
            "database_url": with_database(self.pg_server, f"{self.prefix}_{base.service_name}"),
            "auth_database_url": self.auth_url,
            "topic_prefix": self.prefix,
            "log_json": False,
            "relay_poll_interval_s": 0.05,
            "consumer_retry_backoff_s": 0.05,
            "webhook_allow_loopback": True,
            # writes refused while a consumer of the same test runs behind: on a loaded 2-core machine a
            # consumer's batch can take longer than the limit; test_admission.py turns it on
            "max_pipeline_delay_ms": 0,
            # the access and fuzz tests send hundreds of tokenless requests from one address on purpose;
            # the throttle has its own test (test_auth_throttle.py), with the default limit
            "auth_failure_limit": "100000/minute",  # the tests' receivers listen on 127.0.0.1 (ignored by other services)
        }
        return cls(**{**values, **overrides})

    def topic(self, stream: str) -> str:
        return f"{self.prefix}.{stream}"

    async def token(self, role: auth.Role | str, city: str | None = None, **kwargs: Any) -> str:
        await ensure_database(self.auth_url)
        await asyncio.to_thread(upgrade, self.auth_url, AUTH_MIGRATIONS)
        engine = make_engine(self.auth_url, pool_size=1)
        try:
            async with make_session_factory(engine)() as session:
                _, text = await auth.create_token(session, auth.Role(role), city, **kwargs)
                return text
        finally:
            await engine.dispose()

    async def client(self, app: FastAPI, role: auth.Role | str, city: str | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {await self.token(role, city)}"},
        )


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    """Run the app's lifespan (migrations, relay, consumers) around the block."""
    async with app.router.lifespan_context(app):
        yield app


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 20, what: str = "condition") -> T:
    """Poll `probe` until it answers something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


async def read_topic(bootstrap: str, topic: str, count: int, timeout: float = 20, settle: float = 1.0) -> list[ConsumerRecord]:
    """Read at least `count` records of `topic` from the start (no consumer group), then keep reading
    for `settle` seconds more, so that a duplicate beyond `count` is seen and can fail a test."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        partitions = await eventually(lambda: partitions_of(bootstrap, topic), timeout, f"topic {topic}")
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
        if len(records) < count:
            raise AssertionError(f"{topic}: expected {count} records, read {len(records)}")
        settle_until = time.monotonic() + settle
        while time.monotonic() < settle_until:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def partitions_of(bootstrap: str, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [p["partition"] for d in described if d["error_code"] == 0 for p in d["partitions"]]


async def produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]) -> None:
    """Send raw (key, value, headers) messages, in order, and wait for each."""
    from shared.platform.kafka import make_producer

    producer = make_producer(bootstrap, "tests")
    await producer.start()
    try:
        for key, value, headers in messages:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def message_count(bootstrap: str, topic: str) -> int:
    """How many messages `topic` holds (0 when it does not exist)."""
    partitions = await partitions_of(bootstrap, topic)
    if not partitions:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return sum(ends.values())
    finally:
        await consumer.stop()


async def group_lag(bootstrap: str, group: str, topics: list[str]) -> int:
    """Messages of `topics` that consumer group `group` has not committed yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        tps = [TopicPartition(t, p) for t in topics for p in await partitions_of(bootstrap, t)]
        ends = await consumer.end_offsets(tps)
        return sum(end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items())
    finally:
        await consumer.stop()
        await admin.close()


async def listening_backend(sessions: SessionFactory) -> int | None:
    """The pid of the outbox listener's connection once it listens (`OutboxListener`), else None."""
    query = text(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = :name"
        " AND (query LIKE 'LISTEN %' OR query = 'SELECT 1')"  # listening: its last query, or its liveness check since
    )
    async with sessions() as session:
        return (await session.execute(query, {"name": LISTENER_NAME})).scalar()


@dataclass
class RelayWatch:
    """What the outbox relays of a test did (`watch_relays`): how often they were woken (PostgreSQL's
    notification; the listener, once each time it starts listening), their passes begun and ended,
    and how many wakes had come when the last pass began."""

    wakes: int = 0
    begun: int = 0
    ended: int = 0
    wakes_before_last_pass: int = 0

    async def settled(self, wakes: int) -> bool:
        """At least `wakes` wakes came, a pass began after the last of them and has ended: the relay
        waits for the next wake (or its poll), and only a wake from now on brings another pass."""
        return self.wakes >= wakes and self.begun == self.ended > 0 and self.wakes_before_last_pass == self.wakes


def watch_relays(monkeypatch: pytest.MonkeyPatch) -> RelayWatch:
    """Count what every `OutboxRelay` does for the rest of the test (the real relays, observed)."""
    watch = RelayWatch()
    wake, publish_pass = OutboxRelay.wake, OutboxRelay.publish_pass

    def counted_wake(relay: OutboxRelay) -> None:
        watch.wakes += 1
        wake(relay)

    async def counted_pass(relay: OutboxRelay) -> Pass:
        watch.begun += 1
        watch.wakes_before_last_pass = watch.wakes
        try:
            return await publish_pass(relay)
        finally:
            watch.ended += 1

    monkeypatch.setattr(OutboxRelay, "wake", counted_wake)
    monkeypatch.setattr(OutboxRelay, "publish_pass", counted_pass)
    return watch
