"""Kafka clients with safe defaults (aiokafka's own are unsafe for us: acks=1, auto-commit, latest)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.contracts import topics

log = logging.getLogger(__name__)


def make_producer(bootstrap: str, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,  # no duplicates or reordering from the producer's own retries
        linger_ms=2,
        request_timeout_ms=15000,
    )


def make_consumer(bootstrap: str, group_id: str, topic_names: Iterable[str]) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topic_names,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        client_id=group_id,
        enable_auto_commit=False,  # offsets are committed only after the effect is committed
        auto_offset_reset="earliest",  # a new group reads from the start: nothing is missed
        isolation_level="read_committed",
        max_poll_records=2000,  # the consumer loop asks for consumer.MAX_BATCH itself
    )


async def start_with_retry(client: AIOKafkaProducer | AIOKafkaConsumer, what: str, stop: asyncio.Event) -> bool:
    """Start a client, retrying while Kafka is away. False if asked to stop first."""
    delay = 0.5
    while not stop.is_set():
        try:
            await client.start()
            return True
        except Exception as exc:
            log.warning("%s: Kafka not reachable (%s); retrying in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    return False


async def broker_reachable(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """True when any bootstrap address accepts a TCP connection (the broker process is up)."""
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            async with asyncio.timeout(timeout_s):
                _, writer = await asyncio.open_connection(host, int(port))
            writer.close()
            return True
        except (OSError, TimeoutError, ValueError):
            continue
    return False


async def ensure_topics(bootstrap: str, prefix: str, partitions: int = 3) -> None:
    """Create the system's topics and their dead-letter topics if missing."""
    wanted = topics.all_names(prefix)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in wanted if n not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


async def partitions_of(bootstrap: str, topic_names: Iterable[str]) -> dict[str, list[int]]:
    """The partitions of each existing topic (a topic that does not exist is left out)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topic_names))
    finally:
        await admin.close()
    return {d["topic"]: sorted(p["partition"] for p in d["partitions"]) for d in described if d["error_code"] == 0}
