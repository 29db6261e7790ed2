"""How far behind this deployment's consumers run on a service's own stream, in seconds: the
admission signal that sees past the API (`http.AdmissionControl`).

A service's API can accept writes faster than the consumers downstream (another service's
follow-ups, the notifications and their webhooks) can apply them. Then the queue does not form in
the API, where its own signals (requests in progress, its event loop's lag) would see it, but in
Kafka: every accepted write waits longer for its effects. Refusing writes while the pipeline is
behind keeps the accepted ones fast and tells clients when to come back.

Delay, not a count of events: 1,000 events are 0.1 s for a consumer applying 10,000 a second and
seconds for one applying webhooks. Kafka keeps no time per offset that is cheap to ask for, so the
probe remembers when each partition's end offset moved (`EndHistory`): the oldest event a group
has not applied was appended by the first moment the end passed the group's committed offset.

Only groups that are making progress count (`GroupProgress`): a consumer that crashed or whose
broker is away is an outage, not overload. Its events wait safely in Kafka, alerts and readiness
report it, and refusing writes would only add a second outage to the first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.platform import metrics

log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 0.25
HISTORY_S = 60.0  # how far back end offsets are remembered: a delay past it reads as HISTORY_S
STALLED_AFTER_S = 1.5  # a group whose offsets have not moved for this long is not counted as running
FRESH_FOR_S = 2.0  # a measurement older than this is unknown (Kafka away): admission ignores it
GROUPS_REFRESH_S = 2.0  # how often the deployment's groups and their members are listed again


@dataclass
class EndHistory:
    """When one partition's end offset moved, over the last HISTORY_S."""

    samples: deque[tuple[float, int]] = field(default_factory=deque)  # (time, end offset), ascending

    def record(self, at: float, end: int) -> None:
        if not self.samples or end != self.samples[-1][1]:
            self.samples.append((at, end))
        while len(self.samples) > 1 and self.samples[1][0] < at - HISTORY_S:
            self.samples.popleft()  # the oldest sample stays as the floor of what is known

    def appended_by(self, offset: int) -> float | None:
        """The first moment the event at `offset` was known to exist (the end had passed it);
        None when it does not exist yet. Before the history starts: its first sample."""
        for at, end in self.samples:
            if end > offset:
                return at
        return None


@dataclass
class GroupProgress:
    """A consumer group's committed offsets on the stream, and when they last moved. A group
    counts as running only while they move: one whose process is gone (or was renamed, or is
    stuck) keeps its offsets forever, and saying so is the job of alerts, not of admission."""

    committed: dict[TopicPartition, int] | None = None  # None: not read yet
    moved_at: float = float("-inf")  # never seen moving

    def update(self, at: float, committed: dict[TopicPartition, int]) -> None:
        if self.committed is not None and committed != self.committed:
            self.moved_at = at
        self.committed = committed

    def delay_s(self, now: float, ends: dict[TopicPartition, EndHistory]) -> float | None:
        """How long ago the oldest event this group has not applied was appended (0: caught up);
        None when the group is not seen running (its offsets still for STALLED_AFTER_S)."""
        if now - self.moved_at > STALLED_AFTER_S or self.committed is None:
            return None
        committed = self.committed
        oldest = min(
            (at for tp, history in ends.items() if (at := history.appended_by(committed.get(tp, 0))) is not None),
            default=None,
        )
        return 0.0 if oldest is None else now - oldest


def slowest(delays: list[float | None]) -> float:
    """The pipeline is as late as its slowest running group (none running: not late)."""
    return max((d for d in delays if d is not None), default=0.0)


class PipelineDelay:
    """Measures, every PROBE_INTERVAL_S, how far behind the deployment's running consumer groups
    (named `<group_prefix>…`, the default of `ServiceSettings.consumer_group`) are on `topics`.
    Its own Kafka clients are built when it runs, closed when it stops."""

    def __init__(self, service: str, bootstrap: str, topics: list[str], group_prefix: str) -> None:
        self.service = service
        self.bootstrap = bootstrap
        self.topics = topics
        self.group_prefix = group_prefix
        self.ends: dict[TopicPartition, EndHistory] = {}
        self.groups: dict[str, GroupProgress] = {}
        self.partitions: list[TopicPartition] = []
        self.coordinators: dict[str, int] = {}  # the broker that holds each group's offsets
        self._delay_s = 0.0
        self._measured_at = float("-inf")
        self._groups_listed_at = float("-inf")

    def behind_s(self) -> float | None:
        """The latest delay, or None when it is not fresh (Kafka away, probe not started)."""
        return self._delay_s if time.monotonic() - self._measured_at < FRESH_FOR_S else None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=f"{self.service}-pipeline-probe")
            ends = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, client_id=f"{self.service}-pipeline-probe")
            try:
                await admin.start()
                await ends.start()
                while not stop.is_set():
                    await self.measure(admin, ends)
                    await _sleep_unless(stop, PROBE_INTERVAL_S)
            except Exception as exc:  # broker away, topic not there yet: unknown until it is back
                log.debug("%s: pipeline probe failed (%s); retrying", self.service, exc)
                await _sleep_unless(stop, 1.0)
            finally:
                await ends.stop()
                await admin.close()

    async def measure(self, admin: AIOKafkaAdminClient, ends: AIOKafkaConsumer) -> None:
        now = time.monotonic()
        if now - self._groups_listed_at > GROUPS_REFRESH_S:
            await self._list_groups(admin, now)
        partitions = self.partitions
        if not partitions:
            return  # the topic does not exist yet: nothing can be behind on it
        for tp, end in (await ends.end_offsets(partitions)).items():
            self.ends.setdefault(tp, EndHistory()).record(now, end)
        for group, progress in self.groups.items():
            offsets = await admin.list_consumer_group_offsets(group, self.coordinators[group], partitions)
            progress.update(now, {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0})
        self._delay_s = slowest([p.delay_s(now, self.ends) for p in self.groups.values()])
        self._measured_at = now
        metrics.PIPELINE_DELAY.labels(self.service).set(self._delay_s)

    async def _list_groups(self, admin: AIOKafkaAdminClient, now: float) -> None:
        """The topics' partitions and the deployment's groups, again every GROUPS_REFRESH_S
        (partitions are added and groups appear rarely). Whether a group has members is not asked
        (aiokafka 0.14 fails to decode some DescribeGroups answers): whether it moves is enough."""
        described = await admin.describe_topics()  # all topics: naming one may create it on some brokers
        self.partitions = [
            TopicPartition(t["topic"], p["partition"])
            for t in described
            if t["topic"] in self.topics and not t["error_code"]
            for p in t["partitions"]
        ]
        names = sorted(str(g[0]) for g in await admin.list_consumer_groups() if str(g[0]).startswith(self.group_prefix))
        self.groups = {name: self.groups.get(name) or GroupProgress() for name in names}
        self.coordinators = {name: await admin.find_coordinator(name) for name in names}
        self._groups_listed_at = now


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
