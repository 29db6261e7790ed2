"""The one place a service process is wired: databases, migrations, Kafka clients, workers.

Each service's main.py builds a `Runtime` in its FastAPI lifespan (or `clusnet worker`) and
hands it the service's outbox/inbox tables, consumers and extra workers. The HTTP API needs
only the database: when Kafka is away, requests still succeed and events wait in the outbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.contracts.envelope import Event
from shared.platform import health, migrate
from shared.platform.auth import TokenVerifier
from shared.platform.consumer import MAX_BATCH, EventConsumer
from shared.platform.db import (
    SessionFactory,
    database_unavailable,
    driver_dsn,
    ensure_database,
    make_engine,
    make_session_factory,
)
from shared.platform.http import ReadinessCheck
from shared.platform.inbox import InboxFields
from shared.platform.kafka import ensure_topics, make_consumer, make_producer, start_with_retry
from shared.platform.outbox import OutboxFields, OutboxListener, OutboxRelay, add_event, add_events, row_values
from shared.platform.periodic import every
from shared.platform.pipeline import PipelineDelay
from shared.platform.routing import Router
from shared.platform.settings import ServiceSettings
from shared.platform.throttle import AuthFailureThrottle

log = logging.getLogger(__name__)
AUTH_MIGRATIONS = Path(__file__).with_name("auth_migrations")
BACKLOG_PROBE_S = 1.0
STARTUP_DB_WAIT_S = 120.0
Worker = Callable[[asyncio.Event], Awaitable[None]]


async def prepare_database(url: str, scripts: Path) -> None:
    """Create and migrate the database, waiting (up to STARTUP_DB_WAIT_S) while PostgreSQL is
    away: a process started during an outage starts when it ends, rather than crash-looping."""
    deadline = asyncio.get_running_loop().time() + STARTUP_DB_WAIT_S
    while True:
        try:
            await ensure_database(url)
            await asyncio.to_thread(migrate.upgrade, url, scripts)
            return
        except Exception as exc:
            if not database_unavailable(exc) or asyncio.get_running_loop().time() > deadline:
                raise
            log.warning("database unavailable at start (%s); retrying", type(exc).__name__)
            await asyncio.sleep(1)


@dataclass
class Runtime:
    settings: ServiceSettings
    outbox_model: type[OutboxFields]
    migrations: Path
    inbox_model: type[InboxFields] | None = None
    stream: str | None = None  # what this service publishes (its events' topic is <prefix>.<stream>)
    # Made by `start`: the databases' engines and sessions, the token checks, the relay's producer
    engine: AsyncEngine = field(init=False)
    sessions: SessionFactory = field(init=False)
    auth_engine: AsyncEngine = field(init=False)
    auth_sessions: SessionFactory = field(init=False)
    tokens: TokenVerifier = field(init=False)
    auth_failures: AuthFailureThrottle = field(init=False)
    producer: AIOKafkaProducer = field(init=False)  # with workers only (`run_workers`)
    relay: OutboxRelay | None = field(init=False, default=None)
    consumers: list[EventConsumer[Any]] = field(init=False, default_factory=list)
    checks: list[ReadinessCheck] = field(init=False, default_factory=list)
    _stop: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(init=False, default_factory=list)
    _producer_ready: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _wakers: list[Callable[[], None]] = field(init=False, default_factory=list)
    # How far behind the deployment's consumers run on this service's events (admission of writes)
    pipeline: PipelineDelay | None = field(init=False, default=None)
    _room: Callable[[], Awaitable[int]] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        s = self.settings
        if self.stream is not None and s.max_pipeline_delay_ms:
            group_prefix = f"{s.topic_prefix}-"  # the deployment's groups: see ServiceSettings.consumer_group
            self.pipeline = PipelineDelay(s.service_name, s.kafka_bootstrap_servers, [s.topic(self.stream)], group_prefix)

    async def start(
        self, event_router: Router[Any] | None = None, workers: Callable[[Runtime], Sequence[Worker]] = lambda _: ()
    ) -> None:
        s = self.settings
        for url, scripts in ((s.database_url, self.migrations), (s.auth_database_url, AUTH_MIGRATIONS)):
            await prepare_database(url, scripts)
        self.engine = make_engine(s.database_url, pool_size=s.database_pool_size)
        self.sessions = make_session_factory(self.engine)
        self.auth_engine = make_engine(s.auth_database_url, pool_size=5)
        self.auth_sessions = make_session_factory(self.auth_engine)
        self.tokens = TokenVerifier(self.auth_sessions, s.auth_cache_s)
        self.auth_failures = AuthFailureThrottle(s.auth_failure_limit, s.rate_limit_storage_uri)
        self.checks = [health.database_check(self.engine), health.kafka_check(s.kafka_bootstrap_servers)]
        if self.pipeline is not None:
            self._spawn(self.pipeline.run(self._stop))
        if not s.run_workers:
            return
        self.producer = make_producer(s.kafka_bootstrap_servers, f"{s.service_name}-relay")
        self.relay = OutboxRelay(
            service=s.service_name,
            session_factory=self.sessions,
            producer=self.producer,
            outbox_model=self.outbox_model,
            batch_size=s.relay_batch_size,
            poll_interval_s=s.relay_poll_interval_s,
        )
        self._spawn(self._run_relay())
        self._spawn(OutboxListener(driver_dsn(s.database_url), self.relay.wake).run(self._stop))
        self._spawn(every(BACKLOG_PROBE_S, self.relay.measure_backlog, "outbox backlog probe")(self._stop))
        if event_router is not None:
            consumer = self._consumer(event_router)
            self.consumers.append(consumer)
            self.checks.append(health.consumer_check(consumer.progress))  # unready until it polls
            self._spawn(self._run_consumer(consumer))
        for worker in workers(self):
            self._spawn(worker(self._stop))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.add_done_callback(self._report_crash)
        self._tasks.append(task)

    @staticmethod
    def _report_crash(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception():
            log.error("a background worker stopped with an error", exc_info=task.exception())

    async def _run_relay(self) -> None:
        assert self.relay is not None
        if not await start_with_retry(self.producer, "outbox relay", self._stop):
            return
        await self._ensure_topics()
        self._producer_ready.set()
        try:
            await self.relay.run(self._stop)
        finally:
            await self.producer.stop()

    def _consumer(self, router: Router[Any]) -> EventConsumer[Any]:
        """A consumer of the topics the router's payload classes are published on."""
        assert self.inbox_model is not None
        s = self.settings
        topics = [s.topic(stream) for stream in router.streams]
        return EventConsumer(
            service=s.service_name,
            make_client=lambda: make_consumer(s.kafka_bootstrap_servers, s.consumer_group, topics),
            bootstrap=s.kafka_bootstrap_servers,
            dlq_producer=self.producer,
            session_factory=self.sessions,
            inbox_model=self.inbox_model,
            router=router,
            sink=self,
            max_attempts=s.consumer_max_attempts,
            retry_backoff_s=s.consumer_retry_backoff_s,
            stall_after_s=s.consumer_stall_after_s,
            room=self._intake_room,
        )

    async def _run_consumer(self, consumer: EventConsumer) -> None:
        await self._producer_ready.wait()  # topics exist and the dead-letter producer runs
        await consumer.run(self._stop)

    async def _ensure_topics(self) -> None:
        while not self._stop.is_set():
            try:
                s = self.settings
                await ensure_topics(s.kafka_bootstrap_servers, s.topic_prefix, s.topic_partitions)
                return
            except Exception as exc:
                log.warning("creating topics failed, retrying: %s", exc)
                await asyncio.sleep(1)

    def publish(self, session: AsyncSession, event: Event) -> None:
        """Queue an event in the caller's transaction (it goes out after the commit)."""
        assert self.stream is not None, "a service without a stream publishes nothing"
        add_event(session, self.outbox_model, self.settings.topic(self.stream), event)

    async def publish_many(self, session: AsyncSession, events: Sequence[Event]) -> None:
        """Write many events now, with one insert (a consumer's bulk path; see `add_events`)."""
        assert self.stream is not None, "a service without a stream publishes nothing"
        await add_events(session, self.outbox_model, self.settings.topic(self.stream), events)

    def outbox_row(self, event: Event) -> dict[str, Any]:
        """The outbox row `publish` would write for `event`, for a use case that inserts it in a
        statement of its own (the issue's one-statement write, services/recommendations)."""
        assert self.stream is not None, "a service without a stream publishes nothing"
        return row_values(self.settings.topic(self.stream), event)

    def limit_intake(self, room: Callable[[], Awaitable[int]]) -> None:
        """Let this process's consumer take no more events than `room` says there is room for
        (e.g. the deliveries a dispatcher can send soon): the rest wait in Kafka, where the
        services upstream see them and refuse writes (shared/platform/pipeline.py)."""
        self._room = room

    async def _intake_room(self) -> int:
        return await self._room() if self._room is not None else MAX_BATCH

    def on_wake(self, waker: Callable[[], None]) -> None:
        """Register a worker of this process that works rows others commit (a dispatcher, a job
        runner): `wake_workers` wakes it. Only a unit of work that made rows for it asks, once it
        has committed (`db.after_commit`): woken after every commit, the dispatcher made a pass
        that found nothing for each event that matched no subscription, and the job runner a claim
        for each issued recommendation. The relay needs none of it: PostgreSQL wakes it."""
        self._wakers.append(waker)

    def wake_workers(self) -> None:
        """EventSink: wake this process's registered workers (see `on_wake`)."""
        for waker in self._wakers:
            waker()

    async def stop(self) -> None:
        self._stop.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=10)
            for task in pending:
                task.cancel()
        await self.engine.dispose()
        await self.auth_engine.dispose()
